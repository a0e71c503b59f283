import type {
  BlkioConfig,
  BlkioRate,
  DeviceRequest,
  FileMount,
  Mount,
  PortMapping,
  Service,
  ServiceNetwork,
  Stack,
} from '../spec/types.js';
import { replicaBindings } from '../mesh/bindings.js';
import { meshServiceOf } from '../mesh/stack-mesh.js';
import { sendsStartInterval } from './engine-api.js';
import { LABEL } from './labels.js';

/**
 * One container heal is about to create: the slot it fills and what it records about itself.
 * `slot` is 1..replicas, or 0 for a global service's one replica on a host.
 */
export type SlotIdentity = {
  readonly stack: Stack;
  readonly service: Service;
  readonly slot: number;
  readonly host: string;
  /** The container's name (a query parameter of create, see createQuery). */
  readonly name: string;
  readonly generation: string;
  readonly revision: string | null;
};

/**
 * The subset of the Engine API's `POST /containers/create` body (API 1.41, dockerd 20.10) that heal
 * uses, with Docker's own field names. A key is present only when the spec sets it, so a body
 * reads as the spec does; booleans appear only when true (each defaults to false in the engine).
 * A few fields need a newer API (engine-api.ts): the planner places a service that sets one only
 * on engines that read it.
 */
export type ContainerCreateBody = {
  readonly Image: string;
  readonly Cmd?: readonly string[];
  readonly Entrypoint?: readonly string[];
  /** `KEY=VALUE`, sorted by key. Holds env_file values: never log a body. */
  readonly Env?: readonly string[];
  readonly Labels: Readonly<Record<string, string>>;
  /** `8080/tcp` → `{}` */
  readonly ExposedPorts?: Readonly<Record<string, EmptyObject>>;
  readonly Hostname?: string;
  readonly Domainname?: string;
  readonly User?: string;
  readonly WorkingDir?: string;
  readonly Tty?: true;
  readonly OpenStdin?: true;
  /** `heal run`'s one-off: stdin closes when heal's does. */
  readonly StdinOnce?: true;
  readonly StopSignal?: string;
  /** The service-level mac_address: the first network's endpoint. */
  readonly MacAddress?: string;
  /** Seconds. */
  readonly StopTimeout: number;
  readonly Healthcheck?: HealthConfig;
  readonly HostConfig: HostConfig;
  readonly NetworkingConfig?: NetworkingConfig;
};

export type EmptyObject = Readonly<Record<never, never>>;

/** Durations in nanoseconds. No Test: the image's own, with these timings. */
export type HealthConfig = {
  readonly Test?: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly Retries?: number;
  /** API 1.44. */
  readonly StartInterval?: number;
};

