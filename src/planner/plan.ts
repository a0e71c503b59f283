import type { Service, Stack } from '../spec/types.js';
import { hasRole, isOneOff, LABEL } from './labels.js';
import type { Observed, ObservedContainer, ObservedHost } from './observed.js';
import {
  bindings,
  choose,
  hostLoad,
  matchesConstraints,
  occupy,
  place,
  publishedPorts,
  refusal,
  type HostLoad,
} from './placement.js';
import type { Plan, Unplaced } from './plan-types.js';
import { buildCreate, serviceSpecLabel, slotName, type CreateContext } from './create.js';
import { rebalance } from './rebalance.js';
import { drainMoves, standings } from './availability.js';
import type { HostCondition } from './conditions.js';
import { unpaused } from './drift.js';
import { holdDependents } from './jobs.js';
import { planMesh } from './mesh.js';
import { autoscaledStack, scaleNote, staleScales } from './autoscale.js';
import { driveStack, shortHash } from './rollout.js';
import { schedule, type Intent } from './schedule.js';
import { keyedStack, keyVolumes, needsStackKey, sealStackKey } from './stack-key.js';

export type PlanOptions = {
  /** Epoch ms: the generation of every container this plan creates. */
  readonly now: number;
  /** The spec's git revision, recorded on created containers. */
  readonly revision?: string | null;
  /** Allow a plan that removes every container of the stack. */
  readonly allowEmpty?: boolean;
  /** Remove the stack's named volumes no service uses any more (their data is lost). */
  readonly pruneVolumes?: boolean;
  /**
   * Hosts that stopped answering but are not yet declared down. A slot not seen elsewhere may
   * still run there, so it is not placed again until the host is down or answers.
   */
  readonly suspect?: readonly string[];
  /**
   * Per slot (`service.slot`), the earliest time heal may restart or replace a failed replica:
   * the daemon's crash backoff. Infinity: max_attempts reached, never again until the spec changes.
   */
  readonly notBefore?: Readonly<Record<string, number>>;
  /**
   * A fresh stack key (64 hex digits from a CSPRNG: `newStackKey()`), used only when a service
   * has secret material and no reachable host holds the stack's key: the plan then gives it to
   * every usable host. The planner makes no randomness, so a caller passes one to every plan of a
   * stack that may need it; planning such a stack without it is a bug and throws.
   */
  readonly freshStackKey?: string;
  /**
   * `x-heal.watch.rebalance` (the daemon passes it): move one replica per service at rest toward
   * an even spread (`rebalance.ts`). Off: a replica stays where it runs, as in Swarm.
   */
  readonly rebalance?: boolean;
  /**
   * The hosts' conditions as the daemon tracked them across looks (`trackConditions`): a
   * condition held for `x-heal.conditions.grace` cordons its host, for `drain_after` drains it.
   */
  readonly conditions?: Readonly<Record<string, readonly HostCondition[]>>;
};

type PlanContext = CreateContext & {
  readonly gate: RestartGate;
  /** Services whose rollout is paused, or returning to their previous config. */
  readonly paused: ReadonlySet<string>;
  readonly rollingBack: ReadonlySet<string>;
};

/** Restarts held back by backoff or restart_policy.delay, and when the first of them is due. */
type RestartGate = {
  readonly now: number;
  readonly notBefore: Readonly<Record<string, number>>;
  readonly waits: number[];
  readonly warnings: string[];
};

/**
 * desired + observed → the changes that make the hosts match the spec. Pure: no I/O, no clock,
 * no randomness; the same input gives the same plan. Acts only on containers that carry this
 * stack's labels (observe lists nothing else).
 */
