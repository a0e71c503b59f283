import type { Autoscale, UsageTarget } from './autoscale.js';
import { formatDuration } from './format.js';
import type {
  Deploy,
  DeviceRequest,
  EngineOptions,
  Healthcheck,
  HealConfig,
  Host,
  Mount,
  Resources,
  Service,
  Stack,
  UpdateConfig,
} from './types.js';

/** What `heal config` prints in place of a value that came from an env_file. */
export const REDACTED = '**redacted**';

/**
 * The normalized stack in compose's own long form, as `docker compose config` prints it:
 * every default filled in, every short syntax expanded, env_file values redacted, and nothing
 * that digests a secret (`x-heal-config-hash` is the public hash: see spec/hash.ts).
 * This shape is the `heal config --json` contract.
 */
export function toCompose(stack: Stack): Record<string, unknown> {
  return {
    name: stack.name,
    // Autoscaling is not what a container is made from: here only, never in a container's spec label.
    services: mapValues(stack.services, (service) => ({
      ...serviceToCompose(service),
      ...autoscaleToCompose(service.deploy.autoscale),
    })),
    networks: mapValues(stack.networks, (network) => ({
      name: network.engineName,
      external: network.external,
      driver: network.driver,
      driver_opts: network.driverOpts,
      internal: network.internal,
      attachable: network.attachable,
      enable_ipv6: network.enableIpv6,
      ipam: network.ipam,
      labels: network.labels,
    })),
    volumes: mapValues(stack.volumes, (volume) => ({
      name: volume.engineName,
      external: volume.external,
      driver: volume.driver,
      driver_opts: volume.driverOpts,
      labels: volume.labels,
    })),
    // A secret file's digest would confirm a guessed content: only where it is read from.
    secrets: mapValues(stack.secrets, ({ file }) => ({ file })),
    configs: mapValues(stack.configs, ({ file, digest }) => ({ file, digest })),
    'x-heal': healToCompose(stack.heal),
  };
}

/** One service in compose's long form, as `heal config` prints it. */
export function serviceToCompose(service: Service): Record<string, unknown> {
  const secret = new Set(service.secretEnvironment);
  return {
    image: service.image,
    container_name: service.containerName,
    command: service.command,
    entrypoint: service.entrypoint,
    environment: mapValues(service.environment, (value, key) => (secret.has(key) ? REDACTED : value)),
    ports: service.ports.map((port) => ({
      target: port.target,
      published: port.published,
      host_ip: port.hostIp,
      protocol: port.protocol,
      mode: port.mode,
      ...(port.appProtocol ? { app_protocol: port.appProtocol } : {}),
      ...(port.proxyProtocol ? { 'x-proxy-protocol': port.proxyProtocol } : {}),
    })),
    expose: service.expose,
    volumes: service.volumes.map(mountToCompose),
    networks: Object.fromEntries(
      service.networks.map((network) => [
        network.name,
        {
          aliases: network.aliases,
          ipv4_address: network.ipv4Address,
          ipv6_address: network.ipv6Address,
          mac_address: network.macAddress,
        },
      ]),
    ),
    labels: service.labels,
    healthcheck: service.healthcheck && healthcheckToCompose(service.healthcheck),
    restart: service.restart,
    stop_signal: service.stopSignal,
    stop_grace_period: formatDuration(service.stopGracePeriod),
    user: service.user,
    working_dir: service.workingDir,
    hostname: service.hostname,
    domainname: service.domainname,
    extra_hosts: service.extraHosts,
    dns: service.dns,
    dns_search: service.dnsSearch,
    cap_add: service.capAdd,
    cap_drop: service.capDrop,
    security_opt: service.securityOpt,
    devices: service.devices,
    group_add: service.groupAdd,
    privileged: service.privileged,
    read_only: service.readOnly,
    init: service.init,
    tty: service.tty,
    stdin_open: service.stdinOpen,
    shm_size: service.shmSize,
    pid: service.pid,
    ipc: service.ipc,
    network_mode: service.networkMode,
    platform: service.platform,
    runtime: service.runtime,
    ulimits: service.ulimits,
    sysctls: service.sysctls,
    tmpfs: service.tmpfs,
    logging: service.logging,
    depends_on: service.dependsOn,
    secrets: service.secrets,
    configs: service.configs,
    pull_policy: service.pullPolicy,
    ...engineToCompose(service.engine),
    deploy: deployToCompose(service.deploy),
    'x-heal-config-hash': service.configHash,
  };
}