export type HostConfig = {
  /** `source:target[:options]`: only for bind mounts whose missing source the engine must create. */
  readonly Binds?: readonly string[];
  readonly Mounts?: readonly MountConfig[];
  /** Container path → mount options (`size=64m`), from the service's `tmpfs:`. */
  readonly Tmpfs?: Readonly<Record<string, string>>;
  readonly PortBindings?: Readonly<Record<string, readonly PortBinding[]>>;
  readonly NetworkMode?: string;
  readonly RestartPolicy: RestartPolicyConfig;
  readonly Privileged?: true;
  readonly ReadonlyRootfs?: true;
  readonly Init?: true;
  readonly CapAdd?: readonly string[];
  readonly CapDrop?: readonly string[];
  readonly SecurityOpt?: readonly string[];
  readonly Devices?: readonly DeviceMapping[];
  readonly GroupAdd?: readonly string[];
  readonly Dns?: readonly string[];
  readonly DnsSearch?: readonly string[];
  readonly ExtraHosts?: readonly string[];
  readonly ShmSize?: number;
  readonly PidMode?: string;
  readonly IpcMode?: string;
  readonly Runtime?: string;
  readonly Ulimits?: readonly UlimitConfig[];
  readonly Sysctls?: Readonly<Record<string, string>>;
  readonly LogConfig?: LogConfig;
  readonly NanoCpus?: number;
  readonly Memory?: number;
  readonly MemoryReservation?: number;
  readonly PidsLimit?: number;
  readonly CpuShares?: number;
  readonly CpuPeriod?: number;
  readonly CpuQuota?: number;
  readonly CpuRealtimePeriod?: number;
  readonly CpuRealtimeRuntime?: number;
  readonly CpusetCpus?: string;
  readonly MemorySwappiness?: number;
  readonly MemorySwap?: number;
  readonly UTSMode?: string;
  readonly CgroupParent?: string;
  readonly DeviceCgroupRules?: readonly string[];
  readonly DeviceRequests?: readonly DeviceRequestConfig[];
  readonly StorageOpt?: Readonly<Record<string, string>>;
  /** API 1.43. */
  readonly Annotations?: Readonly<Record<string, string>>;
  readonly OomKillDisable?: boolean;
  readonly OomScoreAdj?: number;
  readonly UsernsMode?: string;
  readonly CgroupnsMode?: string;
  readonly DnsOptions?: readonly string[];
  readonly BlkioWeight?: number;
  readonly BlkioWeightDevice?: readonly { readonly Path: string; readonly Weight: number }[];
  readonly BlkioDeviceReadBps?: readonly BlkioRateConfig[];
  readonly BlkioDeviceWriteBps?: readonly BlkioRateConfig[];
  readonly BlkioDeviceReadIOps?: readonly BlkioRateConfig[];
  readonly BlkioDeviceWriteIOps?: readonly BlkioRateConfig[];
};

export type BlkioRateConfig = { readonly Path: string; readonly Rate: number };

/** `Count` -1: every device the driver has. */
export type DeviceRequestConfig = {
  readonly Driver: string;
  readonly Count: number;
  readonly DeviceIDs: readonly string[];
  readonly Capabilities: readonly (readonly string[])[];
  readonly Options: Readonly<Record<string, string>>;
};

export type MountConfig =
  | {
      readonly Type: 'volume';
      /** The engine-side volume name; absent for an anonymous volume. */
      readonly Source?: string;
      readonly Target: string;
      readonly ReadOnly?: true;
      /** Subpath: API 1.45. */
      readonly VolumeOptions?: { readonly NoCopy?: true; readonly Subpath?: string };
    }
  | {
      readonly Type: 'bind';
      readonly Source: string;
      readonly Target: string;
      readonly ReadOnly?: true;
      readonly BindOptions?: { readonly Propagation: string };
    }
  | {
      readonly Type: 'tmpfs';
      readonly Target: string;
      readonly TmpfsOptions?: { readonly SizeBytes?: number; readonly Mode?: number };
    };

/** HostPort `""`: an ephemeral port the engine picks. */
export type PortBinding = { readonly HostIp: string; readonly HostPort: string };

export type RestartPolicyConfig = {
  readonly Name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  readonly MaximumRetryCount?: number;
};

export type DeviceMapping = {
  readonly PathOnHost: string;
  readonly PathInContainer: string;
  readonly CgroupPermissions: string;
};

export type UlimitConfig = { readonly Name: string; readonly Soft: number; readonly Hard: number };

/** Type `""`: the engine's default driver. */
export type LogConfig = { readonly Type: string; readonly Config: Readonly<Record<string, string>> };

export type NetworkingConfig = { readonly EndpointsConfig: Readonly<Record<string, EndpointSettings>> };

export type EndpointSettings = {
  readonly Aliases: readonly string[];
  readonly IPAMConfig?: { readonly IPv4Address?: string; readonly IPv6Address?: string };
  /** API 1.44. */
  readonly MacAddress?: string;
};

/** The query parameters of `POST /containers/create` that go with the body. */
export type ContainerCreateQuery = {
  readonly name: string;
  /** `os[/arch[/variant]]`: API 1.41 picks the image of that platform (and fails when it is not there). */
  readonly platform?: string;
};