export function plan(spec: Stack, observed: Observed, options: PlanOptions): Plan {
  const suspect = new Set(options.suspect ?? []);
  const usable = observed.hosts.filter((host) => host.reachable && !suspect.has(host.name)).sort(byName);
  const scaled = autoscaledStack(spec, observed);
  const keyed = keyedStack(scaled.stack, observed, options.freshStackKey);
  if (keyed.key === null && needsStackKey(spec))
    throw new Error('plan: the stack has secrets and no host holds its key: pass options.freshStackKey');
  const driven = driveStack(keyed.stack, usable);
  const desired = driven.stack;
  const loads = new Map(usable.map((host) => [host.name, hostLoad(host)]));
  const standing = standings(
    usable,
    options.conditions ?? {},
    spec.heal.conditions,
    options.now,
    spec.heal.hosts,
  );
  for (const [name, item] of standing)
    if (item.availability !== 'active') loads.get(name)!.cordon = item.reason;
  const intents: Intent[] = [];
  const unplaced: Unplaced[] = [];
  const warnings = [...observedWarnings(desired, observed, suspect), ...driven.warnings];
  const gate: RestartGate = { now: options.now, notBefore: options.notBefore ?? {}, waits: [], warnings };
  const context: PlanContext = {
    gate,
    paused: driven.paused,
    rollingBack: driven.rollingBack,
    previous: driven.previous,
    stack: desired,
    generation: String(options.now),
    revision: options.revision ?? null,
    names: new Map(
      usable.map((host) => [host.name, new Set(host.containers.map((container) => container.name))]),
    ),
  };

  const byService = groupContainers(usable, desired.name, warnings);
  const services = Object.values(desired.services).sort((a, b) => (a.name < b.name ? -1 : 1));

  // Pass 1: every replica that already runs keeps its place, so spreading counts it.
  const missing: { service: Service; slot: number }[] = [];
  const keeps: Keep[] = [];
  for (const service of services) {
    const slots = byService.get(service.name) ?? new Map<number, ObservedContainer[]>();
    byService.delete(service.name);
    if (service.deploy.mode === 'global') {
      const all = [...slots.values()].flat();
      for (const load of loads.values())
        keeps.push({ service, slot: 0, load, containers: all.filter((item) => item.host === load.name) });
      continue;
    }
    for (const [slot, containers] of [...slots].sort(([a], [b]) => a - b)) {
      // Slot 0 is a global service's: one left from before the service became replicated.
      if (slot < 1 || slot > service.deploy.replicas) {
        const why =
          slot < 1
            ? `${service.name} is replicated now: slot 0 was its global replica here`
            : `scaled down to ${service.deploy.replicas}${scaleNote(scaled.autoscaled, service.name)}`;
        for (const container of containers) intents.push(removal(service, container, why));
        continue;
      }
      keeps.push({ service, slot, load: null, containers });
    }
    for (let slot = 1; slot <= service.deploy.replicas; slot += 1) {
      if (!slots.has(slot)) missing.push({ service, slot });
    }
  }
  // A replica that runs as the spec says holds its host ports: those claim their hosts first, and
  // a stopped or outdated replica that finds its port taken moves instead. In each group, the
  // replicas that fit where they are count before any that no longer fit picks a new host.
  const holding = new Set(keeps.filter((keep) => holds(keep, loads)));
  for (const group of [[...holding], keeps.filter((keep) => !holding.has(keep))]) {
    const moves: Move[] = [];
    for (const keep of group) {
      if (keep.load !== null) {
        keepGlobal(keep.service, keep.load, keep.containers, loads, intents, unplaced, context);
        continue;
      }
      const kept = keepSlot(keep.service, keep.slot, keep.containers, loads, intents, context, moves);
      if (!kept) missing.push({ service: keep.service, slot: keep.slot });
    }
    // A replica that runs as the spec says keeps its host ports until it has somewhere to go:
    // another move must not pick its host for them first while it may have to stay.
    const reserved = new Map(moves.map((move) => [move, runsAsSpecified(move) ? reservePorts(move) : []]));
    for (const move of moves) moveSlot(move, reserved.get(move)!, loads, intents, unplaced, context);
  }

  // Pass 2: place what is missing, fewest replicas of the service first.
  if (suspect.size > 0 && missing.length > 0) {
    warnings.push(
      `${missing.length} slot(s) not seen: waiting for ${[...suspect].sort().join(', ')} to answer or be declared down`,
    );
  } else {
    for (const { service, slot } of missing.sort((a, b) =>
      a.service.name === b.service.name ? a.slot - b.slot : a.service.name < b.service.name ? -1 : 1,
    )) {
      const choice = choose([...loads.values()], service);
      if ('reason' in choice) {
        unplaced.push({ service: service.name, slot, reason: choice.reason });
        continue;
      }
      place(choice.host, service);
      intents.push(
        creation(
          context,
          service,
          slot,
          choice.host.name,
          withSpread(`slot ${slot} of ${service.deploy.replicas} is missing`, choice.spread),
        ),
      );
    }
  }

  // A drain moves nothing while a host is suspect: where its slots run is not known.
  const draining = [...standing.values()].find((item) => item.draining);
  if (draining && suspect.size === 0) {
    const drained = drainMoves({
      standing: draining,
      services,
      loads,
      intents,
      unplaced,
      maxParallel: spec.heal.conditions?.maxParallel ?? 1,
      now: options.now,
      context,
    });
    intents.push(...drained.intents);
    if (drained.refused) {
      warnings.push(drained.refused);
      standing.set(draining.host, { ...draining, draining: false });
    }
  }
  for (const item of standing.values())
    if (item.availability === 'drain' && draining && item.host !== draining.host)
      warnings.push(`${item.host} waits to drain: ${draining.host} drains first (one host at a time)`);

  if (options.rebalance && suspect.size === 0) {
    const held = new Set([...driven.paused, ...driven.rollingBack]);
    intents.push(...rebalance({ services, loads, intents, unplaced, held, context }));
  }

  // Services no longer in the spec.
  for (const [name, slots] of [...byService].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const containers of slots.values()) {
      for (const container of containers)
        intents.push(removal(null, container, `service ${name} is not in the spec`));
    }
  }

  // `heal down`: a one-off still there (heal run removes its own when it ends) goes with the stack.
  if (services.length === 0) {
    for (const container of usable.flatMap((host) => host.containers)) {
      if (isOneOff(container) && container.labels[LABEL.stack] === desired.name)
        intents.push(removal(null, container, 'a one-off of heal run'));
    }
  }

  const existing = usable.reduce(
    (count, host) =>
      count + host.containers.filter((container) => container.labels[LABEL.stack] === desired.name).length,
    0,
  );
  const remains = intents.some((intent) => intent.kind !== 'remove');
  if (!options.allowEmpty && existing > 0 && !remains) {
    return refusedPlan(
      desired,
      `this plan would remove all ${existing} containers of stack ${desired.name}; is the spec the right one? Pass --allow-empty to do it anyway`,
    );
  }

  const jobs = holdDependents(desired, usable, intents);
  const removed = new Set(
    jobs.intents.flatMap((intent) => (intent.kind === 'remove' ? [intent.container.id] : [])),
  );
  const mesh = planMesh({ stack: desired, observed, usable, removed });
  const made = schedule({
    mesh,
    stack: desired,
    usable,
    loads,
    intents: jobs.intents,
    unplaced: [...unplaced, ...jobs.unplaced],
    warnings,
    pruneVolumes: options.pruneVolumes === true,
    waitUntil: gate.waits.length > 0 ? Math.min(...gate.waits) : null,
    held: driven.held,
    rollingBack: driven.rollingBack,
    staleMarks: driven.stale,
    staleScales: staleScales(spec, usable),
    stackKeys: keyVolumes(spec, keyed.key, usable, options.pruneVolumes === true),
  });
  const notActive = [...standing.values()].filter((item) => item.availability !== 'active');
  return {
    ...made,
    actions: made.actions.map(sealStackKey),
    ...(scaled.autoscaled.length > 0 ? { autoscaled: scaled.autoscaled } : {}),
    ...(notActive.length > 0 ? { standings: notActive } : {}),
  };
}

