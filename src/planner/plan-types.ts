import type { Autoscaled } from './autoscale.js';
import type { Standing } from './availability.js';
import type {
  ContainerCreateBody,
  ContainerCreateQuery,
  ExtraNetwork,
  FileMountSpec,
} from './container-config.js';
import type { ServiceBuild } from '../spec/types.js';
import type { RolloutMark } from './observed.js';

/**
 * A plan: every change heal will make, in order, as values. What `heal plan --json` prints is
 * what `heal apply` executes. Actions run phase by phase; within a phase, in parallel across
 * hosts (bounded per host).
 */
export type Plan = {
  readonly stack: string;
  readonly actions: readonly Action[];
  readonly phases: readonly Phase[];
  readonly summary: Readonly<Record<string, ServiceSummary>>;
  /** Slots that could not be placed, with why. Never silently dropped. */
  readonly unplaced: readonly Unplaced[];
  /** Things a person should know that are not actions (an unreachable host, a stray container). */
  readonly warnings: readonly string[];
  /** Set when the planner refuses to plan (the empty-stack guard): nothing may run. */
  readonly refused: string | null;
  /** When a restart held back (crash backoff, restart_policy.delay) falls due: plan again then. */
  readonly waitUntil: number | null;
  /** Services this plan moves to another config, and by which policy. */
  readonly rollouts: readonly Rollout[];
  /** Rollout marks in force: services rolled back or paused until the spec changes. */
  readonly held: readonly RolloutMark[];
  /** Services with `x-heal-autoscale`: the count the hosts hold and why (`autoscale.ts`). */
  readonly autoscaled?: readonly Autoscaled[];
  /** Hosts that are not active (paused, draining, under a condition), with why (`availability.ts`). */
  readonly standings?: readonly Standing[];
};

/**
 * One service moving to another config in batches. The executor follows the policy: it counts
 * the replacements that fail (or fail within `monitor` of starting) against max_failure_ratio,
 * and on too many does failure_action.
 */
export type Rollout = {
  readonly service: string;
  /** `update` to the spec's config, or `rollback` to the previous one (by rollback_config). */
  readonly kind: 'update' | 'rollback';
  /** The config hash the service moves to. */
  readonly to: string;
  /** Replacements that change the config, and the batches they run in. */
  readonly slots: number;
  readonly batches: number;
  readonly parallelism: number;
  readonly delay: number;
  readonly order: 'stop-first' | 'start-first';
  readonly failureAction: 'pause' | 'continue' | 'rollback';
  readonly monitor: number;
  readonly maxFailureRatio: number;
  /**
   * Replicas of the service still starting (health `starting`) that the first batch leaves
   * standing, with their config hash: an earlier batch in flight when heal stopped, or a replica
   * just healed. The first batch waits until they are healthy, so that no more than
   * `parallelism` slots are ever down at once.
   */
  readonly settling: readonly (ContainerRef & { readonly configHash: string | null })[];
};

export type Phase = {
  readonly index: number;
  /** `prepare`, `create`, `update web batch 2/4`, `remove`, `clean up` */
  readonly label: string;
  /** Wait this long before the phase starts (update_config.delay between batches). */
  readonly delayBefore: number;
};

export type ServiceSummary = {
  readonly desired: number;
  readonly create: number;
  readonly replace: number;
  readonly remove: number;
  readonly start: number;
  readonly unchanged: number;
};

export type Unplaced = { readonly service: string; readonly slot: number; readonly reason: string };

/** A container that exists, as an action names it. */
export type ContainerRef = { readonly id: string; readonly name: string; readonly host: string };

/** Everything the executor needs to create one container. */
export type CreateSpec = {
  readonly host: string;
  readonly query: ContainerCreateQuery;
  /** Env values that came from env_file are `KEY=**secret**` here; the executor fills them from the spec. */
  readonly body: ContainerCreateBody;
  readonly secretEnv: readonly string[];
  readonly extraNetworks: readonly ExtraNetwork[];
  readonly files: readonly FileMountSpec[];
  /** Wait for the healthcheck to pass (or, without one, for the container to be running). */
  readonly waitHealthy: boolean;
  /** How long a new container may take to prove healthy before the action fails. */
  readonly healthTimeout: number;
  /** What an exit 0 means for it (`jobs.ts`). */
  readonly exitZero: ExitZero;
};

/**
 * What an exit with code 0 means for a new or started container: `failure` (restart_policy
 * `any`: it should keep running); `done` (a one-off job: it finished); `awaited` (a job a service
 * depends on with `service_completed_successfully`: the action waits until it exits, and any
 * other code fails it).
 */
export type ExitZero = 'failure' | 'done' | 'awaited';

