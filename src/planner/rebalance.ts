import type { Service } from '../spec/types.js';
import { buildCreate, type CreateContext } from './create.js';
import type { ObservedContainer } from './observed.js';
import { choose, matchesConstraints, place, type HostLoad } from './placement.js';
import type { Unplaced } from './plan-types.js';
import type { Intent } from './schedule.js';
import { labelValue } from './spread.js';

export type RebalanceInput = {
  readonly services: readonly Service[];
  /** Every usable host, filled with what the plan keeps and places. */
  readonly loads: ReadonlyMap<string, HostLoad>;
  /** What the plan already decided: a service with anything to do is not rebalanced. */
  readonly intents: readonly Intent[];
  readonly unplaced: readonly Unplaced[];
  /** Services whose rollout is paused or rolling back. */
  readonly held: ReadonlySet<string>;
  readonly context: CreateContext;
};

/**
 * `x-heal.watch.rebalance`: moves one replica per service back toward an even spread, when a host
 * returned or was added and now runs fewer than its share. Only a service that is otherwise at
 * rest is moved: every replica running the current config and healthy (or without a
 * healthcheck), nothing to create, start, replace or remove, nothing unplaced, no rollout held.
 * A move creates the slot on the host a new replica would go to (constraints, max_replicas_per_node,
 * ports and `placement.preferences` as for any placement), and removes the old replica only
 * once the new one is healthy (`after`): start-first, so the service never runs fewer healthy
 * replicas than before. The move is made only when it makes the spread strictly more even, so
 * moves stop once it is even and never go back and forth. One slot per service per plan: the
 * next reconcile sees the result and moves the next one.
 */
export function rebalance(input: RebalanceInput): Intent[] {
  const intents: Intent[] = [];
  for (const service of input.services) {
    const replicas = atRest(service, input);
    if (replicas === null) continue;
    const move = bestMove(service, replicas, input.loads);
    if (move === null) continue;
    const { container, from, to, spread } = move;
    const slot = container.slot!;
    const why = `rebalance: slot ${slot} moves from ${from.name} (${count(from, service)} replicas of ${service.name}) to ${to.name} (${count(to, service)})`;
    place(to, service);
    from.perService.set(service.name, count(from, service) - 1);
    const create = buildCreate(input.context, service, slot, to.name);
    intents.push({
      kind: 'create',
      service,
      slot,
      create,
      reason: spread === null ? why : `${why}; ${spread}`,
    });
    intents.push({
      kind: 'remove',
      service,
      container,
      reason: `rebalance: slot ${slot} moves to ${to.name}, removed once it is healthy there`,
      after: { host: to.name, name: create.query.name },
    });
  }
  return intents;
}

function count(load: HostLoad, service: Service): number {
  return load.perService.get(service.name) ?? 0;
}

/** The service's replicas when it is at rest (see above), else null. */
function atRest(service: Service, input: RebalanceInput): ObservedContainer[] | null {
  if (service.deploy.mode === 'global' || input.held.has(service.name)) return null;
  if (input.unplaced.some((item) => item.service === service.name)) return null;
  const replicas: ObservedContainer[] = [];
  for (const intent of input.intents) {
    if (intent.service?.name !== service.name) continue;
    if (intent.kind !== 'unchanged' || intent.note !== null) return null;
    const { container } = intent;
    const healthy = container.health === 'healthy' || container.health === 'none';
    if (container.state !== 'running' || !healthy || container.configHash !== service.configHash) return null;
    replicas.push(container);
  }
  return replicas.length === service.deploy.replicas ? replicas : null;
}

type Move = {
  readonly container: ObservedContainer;
  readonly from: HostLoad;
  readonly to: HostLoad;
  readonly spread: string | null;
};

/**
 * Tries the hosts that run the most replicas first: without one of its replicas, where would a
 * new one go, and would that be more even? The first that is gives the move.
 */
function bestMove(
  service: Service,
  replicas: readonly ObservedContainer[],
  loads: ReadonlyMap<string, HostLoad>,
): Move | null {
  const all = [...loads.values()];
  const count = (load: HostLoad): number => load.perService.get(service.name) ?? 0;
  const sources = all
    .filter((load) => count(load) > 0)
    .sort((a, b) => count(b) - count(a) || (a.name < b.name ? 1 : -1));
  for (const from of sources) {
    const container = replicas.filter((item) => item.host === from.name).sort((a, b) => b.slot! - a.slot!)[0];
    if (!container) continue;
    from.perService.set(service.name, count(from) - 1);
    const choice = choose(all, service, from);
    const better = 'host' in choice && moreEven(from, choice.host, all, service);
    from.perService.set(service.name, count(from) + 1);
    if (better && 'host' in choice) return { container, from, to: choice.host, spread: choice.spread };
  }
  return null;
}

/**
 * Whether one more replica on `to` and one less on `from` (already taken off its count) evens
 * the spread: at the first preference whose label tells them apart, `to`'s group runs fewer than
 * `from`'s would without it; when none does, the same for the two hosts.
 */
function moreEven(from: HostLoad, to: HostLoad, loads: readonly HostLoad[], service: Service): boolean {
  const count = (load: HostLoad): number => load.perService.get(service.name) ?? 0;
  const { constraints, preferences } = service.deploy.placement;
  let group = loads.filter((load) => matchesConstraints(load, constraints) || load === from);
  for (const { spread: key } of preferences) {
    const fromValue = labelValue(from, key);
    const toValue = labelValue(to, key);
    if (fromValue !== toValue) {
      const sum = (value: string | null): number =>
        group
          .filter((load) => labelValue(load, key) === value)
          .reduce((total, load) => total + count(load), 0);
      return sum(toValue) < sum(fromValue);
    }
    group = group.filter((load) => labelValue(load, key) === fromValue);
  }
  return count(to) < count(from);
}