type Slots = Map<number, ObservedContainer[]>;

function groupContainers(
  hosts: readonly ObservedHost[],
  stack: string,
  warnings: string[],
): Map<string, Slots> {
  const byService = new Map<string, Slots>();
  for (const host of hosts) {
    for (const container of host.containers) {
      if (container.labels[LABEL.stack] !== stack) continue;
      // A mesh proxy is no replica (planMesh looks after it), nor a one-off (heal run's own).
      if (hasRole(container)) continue;
      if (container.service === null || container.slot === null) {
        warnings.push(
          `${host.name}: container ${container.name} has the stack's label but no service or slot: left alone`,
        );
        continue;
      }
      const slots = byService.get(container.service) ?? new Map<number, ObservedContainer[]>();
      byService.set(container.service, slots);
      slots.set(container.slot, [...(slots.get(container.slot) ?? []), container]);
    }
  }
  return byService;
}

/**
 * The replica that keeps a slot, among every container found for it: on a host that still fits
 * the constraints, of the current config, running, newest generation. The others are removed.
 * One whose host no longer takes it goes to `moves`. Returns false when the slot needs a new
 * placement.
 */
function keepSlot(
  service: Service,
  slot: number,
  containers: readonly ObservedContainer[],
  loads: Map<string, HostLoad>,
  intents: Intent[],
  context: PlanContext,
  moves: Move[],
): boolean {
  const ranked = [...containers].sort((a, b) => rank(a, b, service, loads));
  const [keeper, ...rest] = ranked;
  for (const duplicate of rest)
    intents.push(removal(service, duplicate, `slot ${slot} also runs as ${keeper!.name} on ${keeper!.host}`));
  if (!keeper) return false;
  const load = loads.get(keeper.host)!;
  // Constraints, max_replicas_per_node and host ports, as for a new replica: a kept replica that
  // would bind a port another one holds here cannot run here either.
  if (refusal(load, service) !== null) {
    moves.push({ service, slot, keeper, load });
    return true;
  }
  occupy(load, service);
  intents.push(maintain(service, slot, keeper, context, context.gate));
  return true;
}