/** A network to connect the created container to, before it starts (`POST /networks/{id}/connect`). */
export type ExtraNetwork = {
  /** The engine-side network name. */
  readonly name: string;
  readonly aliases: readonly string[];
  readonly ipv4Address: string | null;
  readonly ipv6Address: string | null;
  readonly macAddress: string | null;
};

/** A secret or config file the executor copies into the created container, before it starts. */
export type FileMountSpec = {
  readonly kind: 'secret' | 'config';
  /** The key in Stack.secrets / Stack.configs. */
  readonly source: string;
  /** Absolute path in the container. */
  readonly target: string;
  /** Absolute path of the content on the machine running heal. */
  readonly file: string;
  readonly uid: string | null;
  readonly gid: string | null;
  readonly mode: number | null;
  /** The content itself, when the plan makes it (a mesh proxy's haproxy.cfg): no secret, printed. */
  readonly content?: string;
};

const NS_PER_MS = 1_000_000;
const NANO_CPUS_PER_CPU = 1_000_000_000;

/**
 * The exact create body for one slot: same input, deep-equal output with the same key order (maps
 * are sorted by key). What it leaves to the executor: the container name and platform
 * (createQuery), every network after the first (extraNetworks: dockerd 20.10 takes only one at
 * create), and secret and config files (fileMounts: their content is read at apply time).
 */
export function containerConfig(id: SlotIdentity): ContainerCreateBody {
  const { service } = id;
  return present({
    Image: service.image,
    Cmd: service.command ?? undefined,
    Entrypoint: service.entrypoint ?? undefined,
    Env: nonEmpty(environment(service)),
    Labels: labels(id),
    ExposedPorts: nonEmptyRecord(exposedPorts(service)),
    Hostname: service.hostname ?? undefined,
    Domainname: service.domainname ?? undefined,
    User: service.user ?? undefined,
    WorkingDir: service.workingDir ?? undefined,
    Tty: service.tty || undefined,
    OpenStdin: service.stdinOpen || undefined,
    StopSignal: service.stopSignal ?? undefined,
    MacAddress: service.engine.macAddress ?? undefined,
    StopTimeout: Math.ceil(service.stopGracePeriod / 1000),
    Healthcheck: healthcheck(service),
    HostConfig: hostConfig(id),
    NetworkingConfig: networkingConfig(id),
  });
}

/** The name, and the platform when the spec pins one. */
export function createQuery(id: SlotIdentity): ContainerCreateQuery {
  return present({ name: id.name, platform: id.service.platform ?? undefined });
}

/** The service's networks after the first, in spec order, to connect after create. */
export function extraNetworks(id: SlotIdentity): ExtraNetwork[] {
  return id.service.networks.slice(1).map((network) => ({
    name: networkName(id.stack, network),
    aliases: aliases(id, network),
    ipv4Address: network.ipv4Address,
    ipv6Address: network.ipv6Address,
    macAddress: network.macAddress,
  }));
}

/** The service's secrets, then its configs, in spec order. */
export function fileMounts(id: SlotIdentity): FileMountSpec[] {
  const { stack, service } = id;
  const spec =
    (kind: FileMountSpec['kind'], objects: Stack['secrets']) =>
    (mount: FileMount): FileMountSpec => ({
      kind,
      source: mount.source,
      target: mount.target,
      file: declared(objects, mount.source, kind).file,
      uid: mount.uid,
      gid: mount.gid,
      mode: mount.mode,
    });
  return [
    ...service.secrets.map(spec('secret', stack.secrets)),
    ...service.configs.map(spec('config', stack.configs)),
  ];
}

/**
 * The service's own labels, then compose's (so `docker compose ls/ps` and other tooling see the
 * stack), then heal's: heal's and compose's win over a user label of the same key, since
 * ownership must not be forgeable from the spec.
 */
