import { toObserved } from '../executor/observe.js';
import type { Fleet } from '../executor/fleet.js';
import type { HostClient } from '../executor/host-client.js';
import type { ObservedContainer } from '../planner/observed.js';
import { LABEL } from '../planner/labels.js';
import type { Stack } from '../spec/types.js';

/** A replica of the stack on one host: what `logs` reads and `exec` enters. */
export type Replica = ObservedContainer & { readonly service: string; readonly slot: number };

/**
 * The stack's replicas on one host, of `services` (every service when empty): one list call.
 * Mesh proxies and one-offs are no replicas.
 */
export async function replicasOn(
  client: HostClient,
  stack: Stack,
  services: readonly string[],
  now: number,
): Promise<Replica[]> {
  const list = await client.call('listContainers', (docker, abortSignal) =>
    docker.listContainers({ all: true, filters: { label: [`${LABEL.stack}=${stack.name}`] }, abortSignal }),
  );
  return list
    .map((container) => toObserved(client.host.name, container, now))
    .filter(
      (container): container is Replica =>
        container.service !== null &&
        container.slot !== null &&
        container.labels[LABEL.role] === undefined &&
        (services.length === 0 || services.includes(container.service)),
    );
}

/** `web.3`, or `web.h1` for a global service's replica: how a replica is named to people. */
export function replicaName(replica: Pick<Replica, 'service' | 'slot' | 'host'>): string {
  return `${replica.service}.${replica.slot === 0 ? replica.host : replica.slot}`;
}

/** Refuses service names the spec does not have, each named, before any host is asked. */
export function unknownServices(stack: Stack, services: readonly string[]): string | null {
  const unknown = services.filter((service) => !(service in stack.services));
  if (unknown.length === 0) return null;
  const known = Object.keys(stack.services).sort().join(', ');
  return `${unknown.map((name) => `"${name}"`).join(', ')}: no such service in ${stack.file} (it has ${known})`;
}

/** The replicas of `services` on every host that answers, and the hosts that did not (with why). */
export async function replicasEverywhere(
  stack: Stack,
  reach: Fleet['reach'],
  services: readonly string[],
  now: number,
): Promise<{
  readonly replicas: Replica[];
  readonly clients: Map<string, HostClient>;
  readonly silent: string[];
}> {
  const clients = new Map<string, HostClient>();
  const silent: string[] = [];
  const lists = await Promise.all(
    Object.values(stack.heal.hosts).map(async (host) => {
      const reached = await reach(host);
      try {
        if ('error' in reached) throw reached.error;
        clients.set(host.name, reached.client);
        return await replicasOn(reached.client, stack, services, now);
      } catch (error) {
        silent.push(`${host.name}: ${error instanceof Error ? error.message : String(error)}`);
        return [];
      }
    }),
  );
  return { replicas: lists.flat(), clients, silent: silent.sort() };
}
