import type { Autoscale } from './autoscale.js';
import type { BuildConfig, ServiceBuild } from './build-types.js';
import type { FileContent } from './file-content.js';

export type { BuildConfig, BuildSource, ServiceBuild } from './build-types.js';

/**
 * The normalized, typed stack: what every later layer reads. Durations are milliseconds,
 * sizes are bytes, and every short or list syntax of compose is already in its one long form.
 */

export type Milliseconds = number;
export type Bytes = number;

export type Stack = {
  readonly name: string;
  /** The spec file as the user named it (`<stdin>` for `-`). */
  readonly file: string;
  /** The folder relative paths in the spec resolve against. */
  readonly dir: string;
  readonly services: Readonly<Record<string, Service>>;
  readonly networks: Readonly<Record<string, Network>>;
  readonly volumes: Readonly<Record<string, Volume>>;
  readonly secrets: Readonly<Record<string, FileObject>>;
  readonly configs: Readonly<Record<string, FileObject>>;
  readonly heal: HealConfig;
  /** Keys heal accepts and does not act on, each with its place (`stack.yml:4:5 services.web.build: ...`). */
  readonly warnings: readonly string[];
};

export type Service = {
  readonly name: string;
  readonly image: string;
  /** A fixed container name, allowed only with a single replica. */
  readonly containerName: string | null;
  /** null: the image's own CMD / ENTRYPOINT. */
  readonly command: readonly string[] | null;
  readonly entrypoint: readonly string[] | null;
  /** env_file values first, `environment:` on top. null: pass the variable through unset. */
  readonly environment: Readonly<Record<string, string | null>>;
  /** Keys of `environment` whose values came from an env_file: never printed. */
  readonly secretEnvironment: readonly string[];
  readonly ports: readonly PortMapping[];
  /** `80/tcp` */
  readonly expose: readonly string[];
  readonly volumes: readonly Mount[];
  readonly networks: readonly ServiceNetwork[];
  readonly labels: Readonly<Record<string, string>>;
  readonly healthcheck: Healthcheck | null;
  /** Docker's own restart policy on the container (`no`, `always`, `on-failure[:N]`, `unless-stopped`). */
  readonly restart: string | null;
  readonly stopSignal: string | null;
  readonly stopGracePeriod: Milliseconds;
  readonly user: string | null;
  readonly workingDir: string | null;
  readonly hostname: string | null;
  readonly domainname: string | null;
  /** `host:ip` */
  readonly extraHosts: readonly string[];
  readonly dns: readonly string[];
  readonly dnsSearch: readonly string[];
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly securityOpt: readonly string[];
  /** `/dev/host[:/dev/container][:permissions]`, the long syntax written in this short form. */
  readonly devices: readonly string[];
  readonly groupAdd: readonly string[];
  readonly privileged: boolean;
  readonly readOnly: boolean;
  readonly init: boolean;
  readonly tty: boolean;
  readonly stdinOpen: boolean;
  readonly shmSize: Bytes | null;
  readonly pid: string | null;
  readonly ipc: string | null;
  /** `host`, `none`, `bridge`, or null for the stack's networks. */
  readonly networkMode: string | null;
  readonly platform: string | null;
  readonly runtime: string | null;
  readonly ulimits: Readonly<Record<string, Ulimit>>;
  readonly sysctls: Readonly<Record<string, string>>;
  /** `/path[:options]` */
  readonly tmpfs: readonly string[];
  readonly logging: Logging | null;
  readonly dependsOn: Readonly<Record<string, Dependency>>;
  readonly secrets: readonly FileMount[];
  readonly configs: readonly FileMount[];
  readonly pullPolicy: PullPolicy;
  /** `build:`: the image is built from the repository (build-types.ts); null: `image:` is pulled. */
  readonly build: ServiceBuild | null;
  readonly deploy: Deploy;
  /**
   * Engine knobs compose passes straight to the container (cpu_shares, cpuset, uts, ...), each
   * null or empty when the spec leaves it out: see EngineOptions.
   */
  readonly engine: EngineOptions;
  /**
   * A versioned digest of what a container is made from. At load, the public hash (`v1:<hex>`,
   * hash.ts); in a stack keyed by the hosts' stack key, a service with secret material has the
   * keyed `v2:<hex>` its containers carry (keyed-hash.ts).
   */
  readonly configHash: string;
};

/**
 * Service keys that map one to one onto the Engine API's create body. CPU periods and runtimes
 * are microseconds, as the engine takes them.
 */