function labels(id: SlotIdentity): Record<string, string> {
  const { stack, service, slot } = id;
  return sortedRecord({
    ...service.labels,
    'com.docker.compose.project': stack.name,
    'com.docker.compose.service': service.name,
    'com.docker.compose.container-number': String(slot),
    [LABEL.stack]: stack.name,
    [LABEL.service]: service.name,
    [LABEL.slot]: String(slot),
    [LABEL.configHash]: service.configHash,
    [LABEL.generation]: id.generation,
    ...(id.revision === null ? {} : { [LABEL.revision]: id.revision }),
  });
}

/** A null value is a variable the spec passes through unset: the container does not get it. */
function environment(service: Service): string[] {
  return Object.entries(service.environment)
    .flatMap(([key, value]) => (value === null ? [] : [[key, value] as const]))
    .sort(([a], [b]) => compare(a, b))
    .map(([key, value]) => `${key}=${value}`);
}

function portKey(port: PortMapping): string {
  return `${port.target}/${port.protocol}`;
}

function exposedPorts(service: Service): Record<string, EmptyObject> {
  const keys = sortPorts(new Set([...service.ports.map(portKey), ...service.expose]));
  return Object.fromEntries(keys.map((key) => [key, {}]));
}

/**
 * `mode: host` ports publish on the host heal placed the slot on (the planner keeps two replicas
 * of a service off one host port). A mesh service's ingress ports belong to its proxies: each of
 * its replicas publishes the listeners' targets on ephemeral ports of the host's internal address.
 */
function portBindings(id: SlotIdentity): Record<string, PortBinding[]> {
  const { service } = id;
  const mesh = meshServiceOf(id.stack, service.name);
  const bindings = new Map<string, PortBinding[]>();
  if (mesh !== null) {
    const address = id.stack.heal.hosts[id.host]?.internalAddress ?? '';
    for (const [key, value] of Object.entries(replicaBindings(mesh.listeners, address)))
      bindings.set(key, [...value]);
  }
  for (const port of service.ports) {
    if (mesh !== null && port.mode === 'ingress') continue;
    const binding = {
      HostIp: port.hostIp ?? '',
      HostPort: port.published === null ? '' : String(port.published),
    };
    bindings.set(portKey(port), [...(bindings.get(portKey(port)) ?? []), binding]);
  }
  return Object.fromEntries(sortPorts(bindings.keys()).map((key) => [key, bindings.get(key) ?? []]));
}

/** `80/tcp` before `443/tcp` before `443/udp`: numerically, then by protocol. */
function sortPorts(keys: Iterable<string>): string[] {
  const split = (key: string): [number, string] => {
    const [port = '', protocol = ''] = key.split('/');
    return [Number(port), protocol];
  };
  return [...keys].sort((a, b) => {
    const [portA, protocolA] = split(a);
    const [portB, protocolB] = split(b);
    return portA - portB || compare(protocolA, protocolB);
  });
}

/**
 * Durations in nanoseconds. An empty test keeps the image's own, and a timing left out (null, or 0
 * on the wire) keeps the image's too; `NONE` turns the image's check off and takes nothing else.
 * start_interval is sent when it differs from the engine's own 5 s: it needs API 1.44, and the
 * planner places such a service only on engines that read it (engine-api.ts).
 */
function healthcheck(service: Service): HealthConfig | undefined {
  const check = service.healthcheck;
  if (check === null) return undefined;
  if (check.test[0] === 'NONE') return { Test: ['NONE'] };
  return present({
    Test: nonEmpty(check.test),
    Interval: nanoseconds(check.interval),
    Timeout: nanoseconds(check.timeout),
    StartPeriod: nanoseconds(check.startPeriod),
    Retries: check.retries ?? undefined,
    StartInterval: sendsStartInterval(service) ? nanoseconds(check.startInterval) : undefined,
  });
}

function nanoseconds(ms: number | null): number | undefined {
  return ms === null ? undefined : Math.round(ms * NS_PER_MS);
}