type Move = {
  readonly service: Service;
  readonly slot: number;
  readonly keeper: ObservedContainer;
  readonly load: HostLoad;
};

/**
 * A new replica elsewhere first, then the old one goes. When no host can take it, one that runs
 * as the spec says stays where it is; any other (stopped, outdated) would never run there: it is
 * removed and the slot reported unplaced.
 */
function moveSlot(
  { service, slot, keeper, load }: Move,
  reserved: readonly string[],
  loads: Map<string, HostLoad>,
  intents: Intent[],
  unplaced: Unplaced[],
  context: CreateContext,
): void {
  const choice = choose([...loads.values()], service, load);
  if ('reason' in choice && !runsAsSpecified({ service, keeper })) {
    intents.push(removal(service, keeper, `slot ${slot} cannot run on ${keeper.host}: ${choice.reason}`));
    unplaced.push({ service: service.name, slot, reason: choice.reason });
    return;
  }
  if ('reason' in choice) {
    occupy(load, service);
    intents.push({
      kind: 'unchanged',
      service,
      container: keeper,
      note: `slot ${slot} of ${service.name} should move off ${keeper.host} but ${choice.reason}`,
    });
    return;
  }
  for (const binding of reserved) load.ports.delete(binding);
  place(choice.host, service);
  intents.push(
    creation(
      context,
      service,
      slot,
      choice.host.name,
      withSpread(`slot ${slot} moves off ${keeper.host}: it no longer fits the placement`, choice.spread),
    ),
  );
  intents.push(removal(service, keeper, `slot ${slot} moved to ${choice.host.name}`));
}

function runsAsSpecified({ service, keeper }: Pick<Move, 'service' | 'keeper'>): boolean {
  return keeper.state === 'running' && keeper.configHash === service.configHash;
}

/**
 * A running replica's host ports, held on its host while it may stay there; returns those it
 * holds alone, to give back if it moves (another container may hold the same one).
 */
function reservePorts({ load, service }: Move): string[] {
  const free = bindings(service).filter((binding) => !load.ports.has(binding));
  for (const binding of free) load.ports.add(binding);
  return free;
}

/** A slot's containers (for a global service: those on one host), before one is kept. */
type Keep = {
  readonly service: Service;
  readonly slot: number;
  /** The host, for a global service. */
  readonly load: HostLoad | null;
  readonly containers: readonly ObservedContainer[];
};

/** Whether the container that keeps the slot runs with the current config, holding its ports. */
function holds(keep: Keep, loads: Map<string, HostLoad>): boolean {
  const [keeper] = [...keep.containers].sort((a, b) => rank(a, b, keep.service, loads));
  return keeper?.state === 'running' && keeper.configHash === keep.service.configHash;
}