function engineToCompose(engine: EngineOptions): Record<string, unknown> {
  return {
    cpu_shares: engine.cpuShares,
    cpu_period: engine.cpuPeriod,
    cpu_quota: engine.cpuQuota,
    cpu_rt_period: engine.cpuRtPeriod,
    cpu_rt_runtime: engine.cpuRtRuntime,
    cpuset: engine.cpuset,
    mem_swappiness: engine.memSwappiness,
    memswap_limit: engine.memswapLimit,
    uts: engine.uts,
    cgroup_parent: engine.cgroupParent,
    device_cgroup_rules: engine.deviceCgroupRules,
    mac_address: engine.macAddress,
    storage_opt: engine.storageOpt,
    annotations: engine.annotations,
    oom_kill_disable: engine.oomKillDisable,
    oom_score_adj: engine.oomScoreAdj,
    userns_mode: engine.usernsMode,
    cgroup: engine.cgroup,
    dns_opt: engine.dnsOpt,
    blkio_config: engine.blkio && {
      weight: engine.blkio.weight,
      weight_device: engine.blkio.weightDevice,
      device_read_bps: engine.blkio.deviceReadBps,
      device_write_bps: engine.blkio.deviceWriteBps,
      device_read_iops: engine.blkio.deviceReadIops,
      device_write_iops: engine.blkio.deviceWriteIops,
    },
  };
}

function mountToCompose(mount: Mount): Record<string, unknown> | string {
  switch (mount.type) {
    case 'volume':
      // compose's long syntax has no relabel for a volume: only the short one says it.
      if (mount.selinux !== null) return shortVolume(mount);
      return {
        type: 'volume',
        source: mount.source,
        target: mount.target,
        read_only: mount.readOnly,
        volume: { nocopy: mount.nocopy, subpath: mount.subpath },
      };
    case 'bind':
      return {
        type: 'bind',
        source: mount.source,
        target: mount.target,
        read_only: mount.readOnly,
        bind: {
          propagation: mount.propagation,
          create_host_path: mount.createHostPath,
          selinux: mount.selinux,
        },
      };
    case 'tmpfs':
      return { type: 'tmpfs', target: mount.target, tmpfs: { size: mount.size, mode: mount.mode } };
  }
}

/** `name:/target:z,ro,nocopy` */
function shortVolume(mount: Extract<Mount, { type: 'volume' }>): string {
  const options = [mount.selinux, mount.readOnly ? 'ro' : null, mount.nocopy ? 'nocopy' : null];
  const source = mount.source === null ? [] : [mount.source];
  return [...source, mount.target, options.filter((option) => option !== null).join(',')].join(':');
}

function healthcheckToCompose(check: Healthcheck): Record<string, unknown> {
  const duration = (ms: number | null): string | null => (ms === null ? null : formatDuration(ms));
  return {
    test: check.test,
    interval: duration(check.interval),
    timeout: duration(check.timeout),
    retries: check.retries,
    start_period: duration(check.startPeriod),
    start_interval: duration(check.startInterval),
  };
}

function deployToCompose(deploy: Deploy): Record<string, unknown> {
  return {
    mode: deploy.mode,
    replicas: deploy.mode === 'global' ? null : deploy.replicas,
    placement: {
      constraints: deploy.placement.constraints.map((constraint) => constraint.text),
      preferences: deploy.placement.preferences,
      max_replicas_per_node: deploy.placement.maxReplicasPerNode,
    },
    restart_policy: {
      condition: deploy.restartPolicy.condition,
      delay: formatDuration(deploy.restartPolicy.delay),
      max_attempts: deploy.restartPolicy.maxAttempts,
      window: formatDuration(deploy.restartPolicy.window),
    },
    update_config: updateToCompose(deploy.updateConfig),
    rollback_config: updateToCompose(deploy.rollbackConfig),
    resources: resourcesToCompose(deploy.resources),
    labels: deploy.labels,
  };
}

