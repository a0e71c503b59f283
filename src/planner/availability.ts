import type { Availability, ConditionsConfig, Service } from '../spec/types.js';
import { CONDITIONS_DEFAULTS } from '../spec/normalize-conditions.js';
import type { HostCondition } from './conditions.js';
import { buildCreate, type CreateContext } from './create.js';
import { hasRole } from './labels.js';
import type { ObservedContainer, ObservedHost } from './observed.js';
import { choose, place, type HostLoad } from './placement.js';
import type { Unplaced } from './plan-types.js';
import type { Intent } from './schedule.js';

/** Where a host stands: what it takes, and why. */
export type Standing = {
  readonly host: string;
  /** active: takes work; pause: cordoned, keeps what it runs; drain: cordoned, its work moves off. */
  readonly availability: Availability;
  /** Why it is not active, in a sentence; null when active. */
  readonly reason: string | null;
  /** Epoch ms from which the drain counts (its deadline and which host drains first); null unless drain. */
  readonly drainSince: number | null;
  /** Epoch ms after which what is left moves stop-first; null: never. */
  readonly deadline: number | null;
  /** Whether this host is the one being drained now (never more than one). */
  readonly draining: boolean;
};

/**
 * The standing of every host: the strictest of the spec's `availability`, the operator's mark
 * (`heal hosts drain|pause`) and the conditions (cordon after `grace`, drain after `drain_after`).
 * A condition still counts until clear for `recover`. One host drains at a time: the one whose
 * drain began first (then by name); the others wanting it stay cordoned.
 */
export function standings(
  hosts: readonly ObservedHost[],
  conditions: Readonly<Record<string, readonly HostCondition[]>>,
  config: ConditionsConfig = CONDITIONS_DEFAULTS,
  now: number,
  spec: Readonly<Record<string, { readonly availability?: Availability }>> = {},
): Map<string, Standing> {
  const found = new Map<string, Standing>();
  for (const host of hosts) {
    const reasons: string[] = [];
    let availability: Availability = 'active';
    let drainSince: number | null = null;
    let deadline: number | null = null;
    const want = (level: Availability, why: string, since: number | null, until: number | null): void => {
      reasons.push(why);
      if (level === 'drain' && (availability !== 'drain' || (since ?? 0) < (drainSince ?? Infinity))) {
        drainSince = since ?? 0;
        deadline = until;
      }
      if (level === 'drain' || availability === 'active') availability = level;
    };
    const written = (spec[host.name] ?? host.host).availability ?? 'active';
    if (written !== 'active') want(written, `availability: ${written} in the spec`, 0, null);
    const mark = host.availabilityMark;
    if (mark) {
      const until = mark.deadline === null ? '' : ` (deadline ${new Date(mark.deadline).toISOString()})`;
      want(mark.availability, `heal hosts ${mark.availability}${until}`, mark.since, mark.deadline);
    }
    for (const condition of conditions[host.name] ?? []) {
      const clear = condition.clearedAt !== null;
      if (clear && now - condition.clearedAt! >= config.recover) continue;
      const held = now - condition.since;
      if (held < config.grace) continue;
      const what = `${condition.type} for ${seconds(held)} (${condition.message}${clear ? `; clear for ${seconds(now - condition.clearedAt!)}, takes work again after ${seconds(config.recover)}` : ''})`;
      const drains = !clear && config.drainAfter !== null && held >= config.drainAfter;
      if (drains) {
        const since = condition.since + config.drainAfter!;
        want('drain', what, since, since + config.deadline);
      } else want('pause', what, null, null);
    }
    found.set(host.name, {
      host: host.name,
      availability,
      reason: reasons.length === 0 ? null : reasons.join('; '),
      drainSince,
      deadline,
      draining: false,
    });
  }
  // One host at a time: the first whose drain began that still runs replicas; an emptied one is done.
  const first = [...found.values()]
    .filter((standing) => standing.availability === 'drain')
    .filter((standing) => hosts.some((host) => host.name === standing.host && runsReplicas(host)))
    .sort((a, b) => a.drainSince! - b.drainSince! || (a.host < b.host ? -1 : 1))[0];
  if (first) found.set(first.host, { ...first, draining: true });
  return found;
}