/** A global service on one host: its one replica there, when the host can take it. */
function keepGlobal(
  service: Service,
  load: HostLoad,
  containers: readonly ObservedContainer[],
  loads: Map<string, HostLoad>,
  intents: Intent[],
  unplaced: Unplaced[],
  context: PlanContext,
): void {
  const here = [...containers].sort((a, b) => rank(a, b, service, loads));
  const why = refusal(load, service);
  const [keeper, ...rest] = why === null ? here : [];
  const taken = `${load.name} already publishes port ${publishedPorts(service).join(', ')}`;
  for (const container of why === null ? rest : here) {
    intents.push(
      removal(
        service,
        container,
        why === null
          ? `${load.name} runs ${service.name} twice`
          : why === 'port'
            ? taken
            : `${load.name} does not match the placement of ${service.name}`,
      ),
    );
  }
  if (why === 'port') unplaced.push({ service: service.name, slot: 0, reason: taken });
  if (why !== null) return;
  if (!keeper && load.cordon) return;
  occupy(load, service);
  intents.push(
    keeper
      ? maintain(service, 0, keeper, context, context.gate)
      : {
          kind: 'create',
          service,
          slot: 0,
          create: buildCreate(context, service, 0, load.name),
          reason: `global service: ${load.name} has no replica`,
        },
  );
}

/** What a kept container needs: nothing, a start, or a replacement. */
function maintain(
  service: Service,
  slot: number,
  container: ObservedContainer,
  context: PlanContext,
  gate: RestartGate,
): Intent {
  const outdated = container.configHash !== service.configHash;
  if (outdated && !context.paused.has(service.name)) {
    const keys = changedKeys(container, service);
    return replacement(
      service,
      slot,
      container,
      context,
      context.rollingBack.has(service.name)
        ? `rolling back to ${shortHash(service.configHash)}: ${keys}`
        : `config changed: ${keys}`,
    );
  }
  const unchanged: Intent = { kind: 'unchanged', service, container, note: null };
  const paused = unpaused(service, slot, container);
  if (paused) return paused;
  const failure = failed(service, container);
  if (failure === null) return unchanged;
  // A paused rollout leaves a replica of the other config as it is: restarted, never replaced.
  if (outdated && failure !== 'start')
    return { ...unchanged, note: `${container.name}: ${failure}; not replaced while the rollout is paused` };
  const due = Math.max(
    gate.notBefore[`${service.name}.${slot}`] ?? 0,
    container.state === 'exited' && container.finishedAt !== null
      ? container.finishedAt + service.deploy.restartPolicy.delay
      : 0,
  );
  if (due === Number.POSITIVE_INFINITY) {
    gate.warnings.push(
      `${service.name}.${slot}: restart_policy.max_attempts (${service.deploy.restartPolicy.maxAttempts}) reached: not restarted again until the spec changes`,
    );
    return unchanged;
  }
  if (due > gate.now) {
    gate.waits.push(due);
    return unchanged;
  }
  if (failure === 'start')
    return { kind: 'start', service, slot, container, reason: startReason(service, container) };
  return replacement(service, slot, container, context, failure);
}

/** Why a replica that still has its config needs a restart ('start') or a replacement (the reason), or null. */
function failed(service: Service, container: ObservedContainer): 'start' | string | null {
  if (container.state === 'dead') return 'the container is dead';
  if (container.state === 'running' && container.health === 'unhealthy') return 'the container is unhealthy';
  // Created by an apply that stopped before its start: the secret and config files it copies in
  // between may be missing, and a new container costs little more than a start.
  if (container.state === 'created') return 'created but never started (its files may be missing)';
  if (container.state !== 'exited') return null;
  const { condition } = service.deploy.restartPolicy;
  if (!(condition === 'any' || (condition === 'on-failure' && container.exitCode !== 0))) return null;
  // Docker's code for a start that failed (a mount or runtime error): starting it again fails
  // the same way, a new container does not.
  return container.exitCode === START_FAILED ? 'its start failed (exit 128)' : 'start';
}

const START_FAILED = 128;

function startReason(service: Service, container: ObservedContainer): string {
  return `exited with code ${container.exitCode ?? '?'}; restart_policy ${service.deploy.restartPolicy.condition}`;
}