export type EngineOptions = {
  readonly cpuShares: number | null;
  readonly cpuPeriod: number | null;
  readonly cpuQuota: number | null;
  readonly cpuRtPeriod: number | null;
  readonly cpuRtRuntime: number | null;
  /** `0-3`, `0,1` */
  readonly cpuset: string | null;
  readonly memSwappiness: number | null;
  /** Bytes, or -1 for unlimited swap. */
  readonly memswapLimit: number | null;
  readonly uts: string | null;
  readonly cgroupParent: string | null;
  readonly deviceCgroupRules: readonly string[];
  readonly macAddress: string | null;
  readonly storageOpt: Readonly<Record<string, string>>;
  /** Needs API 1.43 (Docker 24): see the planner's engine requirements. */
  readonly annotations: Readonly<Record<string, string>>;
  readonly oomKillDisable: boolean | null;
  readonly oomScoreAdj: number | null;
  readonly usernsMode: string | null;
  /** The cgroup namespace: `host` or `private`. */
  readonly cgroup: 'host' | 'private' | null;
  readonly dnsOpt: readonly string[];
  readonly blkio: BlkioConfig | null;
};

/** `blkio_config`: the engine's Blkio* fields; rates in bytes (or operations) per second. */
export type BlkioConfig = {
  readonly weight: number | null;
  readonly weightDevice: readonly { readonly path: string; readonly weight: number }[];
  readonly deviceReadBps: readonly BlkioRate[];
  readonly deviceWriteBps: readonly BlkioRate[];
  readonly deviceReadIops: readonly BlkioRate[];
  readonly deviceWriteIops: readonly BlkioRate[];
};

export type BlkioRate = { readonly path: string; readonly rate: number };

export type Protocol = 'tcp' | 'udp' | 'sctp';

export type PortMapping = {
  /** The container port. */
  readonly target: number;
  /** The host port; null publishes on an ephemeral port chosen by the engine. */
  readonly published: number | null;
  readonly hostIp: string | null;
  readonly protocol: Protocol;
  readonly mode: 'ingress' | 'host';
  /** compose's `app_protocol`: `http` makes the mesh's listener HTTP (X-Forwarded-For); others TCP. */
  readonly appProtocol?: string | null;
  /** `x-proxy-protocol`: the mesh sends the PROXY header to the replicas (TCP listeners only). */
  readonly proxyProtocol?: 'v1' | 'v2' | null;
};

export type Mount =
  | {
      readonly type: 'volume';
      /** A key of Stack.volumes; null for an anonymous volume. */
      readonly source: string | null;
      readonly target: string;
      readonly readOnly: boolean;
      readonly nocopy: boolean;
      /** A folder inside the volume to mount instead of its root (API 1.45, Docker 26); null: the root. */
      readonly subpath: string | null;
      /** SELinux relabeling: `z` shared between containers, `Z` private; null: none. */
      readonly selinux: 'z' | 'Z' | null;
    }
  | {
      readonly type: 'bind';
      /** An absolute path on the host. */
      readonly source: string;
      /**
       * A source written relative to the spec's folder (only allowed when every host is local),
       * as seen from that folder (`./data`, `../shared`); null for an absolute or `~` source. The
       * config hash reads it in place of `source`, so any checkout of the spec hashes the same.
       */
      readonly relativeSource: string | null;
      readonly target: string;
      readonly readOnly: boolean;
      readonly propagation: string | null;
      readonly createHostPath: boolean;
      /** SELinux relabeling: `z` shared between containers, `Z` private; null: none. */
      readonly selinux: 'z' | 'Z' | null;
    }
  | {
      readonly type: 'tmpfs';
      readonly target: string;
      readonly size: Bytes | null;
      readonly mode: number | null;
    };

export type ServiceNetwork = {
  /** A key of Stack.networks. */
  readonly name: string;
  readonly aliases: readonly string[];
  readonly ipv4Address: string | null;
  readonly ipv6Address: string | null;
  /** The endpoint's MAC address (API 1.44, Docker 25). */
  readonly macAddress: string | null;
};

/**
 * A test given: each timing defaults as in Docker. No test (keep the image's): a timing left out
 * is null, so the image's own stays.
 */
export type Healthcheck = {
  /** `['CMD', ...]` or `['CMD-SHELL', '...']`; `['NONE']` turns off the image's own check; empty: the image's. */
  readonly test: readonly string[];
  readonly interval: Milliseconds | null;
  readonly timeout: Milliseconds | null;
  readonly retries: number | null;
  readonly startPeriod: Milliseconds | null;
  readonly startInterval: Milliseconds | null;
};

export type Ulimit = { readonly soft: number; readonly hard: number };

export type Logging = { readonly driver: string | null; readonly options: Readonly<Record<string, string>> };

export type Dependency = {
  readonly condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  readonly required: boolean;
  readonly restart: boolean;
};

export type FileMount = {
  /** A key of Stack.secrets / Stack.configs. */
  readonly source: string;
  readonly target: string;
  readonly uid: string | null;
  readonly gid: string | null;
  readonly mode: number | null;
};

