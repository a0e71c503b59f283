import type { CurrentServer } from '../mesh/servers-state.js';
import type { EphemeralPort } from '../mesh/types.js';
import type { Host } from '../spec/types.js';

/** What the hosts reported, as the planner reads it. Built by the executor's observe(). */
export type Observed = {
  readonly hosts: readonly ObservedHost[];
};

export type ObservedHost = {
  readonly name: string;
  readonly host: Host;
  readonly reachable: boolean;
  /** Why not, when unreachable: a sentence naming the cause. */
  readonly error: string | null;
  readonly engine: EngineFacts | null;
  /** This stack's containers, in every state. Empty when unreachable (unknown, not absent). */
  readonly containers: readonly ObservedContainer[];
  /** Every container on the engine, heal's or not. */
  readonly totalContainers: number | null;
  /**
   * Host ports (`ip:port/proto`) that running containers heal does not own publish, among the
   * ports this stack publishes: a replica asking for one cannot start there.
   */
  readonly foreignPorts: readonly string[];
  /** This stack's networks and volumes on the host (by their engine names). */
  readonly networks: readonly string[];
  readonly volumes: readonly string[];
  /** Image references the engine has (`repo:tag`), to know what must be pulled. */
  readonly images: readonly string[];
  /** What heal decided about a rollout, kept on the hosts so that it outlives heal. */
  readonly marks: readonly RolloutMark[];
  /** The stack key volumes on the host: one, unless someone tampered with them. */
  readonly stackKeys: readonly StackKeyVolume[];
  /** What each running mesh proxy of the stack holds, read through its runtime API. */
  readonly proxies?: readonly ObservedProxy[];
  /** The count autoscaling chose for each autoscaled service, as recorded on this host. */
  readonly scales?: readonly ScaleMark[];
  /** `heal hosts drain|pause NAME`: a labelled volume on the host; absent or null: none. */
  readonly availabilityMark?: AvailabilityMark | null;
  /** The host's resources as last read (conditions.ts judges them); absent or null: not read. */
  readonly probe?: HostProbe | null;
};

/**
 * The replica count autoscaling chose for a service, and why: a labelled volume on every host
 * (`executor/scale-marks.ts`), one per decision, the newest in force (`planner/autoscale.ts`).
 */
export type ScaleMark = {
  /** The volume's name. */
  readonly name: string;
  readonly host: string;
  readonly service: string;
  readonly replicas: number;
  readonly reason: string;
  /** When it was decided (epoch ms). */
  readonly at: number;
};

/** An operator's `heal hosts drain|pause`, kept on the host as a labelled volume. */
export type AvailabilityMark = {
  readonly name: string;
  readonly availability: 'pause' | 'drain';
  /** Epoch ms it was set. */
  readonly since: number;
  /** Epoch ms after which what is left moves stop-first; null: none. */
  readonly deadline: number | null;
};

/**
 * What the executor read of a host's resources with fixed, read-only commands (`/proc/meminfo`,
 * `df` of the engine's data root, the PID limits, `date`) and the engine's recent events; a part is
 * null when it could not be read (`error` says why).
 */
export type HostProbe = {
  readonly memory: { readonly available: number; readonly total: number } | null;
  readonly disk: {
    readonly path: string;
    readonly available: number;
    readonly total: number;
    readonly inodesFree: number;
    readonly inodes: number;
  } | null;
  /**
   * The host's clock less heal's (ms, positive: ahead), taken at the middle of the probe's round
   * trip (`roundTrip` ms, its uncertainty is half of it); absent or null: not read.
   */
  readonly clock?: { readonly offset: number; readonly roundTrip: number } | null;
  /** Tasks running and the most the kernel allows (min of pid_max, threads-max); absent or null: not read. */
  readonly pids?: { readonly running: number; readonly max: number } | null;
  /** Containers of the stack that died within the last `window` ms, per service; absent or null: not read. */
  readonly deaths?: { readonly window: number; readonly services: readonly ServiceDeaths[] } | null;
  readonly error: string | null;
};

/** A service's containers that died on a host: exits with a non-zero code nobody asked for, and OOM kills. */
export type ServiceDeaths = { readonly service: string; readonly exits: number; readonly ooms: number };

/**
 * A running mesh proxy's members (`show servers state`); `servers` null when its runtime API did
 * not answer (`error` says why): the plan then re-adds nothing and removes nothing it cannot see.
 */
export type ObservedProxy = {
  readonly service: string;
  readonly container: string;
  readonly servers: readonly CurrentServer[] | null;
  readonly error: string | null;
};

/**
 * A small labelled volume holding the stack key (`stack-key.ts`) in its `io.heal.key` label.
 * Never one of the stack's named volumes.
 */
export type StackKeyVolume = {
  readonly name: string;
  /** null when the label does not hold a key (64 hex digits). */
  readonly key: string | null;
};

/**
 * A service's config that failed its rollout: `rolled-back` (heal runs the previous config and
 * does not try this one again) or `paused` (the rollout stays where it stopped). Either holds
 * until the spec gives the service another config. Kept as a labelled volume on every host.
 */
export type RolloutMark = {
  /** The volume's name. */
  readonly name: string;
  readonly host: string;
  readonly service: string;
  readonly configHash: string;
  readonly state: 'rolled-back' | 'paused';
  readonly reason: string;
};

export type EngineFacts = {
  readonly name: string;
  readonly version: string;
  readonly os: string;
  readonly arch: string;
  readonly cpus: number;
  readonly memory: number;
  /** The engine's own labels (`docker info` Labels, set in dockerd's config): `engine.labels.KEY`. */
  readonly labels: Readonly<Record<string, string>>;
};

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
export type Health = 'none' | 'starting' | 'healthy' | 'unhealthy';

export type ObservedContainer = {
  readonly id: string;
  readonly name: string;
  readonly host: string;
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  /** From heal's labels; null when a label is missing or malformed. */
  readonly service: string | null;
  readonly slot: number | null;
  readonly configHash: string | null;
  readonly state: ContainerState;
  readonly health: Health;
  /** For an exited container. */
  readonly exitCode: number | null;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms, to the precision the engine's list reports (a second under a minute). */
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** The host ports the engine published its TCP ports on (the mesh reaches replicas there). */
  readonly ports?: readonly EphemeralPort[];
  /** Its address on each network it joined, by the network's engine name. */
  readonly addresses?: Readonly<Record<string, string>>;
};