function hostConfig(id: SlotIdentity): HostConfig {
  const { stack, service } = id;
  const { limits, reservations } = service.deploy.resources;
  const binds = service.volumes.flatMap((mount) => {
    const bind = bindEntry(stack, mount);
    return bind === null ? [] : [bind];
  });
  const mounts = service.volumes.flatMap((mount) =>
    bindEntry(stack, mount) === null ? [mountConfig(stack, mount)] : [],
  );
  const { engine } = service;
  return present({
    Binds: nonEmpty(binds),
    Mounts: nonEmpty(mounts),
    Tmpfs: nonEmptyRecord(tmpfs(service)),
    PortBindings: nonEmptyRecord(portBindings(id)),
    NetworkMode: networkMode(id),
    RestartPolicy: restartPolicy(service.restart),
    Privileged: service.privileged || undefined,
    ReadonlyRootfs: service.readOnly || undefined,
    // Only when true: false would override a daemon that runs every container with an init.
    Init: service.init || undefined,
    CapAdd: nonEmpty(service.capAdd),
    CapDrop: nonEmpty(service.capDrop),
    SecurityOpt: nonEmpty(service.securityOpt),
    Devices: nonEmpty(service.devices.map(device)),
    GroupAdd: nonEmpty(service.groupAdd),
    Dns: nonEmpty(service.dns),
    DnsSearch: nonEmpty(service.dnsSearch),
    ExtraHosts: nonEmpty(service.extraHosts),
    ShmSize: service.shmSize ?? undefined,
    PidMode: service.pid ?? undefined,
    IpcMode: service.ipc ?? undefined,
    Runtime: service.runtime ?? undefined,
    Ulimits: nonEmpty(
      Object.entries(service.ulimits)
        .sort(([a], [b]) => compare(a, b))
        .map(([name, limit]) => ({ Name: name, Soft: limit.soft, Hard: limit.hard })),
    ),
    Sysctls: nonEmptyRecord(sortedRecord(service.sysctls)),
    LogConfig:
      service.logging === null
        ? undefined
        : { Type: service.logging.driver ?? '', Config: sortedRecord(service.logging.options) },
    // Swarm's CPU and pids reservations have no counterpart on a plain engine.
    NanoCpus: limits.cpus === null ? undefined : Math.round(limits.cpus * NANO_CPUS_PER_CPU),
    Memory: limits.memory ?? undefined,
    MemoryReservation: reservations.memory ?? undefined,
    PidsLimit: limits.pids ?? undefined,
    CpuShares: engine.cpuShares ?? undefined,
    CpuPeriod: engine.cpuPeriod ?? undefined,
    CpuQuota: engine.cpuQuota ?? undefined,
    CpuRealtimePeriod: engine.cpuRtPeriod ?? undefined,
    CpuRealtimeRuntime: engine.cpuRtRuntime ?? undefined,
    CpusetCpus: engine.cpuset ?? undefined,
    MemorySwappiness: engine.memSwappiness ?? undefined,
    MemorySwap: engine.memswapLimit ?? undefined,
    UTSMode: engine.uts ?? undefined,
    CgroupParent: engine.cgroupParent ?? undefined,
    DeviceCgroupRules: nonEmpty(engine.deviceCgroupRules),
    DeviceRequests: nonEmpty(service.deploy.resources.devices.map(deviceRequest)),
    StorageOpt: nonEmptyRecord(sortedRecord(engine.storageOpt)),
    Annotations: nonEmptyRecord(sortedRecord(engine.annotations)),
    OomKillDisable: engine.oomKillDisable ?? undefined,
    OomScoreAdj: engine.oomScoreAdj ?? undefined,
    UsernsMode: engine.usernsMode ?? undefined,
    CgroupnsMode: engine.cgroup ?? undefined,
    DnsOptions: nonEmpty(engine.dnsOpt),
    ...blkio(engine.blkio),
  });
}