type Base = {
  readonly phase: number;
  readonly host: string;
  readonly service: string | null;
  readonly slot: number | null;
  readonly reason: string;
};

export type Action =
  | (Base & { readonly kind: 'create-network'; readonly network: string; readonly config: NetworkCreate })
  | (Base & { readonly kind: 'create-volume'; readonly volume: string; readonly config: VolumeCreate })
  | (Base & { readonly kind: 'pull'; readonly image: string })
  | (Base & {
      /**
       * Builds `image` on this host from the committed context (`build.source`), through the
       * engine's `POST /build`. With `build.push`, the image is first pulled (the registry may
       * have it already: nothing is built) and otherwise built and pushed.
       */
      readonly kind: 'build';
      readonly service: string;
      readonly image: string;
      readonly build: ServiceBuild;
    })
  | (Base & {
      /** Copies `image` from host `from` to this one: `GET /images/{name}/get` into `POST /images/load`. */
      readonly kind: 'copy-image';
      readonly service: string;
      readonly image: string;
      readonly from: string;
    })
  | (Base & {
      readonly kind: 'create';
      readonly service: string;
      readonly slot: number;
      readonly create: CreateSpec;
    })
  | (Base & {
      /** `unpause`: a replica paused by hand (`docker pause`) is drift, put back as it was. */
      readonly kind: 'start' | 'unpause';
      readonly service: string;
      readonly slot: number;
      readonly container: ContainerRef;
    })
  | (Base & {
      readonly kind: 'replace';
      readonly service: string;
      readonly slot: number;
      readonly old: ContainerRef & { readonly stopTimeout: number; readonly stopSignal: string | null };
      readonly create: CreateSpec;
      readonly order: 'stop-first' | 'start-first';
      /**
       * start-first, when the old container holds the slot's name (its container_name, or
       * `<stack>-<service>-<slot>`): the new one is created under another name and renamed to
       * this once the old is removed.
       */
      readonly rename: string | null;
      /** The new container has another config than the old (a rollout), not the same one again (a heal). */
      readonly update: boolean;
      /** Old and new container config, for the diff `heal plan` shows. */
      readonly change: { readonly from: string | null; readonly to: string };
    })
  | (Base & {
      readonly kind: 'remove';
      readonly container: ContainerRef & { readonly stopTimeout: number; readonly stopSignal: string | null };
      /**
       * A rebalance move: the container of the same slot this plan creates on another host. The
       * remove runs only when that create succeeded (the new replica proved healthy).
       */
      readonly after?: { readonly host: string; readonly name: string };
    })
  | (Base & {
      /** A routing mesh proxy (src/mesh) on this host; `old`: the one it replaces, removed first. */
      readonly kind: 'create-proxy';
      readonly service: string;
      readonly create: CreateSpec;
      readonly old:
        (ContainerRef & { readonly stopTimeout: number; readonly stopSignal: string | null }) | null;
    })
  | (Base & {
      readonly kind: 'remove-proxy';
      readonly container: ContainerRef & { readonly stopTimeout: number; readonly stopSignal: string | null };
    })
  | (Base & {
      /**
       * Moves one host's proxy of a service to the members the plan wants, through its runtime API
       * (`socket` on the host), then rewrites its config (`config`, at `configPath`) so that a
       * restarted proxy keeps them.
       */
      readonly kind: 'mesh-sync';
      readonly service: string;
      readonly proxy: ContainerRef;
      readonly socket: string;
      readonly commands: readonly { readonly line: string; readonly expect: string }[];
      readonly config: string;
      readonly configPath: string;
    })
  | (Base & { readonly kind: 'remove-network'; readonly network: string })
  | (Base & { readonly kind: 'remove-volume'; readonly volume: string });

export type ActionKind = Action['kind'];

export type NetworkCreate = {
  readonly Name: string;
  readonly Driver?: string;
  readonly Internal?: boolean;
  readonly Attachable?: boolean;
  readonly EnableIPv6?: boolean;
  readonly Options?: Readonly<Record<string, string>>;
  readonly IPAM?: {
    readonly Driver?: string;
    readonly Config?: readonly IpamPoolConfig[];
    readonly Options?: Readonly<Record<string, string>>;
  };
  readonly Labels: Readonly<Record<string, string>>;
  readonly CheckDuplicate: true;
};

export type IpamPoolConfig = {
  readonly Subnet?: string;
  readonly Gateway?: string;
  readonly IPRange?: string;
  readonly AuxiliaryAddresses?: Readonly<Record<string, string>>;
};

export type VolumeCreate = {
  readonly Name: string;
  readonly Driver?: string;
  readonly DriverOpts?: Readonly<Record<string, string>>;
  readonly Labels: Readonly<Record<string, string>>;
};