export type PullPolicy = 'always' | 'missing' | 'never';

export type Deploy = {
  readonly mode: 'replicated' | 'global';
  /** For `global`, the count is one per eligible host and this is 0. */
  readonly replicas: number;
  readonly placement: Placement;
  readonly restartPolicy: RestartPolicy;
  readonly updateConfig: UpdateConfig;
  readonly rollbackConfig: UpdateConfig;
  readonly resources: Resources;
  /** Labels of the service itself, not of its containers (as in Swarm). */
  readonly labels: Readonly<Record<string, string>>;
  /** `x-heal-autoscale`: heal moves `replicas` within [min, max] (see autoscale.ts). */
  readonly autoscale?: Autoscale;
};

export type Placement = {
  readonly constraints: readonly Constraint[];
  readonly preferences: readonly { readonly spread: string }[];
  readonly maxReplicasPerNode: number | null;
};

/** `node.labels.zone == a` */
export type Constraint = {
  readonly key: string;
  readonly op: '==' | '!=';
  readonly value: string;
  /** As written, for messages. */
  readonly text: string;
};

export type RestartPolicy = {
  readonly condition: 'none' | 'on-failure' | 'any';
  readonly delay: Milliseconds;
  /** 0: no limit. */
  readonly maxAttempts: number;
  /** 0: attempts count over the container's whole life. */
  readonly window: Milliseconds;
};

export type UpdateConfig = {
  /** 0: all at once. */
  readonly parallelism: number;
  readonly delay: Milliseconds;
  readonly failureAction: 'pause' | 'continue' | 'rollback';
  readonly monitor: Milliseconds;
  readonly maxFailureRatio: number;
  readonly order: 'stop-first' | 'start-first';
};

export type Resources = {
  readonly limits: ResourceAmounts;
  readonly reservations: ResourceAmounts;
  /** `reservations.devices`: GPUs and other devices the engine's device drivers hand out. */
  readonly devices: readonly DeviceRequest[];
};

/** One entry of `deploy.resources.reservations.devices`: the Engine's DeviceRequest. */
export type DeviceRequest = {
  readonly capabilities: readonly string[];
  /** -1: all; null: none given (with device_ids). */
  readonly count: number | null;
  readonly deviceIds: readonly string[];
  readonly driver: string | null;
  readonly options: Readonly<Record<string, string>>;
};

export type ResourceAmounts = {
  /** In CPUs, `0.5` = half a core. */
  readonly cpus: number | null;
  readonly memory: Bytes | null;
  readonly pids: number | null;
};

export type Network = {
  readonly name: string;
  /** An existing network heal does not create or remove. */
  readonly external: boolean;
  /** The engine-side name: `<stack>_<key>` unless `name:` or external says otherwise. */
  readonly engineName: string;
  readonly driver: string | null;
  readonly driverOpts: Readonly<Record<string, string>>;
  readonly internal: boolean;
  readonly attachable: boolean;
  readonly enableIpv6: boolean;
  readonly ipam: {
    readonly driver: string | null;
    /** `subnet`, `gateway`, `ip_range` and `aux_addresses` (a `host=ip` map, kept as a record). */
    readonly config: readonly IpamPool[];
    readonly options: Readonly<Record<string, string>>;
  };
  readonly labels: Readonly<Record<string, string>>;
};

export type IpamPool = {
  readonly subnet?: string;
  readonly gateway?: string;
  readonly ip_range?: string;
  readonly aux_addresses?: Readonly<Record<string, string>>;
};

export type Volume = {
  readonly name: string;
  readonly external: boolean;
  readonly engineName: string;
  readonly driver: string | null;
  readonly driverOpts: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
};

/**
 * A file-based secret or config: its content is read at load time and only its digest is kept.
 * A secret's digest is never printed: it would confirm a guessed content.
 */
export type FileObject = {
  readonly name: string;
  /** Absolute path of the file on the machine running heal, as the spec named it (for people). */
  readonly file: string;
  /** `sha256:<hex>` of the content. */
  readonly digest: string;
  /** The bytes read at load time: what the executor copies into containers. Never printed. */
  readonly content: FileContent;
};

export type HealConfig = {
  readonly ssh: SshDefaults;
  readonly hosts: Readonly<Record<string, Host>>;
  readonly watch: WatchConfig;
  readonly timeouts: Timeouts;
  readonly lock: LockConfig;
  readonly mesh: MeshConfig;
  /** `x-heal.conditions`; absent in a config built by hand: the defaults (CONDITIONS_DEFAULTS). */
  readonly conditions?: ConditionsConfig;
  /** `x-heal.build`: where services with `build:` are built. */
  readonly build: BuildConfig;
};

/** `x-heal.hosts.NAME.availability`, in Swarm's words: pause stops new placements, drain moves work off. */
export type Availability = 'active' | 'pause' | 'drain';