function blkio(config: BlkioConfig | null): Partial<HostConfig> {
  if (config === null) return {};
  const rates = (list: readonly BlkioRate[]): BlkioRateConfig[] | undefined =>
    nonEmpty(list.map((item) => ({ Path: item.path, Rate: item.rate }))) as BlkioRateConfig[] | undefined;
  return present({
    BlkioWeight: config.weight ?? undefined,
    BlkioWeightDevice: nonEmpty(
      config.weightDevice.map((item) => ({ Path: item.path, Weight: item.weight })),
    ),
    BlkioDeviceReadBps: rates(config.deviceReadBps),
    BlkioDeviceWriteBps: rates(config.deviceWriteBps),
    BlkioDeviceReadIOps: rates(config.deviceReadIops),
    BlkioDeviceWriteIOps: rates(config.deviceWriteIops),
  });
}

/** compose's `capabilities: [gpu]` is one set the driver must offer whole: one inner list. */
function deviceRequest(request: DeviceRequest): DeviceRequestConfig {
  return {
    Driver: request.driver ?? '',
    Count: request.count ?? 0,
    DeviceIDs: request.deviceIds,
    Capabilities: [request.capabilities],
    Options: sortedRecord(request.options),
  };
}

/**
 * A bind mount whose missing source the engine must create goes in Binds, the others in Mounts.
 * API 1.41 has no BindOptions.CreateMountpoint (1.42 added it) and a Mounts entry of type bind
 * fails create when its source is missing, while a Binds entry creates the folder, as
 * `docker run -v` does. A path with a colon cannot be written in a Binds entry (the engine splits
 * on colons): it stays in Mounts, and its source must then exist. SELinux relabeling exists only
 * in the Binds form (Mounts has no field for it), so a mount with `z`/`Z` goes there too, as
 * compose sends it (the loader refuses a relabel on a path with a colon).
 */
function bindEntry(stack: Stack, mount: Mount): string | null {
  if (mount.type === 'tmpfs') return null;
  if (mount.type === 'volume') {
    if (mount.selinux === null || mount.source === null) return null;
    const name = declared(stack.volumes, mount.source, 'volume').engineName;
    return binds(name, mount.target, [mount.selinux, mount.readOnly && 'ro', mount.nocopy && 'nocopy']);
  }
  if (!mount.createHostPath && mount.selinux === null) return null;
  if (mount.source.includes(':') || mount.target.includes(':')) return null;
  return binds(mount.source, mount.target, [mount.readOnly && 'ro', mount.propagation, mount.selinux]);
}

/** `source:target[:option,option]`, the options that are set. */
function binds(source: string, target: string, options: readonly (string | false | null)[]): string {
  const set = options.filter((option): option is string => typeof option === 'string');
  return [source, target, ...(set.length === 0 ? [] : [set.join(',')])].join(':');
}

function mountConfig(stack: Stack, mount: Mount): MountConfig {
  switch (mount.type) {
    case 'volume':
      return present({
        Type: 'volume',
        Source:
          mount.source === null ? undefined : declared(stack.volumes, mount.source, 'volume').engineName,
        Target: mount.target,
        ReadOnly: mount.readOnly || undefined,
        VolumeOptions: nonEmptyRecord(
          present({ NoCopy: mount.nocopy || undefined, Subpath: mount.subpath ?? undefined }),
        ),
      });
    case 'bind':
      return present({
        Type: 'bind',
        Source: mount.source,
        Target: mount.target,
        ReadOnly: mount.readOnly || undefined,
        BindOptions: mount.propagation === null ? undefined : { Propagation: mount.propagation },
      });
    case 'tmpfs':
      return present({
        Type: 'tmpfs',
        Target: mount.target,
        TmpfsOptions: nonEmptyRecord(
          present({ SizeBytes: mount.size ?? undefined, Mode: mount.mode ?? undefined }),
        ),
      });
  }
}

/** `/run:size=64m` → `/run` → `size=64m`; a later entry for the same path wins. */
function tmpfs(service: Service): Record<string, string> {
  const entries = service.tmpfs.map((entry): [string, string] => {
    const colon = entry.indexOf(':');
    return colon === -1 ? [entry, ''] : [entry.slice(0, colon), entry.slice(colon + 1)];
  });
  return sortedRecord(Object.fromEntries(entries));
}

