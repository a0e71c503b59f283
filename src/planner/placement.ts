import type { Constraint, Service } from '../spec/types.js';
import { describeRequirement, engineRequirements, unmetRequirement } from './engine-api.js';
import type { ObservedHost } from './observed.js';
import { labelValue, spreadOver } from './spread.js';

/** What placement knows of one host while a plan is being made: it fills as slots are placed. */
export type HostLoad = {
  readonly name: string;
  /** The spec's labels for the host (`x-heal.hosts.NAME.labels`): `node.labels.KEY`. */
  readonly labels: Readonly<Record<string, string>>;
  /** The engine's own labels (`docker info`, dockerd's `labels`): `engine.labels.KEY`. */
  readonly engineLabels: Readonly<Record<string, string>>;
  /** Swarm's `node.role`: the spec's `x-heal.hosts.NAME.role`. */
  readonly role: string;
  /** The engine's release (`docker info` ServerVersion), for features that need a newer API; '' unknown. */
  readonly engineVersion: string;
  readonly os: string;
  readonly arch: string;
  /** Replicas per service planned on this host. */
  readonly perService: Map<string, number>;
  /** Containers planned on this host, heal's and others'. */
  containers: number;
  /** New containers this plan creates here: spread, they are created in parallel. */
  creations: number;
  /** `ip:port/proto` bindings planned on this host. */
  readonly ports: Set<string>;
  /** Why the host takes no new replica (paused, draining, a condition); absent or null: it does. */
  cordon?: string | null;
};

export function hostLoad(host: ObservedHost): HostLoad {
  const owned = host.containers.length;
  return {
    name: host.name,
    labels: host.host.labels,
    engineLabels: host.engine?.labels ?? {},
    role: host.host.role,
    engineVersion: host.engine?.version ?? '',
    os: host.engine?.os ?? '',
    arch: host.engine?.arch ?? '',
    perService: new Map(),
    containers: (host.totalContainers ?? owned) - owned,
    creations: 0,
    ports: new Set(host.foreignPorts),
  };
}

/** Records a replica of `service` on `load`. */
export function occupy(load: HostLoad, service: Service): void {
  load.perService.set(service.name, (load.perService.get(service.name) ?? 0) + 1);
  load.containers += 1;
  for (const binding of bindings(service)) load.ports.add(binding);
}

/** Records a new replica of `service` that this plan creates on `load`. */
export function place(load: HostLoad, service: Service): void {
  occupy(load, service);
  load.creations += 1;
}

/** The host ports a replica of the service holds: a host can give each to one container only. */
export function bindings(service: Service): readonly string[] {
  // choose() asks for every host of every slot: computed once per (frozen) service.
  const known = BINDINGS.get(service);
  if (known) return known;
  // An ingress port is the routing mesh's: its proxies hold it on every host, not the replicas.
  const computed = service.ports
    .filter((port) => port.published !== null && port.mode === 'host')
    .map((port) => `${port.hostIp ?? '0.0.0.0'}:${port.published}/${port.protocol}`);
  BINDINGS.set(service, computed);
  return computed;
}

const BINDINGS = new WeakMap<Service, readonly string[]>();

export function matchesConstraints(load: HostLoad, constraints: readonly Constraint[]): boolean {
  return constraints.every((constraint) => {
    const actual = constraintValue(load, constraint.key);
    // Swarm compares constraint values case-insensitively.
    const equal = actual !== null && actual.toLowerCase() === constraint.value.toLowerCase();
    return constraint.op === '==' ? equal : !equal;
  });
}

function constraintValue(load: HostLoad, key: string): string | null {
  if (key === 'node.hostname') return load.name;
  if (key === 'node.role') return load.role;
  if (key === 'node.platform.os') return load.os;
  if (key === 'node.platform.arch') return load.arch;
  return labelValue(load, key);
}

/** Why a host cannot take one more replica of the service, or null when it can. */
export function refusal(load: HostLoad, service: Service): Refusal | null {
  if (!matchesConstraints(load, service.deploy.placement.constraints)) return 'constraints';
  const max = service.deploy.placement.maxReplicasPerNode;
  if (max !== null && (load.perService.get(service.name) ?? 0) >= max) return 'max-per-node';
  if (bindings(service).some((binding) => portTaken(load.ports, binding))) return 'port';
  if (unmetRequirement(load.engineVersion, engineRequirements(service)) !== null) return 'engine';
  return null;
}

export type Refusal = 'constraints' | 'max-per-node' | 'port' | 'engine' | 'cordoned';