function runsReplicas(host: ObservedHost): boolean {
  return host.containers.some((container) => !hasRole(container) && (container.slot ?? 0) > 0);
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

export type DrainInput = {
  readonly standing: Standing;
  readonly services: readonly Service[];
  readonly loads: ReadonlyMap<string, HostLoad>;
  /** What the plan already decided: a service with anything else to do moves nothing this time. */
  readonly intents: readonly Intent[];
  readonly unplaced: readonly Unplaced[];
  readonly maxParallel: number;
  readonly now: number;
  readonly context: CreateContext;
};

export type Drained = { readonly intents: Intent[]; readonly refused: string | null };

/**
 * Moves replicas off the draining host, Nomad's migrate with Swarm's words: up to `maxParallel`
 * replicas of each service per plan, each created on the host a new replica would go to and
 * removed from the drained host only once the new one runs healthy (`after`: start-first, and
 * in the mesh before the old leaves it). Past the deadline, what is left moves stop-first.
 * Refused, moving nothing, when the other hosts could not take every replica the host runs;
 * global services and what heal does not own stay.
 */
export function drainMoves(input: DrainInput): Drained {
  const { standing, loads } = input;
  const from = loads.get(standing.host);
  if (!from) return { intents: [], refused: null };
  const staying = input.intents.flatMap((intent) =>
    intent.service &&
    intent.service.deploy.mode !== 'global' &&
    (intent.kind === 'unchanged' || intent.kind === 'start' || intent.kind === 'replace') &&
    intent.container.host === standing.host &&
    !hasRole(intent.container)
      ? [{ service: intent.service, container: intent.container }]
      : [],
  );
  if (staying.length === 0) return { intents: [], refused: null };
  // Room for all of them elsewhere, or none moves: a half-drained host helps nobody.
  const trial = new Map([...loads].map(([name, load]) => [name, copyLoad(load)]));
  for (const { service, container } of staying) {
    const choice = choose([...trial.values()], service, trial.get(standing.host)!);
    if ('reason' in choice)
      return {
        intents: [],
        refused: `drain of ${standing.host} refused: the other hosts cannot take ${service.name}.${container.slot} (${choice.reason}); ${standing.host} stays cordoned`,
      };
    place(choice.host, service);
  }
  const late = standing.deadline !== null && input.now >= standing.deadline;
  const intents: Intent[] = [];
  for (const service of input.services) {
    if (!atRest(service, input)) continue;
    const mine = staying
      .filter((item) => item.service === service)
      .map((item) => item.container)
      .sort((a, b) => a.slot! - b.slot!)
      .slice(0, input.maxParallel);
    for (const container of mine) {
      const choice = choose([...loads.values()], service, from);
      if ('reason' in choice) continue;
      const slot = container.slot!;
      place(choice.host, service);
      from.perService.set(service.name, (from.perService.get(service.name) ?? 1) - 1);
      const create = buildCreate(input.context, service, slot, choice.host.name);
      const why = `drain ${standing.host} (${standing.reason ?? 'drain'})`;
      intents.push({
        kind: 'create',
        service,
        slot,
        create,
        reason: `${why}: slot ${slot} of ${service.name} moves to ${choice.host.name}${choice.spread ? `; ${choice.spread}` : ''}`,
      });
      intents.push({
        kind: 'remove',
        service,
        container,
        reason: late
          ? `${why}: the drain's deadline passed: slot ${slot} leaves ${standing.host} without waiting for ${choice.host.name}`
          : `${why}: slot ${slot} moves to ${choice.host.name}, removed once it is healthy there`,
        ...(late ? {} : { after: { host: choice.host.name, name: create.query.name } }),
      });
    }
  }
  return { intents, refused: null };
}

/** Nothing else to do for the service in this plan: no rollout, restart or placement mixes in. */
function atRest(service: Service, input: DrainInput): boolean {
  if (input.unplaced.some((item) => item.service === service.name)) return false;
  return input.intents.every(
    (intent) =>
      intent.service?.name !== service.name ||
      (intent.kind === 'unchanged' && intent.note === null && running(intent.container)),
  );
}

function running(container: ObservedContainer): boolean {
  return container.state === 'running' && container.health !== 'unhealthy';
}

function copyLoad(load: HostLoad): HostLoad {
  return { ...load, perService: new Map(load.perService), ports: new Set(load.ports) };
}