function networkMode(id: SlotIdentity): string | undefined {
  const [first] = id.service.networks;
  return id.service.networkMode ?? (first === undefined ? undefined : networkName(id.stack, first));
}

/** Only the first network: dockerd 20.10 refuses a create body with more than one endpoint. */
function networkingConfig(id: SlotIdentity): NetworkingConfig | undefined {
  const [first] = id.service.networks;
  if (id.service.networkMode !== null || first === undefined) return undefined;
  const endpoint: EndpointSettings = present({
    Aliases: aliases(id, first),
    IPAMConfig: nonEmptyRecord(
      present({ IPv4Address: first.ipv4Address ?? undefined, IPv6Address: first.ipv6Address ?? undefined }),
    ),
    MacAddress: first.macAddress ?? undefined,
  });
  return { EndpointsConfig: { [networkName(id.stack, first)]: endpoint } };
}

/**
 * The service name first, so every replica answers to it, then the spec's aliases, once each. A
 * mesh service's name belongs to its proxy (Docker's DNS must not let clients bypass a drain).
 */
function aliases(id: SlotIdentity, network: ServiceNetwork): string[] {
  const own = meshServiceOf(id.stack, id.service.name) === null ? [id.service.name] : [];
  return [...new Set([...own, ...network.aliases])];
}

function networkName(stack: Stack, network: ServiceNetwork): string {
  return declared(stack.networks, network.name, 'network').engineName;
}

const RESTART_POLICIES = [
  'no',
  'always',
  'unless-stopped',
  'on-failure',
] as const satisfies readonly RestartPolicyConfig['Name'][];

/** heal restarts what fails; Docker does only when the spec asks for a restart policy. */
function restartPolicy(restart: string | null): RestartPolicyConfig {
  const [written, count] = (restart ?? 'no').split(':');
  // The loader accepts only these words, with a count only after on-failure.
  const name = RESTART_POLICIES.find((policy) => policy === written) ?? 'no';
  return count === undefined ? { Name: name } : { Name: name, MaximumRetryCount: Number(count) };
}

const DEVICE_PERMISSIONS = /^(?!.*(.).*\1)[rwm]{1,3}$/;

/**
 * `/dev/x[:/dev/y][:rwm]`, split as the docker CLI's parseDevice does: a second part made only of
 * r, w and m is the permissions, the container path defaults to the host path, permissions to rwm.
 */
function device(text: string): DeviceMapping {
  const parts = text.split(':');
  const [host = '', second, third] = parts;
  // The loader takes devices as plain strings; an entry docker would refuse fails the plan here.
  if (parts.length > 3 || host === '')
    throw new Error(`device "${text}" is not /dev/host[:/dev/container][:rwm]`);
  const secondIsPermissions = second !== undefined && DEVICE_PERMISSIONS.test(second);
  const container = second === undefined || secondIsPermissions ? host : second;
  const permissions = secondIsPermissions ? second : (third ?? 'rwm');
  return { PathOnHost: host, PathInContainer: container, CgroupPermissions: permissions };
}

/** The loader refuses a reference to an undeclared object: a miss here is a bug, not a user mistake. */
function declared<T>(objects: Readonly<Record<string, T>>, key: string, kind: string): T {
  const object = Object.hasOwn(objects, key) ? objects[key] : undefined;
  if (object === undefined) throw new Error(`internal: ${kind} "${key}" is not declared in the stack`);
  return object;
}

function sortedRecord<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compare(a, b)));
}

/** By UTF-16 code unit, not locale: the same order on every machine. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function nonEmpty<T>(items: readonly T[]): readonly T[] | undefined {
  return items.length === 0 ? undefined : items;
}

function nonEmptyRecord<T extends object>(record: T): T | undefined {
  return Object.keys(record).length === 0 ? undefined : record;
}

/**
 * The object without its undefined members, keys in the order written: each builder above lists
 * every key it may set, in the body's order, and this drops the ones the spec leaves out.
 */
function present<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}