/** A binding on 0.0.0.0 collides with the same port on any address, and the other way round. */
function portTaken(taken: ReadonlySet<string>, binding: string): boolean {
  if (taken.has(binding)) return true;
  const [address, rest] = splitBinding(binding);
  if (address === '0.0.0.0') {
    const suffix = `:${rest}`;
    for (const other of taken) if (other.endsWith(suffix)) return true;
    return false;
  }
  return taken.has(`0.0.0.0:${rest}`);
}

function splitBinding(binding: string): [string, string] {
  const at = binding.lastIndexOf(':', binding.indexOf('/'));
  return [binding.slice(0, at), binding.slice(at + 1)];
}

/**
 * The host for a new replica: among those that can take it, first the spread of
 * `placement.preferences` (`spread.ts`), then the one with the fewest replicas of this service,
 * then the fewest new containers in this plan (hosts create in parallel: replicas moved off a
 * dead host come back sooner spread over every host left), then the fewest containers, then by
 * name. Or why none can. `exclude` (the host a replica moves off) counts in the spread but is
 * not a candidate. `spread` says how the preferences chose, for the action's reason.
 */
export function choose(
  loads: readonly HostLoad[],
  service: Service,
  exclude: HostLoad | null = null,
): { host: HostLoad; spread: string | null } | { reason: string } {
  const refused = new Map<Refusal, number>();
  const eligible = new Set<HostLoad>();
  for (const load of loads) {
    if (load === exclude) continue;
    const why = load.cordon ? 'cordoned' : refusal(load, service);
    if (why) refused.set(why, (refused.get(why) ?? 0) + 1);
    else eligible.add(load);
  }
  if (eligible.size === 0)
    return { reason: noHostReason(loads.length - (exclude ? 1 : 0), refused, service) };
  const { constraints, preferences } = service.deploy.placement;
  const members = loads.filter((load) => matchesConstraints(load, constraints));
  const spread = spreadOver(members, eligible, preferences, service.name);
  let best: HostLoad | null = null;
  for (const load of spread.hosts) if (best === null || better(load, best, service.name)) best = load;
  return { host: best!, spread: spread.text };
}

function better(a: HostLoad, b: HostLoad, service: string): boolean {
  const replicas = (a.perService.get(service) ?? 0) - (b.perService.get(service) ?? 0);
  if (replicas !== 0) return replicas < 0;
  if (a.creations !== b.creations) return a.creations < b.creations;
  if (a.containers !== b.containers) return a.containers < b.containers;
  return a.name < b.name;
}

function noHostReason(usable: number, refused: ReadonlyMap<Refusal, number>, service: Service): string {
  if (usable === 0) return 'no eligible host: no host is reachable';
  const parts: string[] = [];
  const constraints = refused.get('constraints');
  if (constraints) {
    const text = service.deploy.placement.constraints.map((constraint) => constraint.text).join(' && ');
    parts.push(`${hosts(constraints)} not match ${text}`);
  }
  const max = refused.get('max-per-node');
  if (max)
    parts.push(
      `${hosts(max, 'already run')} max_replicas_per_node (${service.deploy.placement.maxReplicasPerNode})`,
    );
  const port = refused.get('port');
  if (port) parts.push(`${hosts(port, 'already publish')} port ${publishedPorts(service).join(', ')}`);
  const cordoned = refused.get('cordoned');
  if (cordoned) parts.push(`${hosts(cordoned, 'are')} cordoned (paused, draining or under pressure)`);
  const engine = refused.get('engine');
  if (engine) parts.push(`${hosts(engine, 'run')} an older engine: ${engineNeeds(service)}`);
  return `no eligible host: ${parts.join('; ')}`;
}

/** What the service needs of an engine, for a refusal: the newest requirement says it all. */
function engineNeeds(service: Service): string {
  const needs = [...engineRequirements(service)].sort((a, b) => b.docker - a.docker);
  return needs.map(describeRequirement).join(', ');
}

/** The host ports the service publishes, each once. */
export function publishedPorts(service: Service): number[] {
  return [
    ...new Set(
      service.ports.flatMap((item) =>
        item.published === null || item.mode !== 'host' ? [] : [item.published],
      ),
    ),
  ];
}

/** `3 hosts do`, `1 host does`, `1 host already publishes`: the verb agrees with the count. */
function hosts(count: number, verb = 'do'): string {
  if (count !== 1) return `${count} hosts ${verb}`;
  if (verb === 'do') return '1 host does';
  if (verb === 'are') return '1 host is';
  return `1 host ${verb.replace(/(sh|ch|s|x)$/, '$1e')}s`;
}
