import type { Replica } from './targets.js';

export type ReplicaWanted = {
  readonly service: string;
  readonly slot: number | null;
  readonly host: string | null;
};

/** `web` or `web.3` (or `web.h1` for a global service's replica on h1). */
export function parseReplicaRef(ref: string): ReplicaWanted | { readonly error: string } {
  const dot = ref.lastIndexOf('.');
  if (dot < 0) return { service: ref, slot: null, host: null };
  const service = ref.slice(0, dot);
  const tail = ref.slice(dot + 1);
  if (/^\d+$/.test(tail)) return { service, slot: Number(tail), host: null };
  if (tail !== '') return { service, slot: 0, host: tail };
  return { error: `"${ref}": name a service, or a replica as SERVICE.SLOT` };
}

/**
 * The replica a command enters: running, of the slot and host asked for, healthy before
 * unhealthy, lowest slot first. A reason when there is none, saying what there is.
 */
export function chooseReplica(
  replicas: readonly Replica[],
  wanted: ReplicaWanted,
): Replica | { readonly error: string } {
  const mine = replicas.filter(
    (replica) =>
      replica.service === wanted.service &&
      (wanted.slot === null || replica.slot === wanted.slot) &&
      (wanted.host === null || replica.host === wanted.host),
  );
  const running = mine.filter((replica) => replica.state === 'running');
  const best = [...running].sort(
    (a, b) => rankHealth(a) - rankHealth(b) || a.slot - b.slot || (a.host < b.host ? -1 : 1),
  )[0];
  if (best) return best;
  const what = `${wanted.service}${wanted.slot === null ? '' : `.${wanted.slot}`}${wanted.host === null ? '' : ` on ${wanted.host}`}`;
  if (mine.length === 0) return { error: `no replica of ${what} is there` };
  const states = mine.map((replica) => `${replica.name} on ${replica.host} is ${replica.state}`).join('; ');
  return { error: `no replica of ${what} is running: ${states}` };
}

function rankHealth(replica: Replica): number {
  return replica.health === 'healthy' || replica.health === 'none'
    ? 0
    : replica.health === 'starting'
      ? 1
      : 2;
}