/** A limit on what is left of a resource: an amount (bytes, inodes) or a share of the total. */
export type Threshold = { readonly amount: number } | { readonly percent: number };

/**
 * `x-heal.conditions`: when a host counts as under pressure (Kubernetes' names and eviction
 * thresholds), and how long before heal cordons it, drains it, and gives it work again.
 */
export type ConditionsConfig = {
  /** A condition held this long cordons the host. */
  readonly grace: Milliseconds;
  /** A condition held this long drains it; null: conditions only cordon. */
  readonly drainAfter: Milliseconds | null;
  /** A condition clear this long is over: the host takes work again. */
  readonly recover: Milliseconds;
  /** After this long draining, what is left moves stop-first. */
  readonly deadline: Milliseconds;
  /** Replicas of one service moved at a time (Nomad's migrate max_parallel). */
  readonly maxParallel: number;
  /** MemoryPressure: MemAvailable below it. */
  readonly memoryAvailable: Threshold;
  /** DiskPressure: free space on the engine's data root below it. */
  readonly diskAvailable: Threshold;
  /** DiskPressure: free inodes on the engine's data root below it. */
  readonly inodesFree: Threshold;
  /** EngineSlow: when the engine's answers to the heartbeat count as slow. */
  readonly engineSlow: EngineSlowConfig;
  /** ClockSkew: the host's clock this far (either way) from heal's. */
  readonly clockSkew: Milliseconds;
  /** PIDPressure: PIDs left (pid_max, threads-max, less the tasks running) below it. */
  readonly pidAvailable: Threshold;
  /** Dying: containers of at least `services` services died within `window`. */
  readonly dying: DyingConfig;
};

/** `x-heal.conditions.engine_slow`: `readings` pings slower than `latency` (or failed) within `window`. */
export type EngineSlowConfig = {
  readonly latency: Milliseconds;
  readonly readings: number;
  readonly window: Milliseconds;
};

/** `x-heal.conditions.dying`: containers of this many services died (crashed or OOM-killed) within `window`. */
export type DyingConfig = { readonly services: number; readonly window: Milliseconds };

/** `x-heal.mesh`: the routing mesh's proxies (src/mesh). */
export type MeshConfig = {
  /** The HAProxy image of every proxy (≥ 2.6). */
  readonly image: string;
  /** How long a drained replica may keep its connections before it is stopped. */
  readonly drainTimeout: Milliseconds;
  readonly check: { readonly interval: Milliseconds; readonly fall: number; readonly rise: number };
  /**
   * The group given the proxies' runtime sockets (mode 660), for a non-root SSH user; null: root
   * only (mode 600).
   */
  readonly socketGid: number | null;
};

/** `x-heal.lock`: which hosts' majority the stack's lock needs (null: every host not local). */
export type LockConfig = { readonly hosts: readonly string[] | null };

/** `x-heal.timeouts`: how long an engine may take to answer, per kind of call. */
export type Timeouts = {
  /** list, inspect, info, ping-like calls. */
  readonly readMs: Milliseconds;
  /** create, start, remove, network and volume changes; a stop also gets its grace period. */
  readonly writeMs: Milliseconds;
  readonly pullMs: Milliseconds;
};

export type SshDefaults = {
  readonly user: string | null;
  readonly port: number | null;
  readonly identityFile: string | null;
  readonly knownHosts: string | null;
};

export type Host = SshHost | DockerHost;

export type SshHost = {
  readonly name: string;
  readonly kind: 'ssh';
  /** null: from ~/.ssh/config, then the current user. */
  readonly user: string | null;
  readonly address: string;
  /** null: from ~/.ssh/config, then 22. */
  readonly port: number | null;
  readonly identityFile: string | null;
  /** The engine's socket on the host. */
  readonly socket: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly role: HostRole;
  /** `availability:` in the spec; absent: active. */
  readonly availability?: Availability;
  /**
   * `address`: where other hosts reach this host's replicas (the mesh's internal address); by
   * default the SSH address when it is an IP; null: none.
   */
  readonly internalAddress?: string | null;
};

/**
 * Swarm's `node.role`, for placement constraints written for Swarm. Every host is a manager unless
 * marked `role: worker`: a stack that pins to managers places anywhere until some hosts are workers.
 */
export type HostRole = 'manager' | 'worker';

export type DockerHost = {
  readonly name: string;
  readonly kind: 'docker';
  /** `unix:///var/run/docker.sock` or `tcp://host:port` */
  readonly url: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly role: HostRole;
  readonly availability?: Availability;
  readonly internalAddress?: string | null;
};

export type WatchConfig = {
  readonly interval: Milliseconds;
  readonly hostDownAfter: Milliseconds;
  readonly rebalance: boolean;
};