function replacement(
  service: Service,
  slot: number,
  container: ObservedContainer,
  context: CreateContext,
  reason: string,
): Intent {
  // Only a mode: host port binds on the replica's host; an ingress one is the mesh proxy's.
  const publishes = service.ports.some((port) => port.published !== null && port.mode === 'host');
  const wanted = service.deploy.updateConfig.order;
  // Two containers cannot bind one host port: start-first becomes stop-first for such a slot.
  const order = wanted === 'start-first' && publishes ? 'stop-first' : wanted;
  const note = order !== wanted ? ' (stop-first: start-first would bind its host port twice)' : '';
  const freed = order === 'stop-first' ? container.name : null;
  const create = buildCreate(context, service, slot, container.host, freed);
  // start-first: the new container stands beside the old under another name, and takes the
  // slot's own name (a container_name others may reach it by) once the old is gone.
  const name = slotName(context.stack, service, slot, container.host);
  const rename = create.query.name !== name && container.name === name ? name : null;
  return { kind: 'replace', service, slot, container, order, create, rename, reason: reason + note };
}

function creation(
  context: CreateContext,
  service: Service,
  slot: number,
  host: string,
  reason: string,
): Intent {
  return { kind: 'create', service, slot, create: buildCreate(context, service, slot, host), reason };
}

/** A reason, with how `placement.preferences` chose the host when they did. */
export function withSpread(reason: string, spread: string | null): string {
  return spread === null ? reason : `${reason}; ${spread}`;
}

function removal(service: Service | null, container: ObservedContainer, reason: string): Intent {
  return { kind: 'remove', service, container, reason };
}

/** Which top-level keys of the service differ from what the container was made from. */
function changedKeys(container: ObservedContainer, service: Service): string {
  const before = container.labels[LABEL.spec];
  if (!before) return 'made by another heal version';
  try {
    const old = JSON.parse(before) as Record<string, unknown>;
    const now = JSON.parse(serviceSpecLabel(service)) as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(old), ...Object.keys(now)])].filter(
      (key) => JSON.stringify(old[key]) !== JSON.stringify(now[key]),
    );
    return keys.length > 0 ? keys.sort().join(', ') : 'secret or config content';
  } catch {
    return 'unreadable label';
  }
}

/** Best keeper first. */
function rank(
  a: ObservedContainer,
  b: ObservedContainer,
  service: Service,
  loads: Map<string, HostLoad>,
): number {
  const fits = (container: ObservedContainer): number => {
    const load = loads.get(container.host);
    return load && matchesConstraints(load, service.deploy.placement.constraints) ? 0 : 1;
  };
  // A replica that serves now beats one that does not yet (or no longer), even of an older
  // config: an interrupted rollout then finishes by replacing it in batches, never by dropping
  // a serving replica for one that has not proved healthy.
  const serving = (container: ObservedContainer): number =>
    container.state === 'running' && (container.health === 'healthy' || container.health === 'none') ? 0 : 1;
  return (
    fits(a) - fits(b) ||
    serving(a) - serving(b) ||
    Number(a.configHash !== service.configHash) - Number(b.configHash !== service.configHash) ||
    Number(a.state !== 'running') - Number(b.state !== 'running') ||
    generation(b) - generation(a) ||
    b.createdAt - a.createdAt ||
    (a.id < b.id ? -1 : 1)
  );
}

function generation(container: ObservedContainer): number {
  const value = Number(container.labels[LABEL.generation]);
  return Number.isFinite(value) ? value : 0;
}

function observedWarnings(desired: Stack, observed: Observed, suspect: ReadonlySet<string>): string[] {
  return observed.hosts
    .filter((host) => !host.reachable)
    .sort(byName)
    .map((host) =>
      suspect.has(host.name)
        ? `${host.name} is not answering (${host.error ?? 'unknown'}): its replicas stay until it is declared down`
        : `${host.name} is unreachable (${host.error ?? 'unknown'}): its replicas are placed elsewhere, and any that still run there are removed once it answers`,
    )
    .concat(
      Object.keys(desired.heal.hosts).length === 0 ? ['x-heal.hosts is empty: there is nowhere to run'] : [],
    );
}

function refusedPlan(desired: Stack, refused: string): Plan {
  return {
    stack: desired.name,
    actions: [],
    phases: [],
    summary: {},
    unplaced: [],
    warnings: [],
    refused,
    waitUntil: null,
    rollouts: [],
    held: [],
  };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