/** Device requests are compose's `reservations.devices`, printed only when there are some. */
function resourcesToCompose(resources: Resources): Record<string, unknown> {
  const { limits, reservations, devices } = resources;
  if (devices.length === 0) return { limits, reservations };
  return { limits, reservations: { ...reservations, devices: devices.map(deviceRequestToCompose) } };
}

function deviceRequestToCompose(request: DeviceRequest): Record<string, unknown> {
  return {
    capabilities: request.capabilities,
    ...(request.count === null ? {} : { count: request.count === -1 ? 'all' : request.count }),
    device_ids: request.deviceIds,
    driver: request.driver,
    options: request.options,
  };
}

function updateToCompose(update: UpdateConfig): Record<string, unknown> {
  return {
    parallelism: update.parallelism,
    delay: formatDuration(update.delay),
    failure_action: update.failureAction,
    monitor: formatDuration(update.monitor),
    max_failure_ratio: update.maxFailureRatio,
    order: update.order,
  };
}

function healToCompose(heal: HealConfig): Record<string, unknown> {
  return {
    ssh: {
      user: heal.ssh.user,
      port: heal.ssh.port,
      identity_file: heal.ssh.identityFile,
      known_hosts: heal.ssh.knownHosts,
    },
    hosts: mapValues(heal.hosts, hostToCompose),
    watch: {
      interval: formatDuration(heal.watch.interval),
      host_down_after: formatDuration(heal.watch.hostDownAfter),
      rebalance: heal.watch.rebalance,
    },
    timeouts: {
      read: formatDuration(heal.timeouts.readMs),
      write: formatDuration(heal.timeouts.writeMs),
      pull: formatDuration(heal.timeouts.pullMs),
    },
    lock: { hosts: heal.lock.hosts },
    mesh: {
      image: heal.mesh.image,
      drain_timeout: formatDuration(heal.mesh.drainTimeout),
      check: {
        interval: formatDuration(heal.mesh.check.interval),
        fall: heal.mesh.check.fall,
        rise: heal.mesh.check.rise,
      },
      ...(heal.mesh.socketGid === null ? {} : { socket_gid: heal.mesh.socketGid }),
    },
  };
}

function hostToCompose(host: Host): Record<string, unknown> {
  const address = host.internalAddress ? { address: host.internalAddress } : {};
  if (host.kind === 'docker') return { docker: host.url, labels: host.labels, role: host.role, ...address };
  const user = host.user === null ? '' : `${host.user}@`;
  const ssh = host.address.includes(':') && host.port !== null ? `[${host.address}]` : host.address;
  return {
    ssh: `${user}${ssh}${host.port === null ? '' : `:${host.port}`}`,
    ...address,
    identity_file: host.identityFile,
    socket: host.socket,
    labels: host.labels,
    role: host.role,
  };
}

function mapValues<T, U>(
  record: Readonly<Record<string, T>>,
  map: (value: T, key: string) => U,
): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value, key)]));
}

/** A percent as written (its amount follows from the resources again), else cores or bytes. */
function usageToCompose(target: UsageTarget | null): number | string | null {
  if (target === null) return null;
  return target.percent === null ? target.amount : `${target.percent.value}%`;
}

function autoscaleToCompose(autoscale: Autoscale | undefined): Record<string, unknown> {
  if (!autoscale) return {};
  return {
    'x-heal-autoscale': {
      min: autoscale.min,
      max: autoscale.max,
      response_time: autoscale.responseTime === null ? null : formatDuration(autoscale.responseTime),
      requests_per_second: autoscale.requestsPerSecond,
      cpu: usageToCompose(autoscale.cpu),
      memory: usageToCompose(autoscale.memory),
      interval: formatDuration(autoscale.interval),
      tolerance: autoscale.tolerance,
      scale_up: autoscale.scaleUp,
      scale_down: { window: formatDuration(autoscale.scaleDownWindow) },
      cooldown: formatDuration(autoscale.cooldown),
    },
  };
}
