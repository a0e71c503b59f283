import { hasSecretMaterial } from '../spec/hash.js';
import { isStackKey, stackKeyId, withStackKey } from '../spec/keyed-hash.js';
import type { Stack } from '../spec/types.js';
import { SECRET_PLACEHOLDER } from './create.js';
import { LABEL } from './labels.js';
import type { Observed, ObservedHost } from './observed.js';
import type { Action, VolumeCreate } from './plan-types.js';

/**
 * The stack key (`spec/keyed-hash.ts`) lives on the hosts, in the label of a small volume per
 * host, read by observe() with the stack's other volumes. The planner takes the key the hosts
 * hold; when none does and a service has secret material, it gives every usable host the fresh
 * key its caller passed (the planner makes no randomness).
 */
export type StackKey = { readonly key: string; readonly name: string };

export type Keyed = {
  /** The spec, each service with secret material under its keyed hash. */
  readonly stack: Stack;
  /** The key in force; null when no service needs one, or none is known (the spec stays unkeyed). */
  readonly key: StackKey | null;
};

/** `<stack>_heal-key_<12 digits of the key's digest>`: another key never takes the same name. */
export function keyVolumeName(stack: string, key: string): string {
  return `${stack}_heal-key_${stackKeyId(key)}`;
}

export function needsStackKey(stack: Stack): boolean {
  return Object.values(stack.services).some(hasSecretMaterial);
}

/**
 * The spec as its containers are hashed: keyed by the key the hosts hold, else by `fresh`. A
 * stack without secret material is returned as it is, so its plans never depend on a key.
 */
export function keyedStack(spec: Stack, observed: Observed, fresh?: string): Keyed {
  if (!needsStackKey(spec)) return { stack: spec, key: null };
  const held = keyOnHosts(spec.name, observed);
  const key =
    held ??
    (fresh !== undefined && isStackKey(fresh) ? { key: fresh, name: keyVolumeName(spec.name, fresh) } : null);
  return key === null ? { stack: spec, key: null } : { stack: withStackKey(spec, key.key), key };
}

/**
 * The key the reachable hosts hold. Hosts disagree only when someone tampered with the volumes (or
 * two partitions each made one): then the key most hosts hold wins, ties going to the first by
 * name, and the plan converges every host on it.
 */
function keyOnHosts(stack: string, observed: Observed): StackKey | null {
  const holders = new Map<string, number>();
  for (const host of observed.hosts) {
    if (!host.reachable) continue;
    const keys = new Set(
      host.stackKeys.flatMap((volume) => (volume.key !== null && isStackKey(volume.key) ? [volume.key] : [])),
    );
    for (const key of keys) holders.set(key, (holders.get(key) ?? 0) + 1);
  }
  const [best] = [...holders]
    .map(([key, count]) => ({ key, name: keyVolumeName(stack, key), count }))
    .sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return best ? { key: best.key, name: best.name } : null;
}

export type KeyVolumes = {
  readonly create: readonly {
    readonly host: string;
    readonly volume: string;
    readonly config: VolumeCreate;
    readonly reason: string;
  }[];
  readonly remove: readonly { readonly host: string; readonly volume: string; readonly reason: string }[];
};

/**
 * The key volumes the usable hosts need: the key in force where it is missing, and no other. When
 * no service needs a key, what the hosts hold stays, unless volumes are pruned (`heal down
 * --volumes`). A volume that holds another key under the name the key in force would take is
 * removed first; the key is given to that host by the next plan.
 */
export function keyVolumes(
  spec: Stack,
  key: StackKey | null,
  usable: readonly ObservedHost[],
  prune: boolean,
): KeyVolumes {
  if (key === null) {
    const reason = 'no service has secrets, and --prune-volumes';
    return {
      create: [],
      remove: prune
        ? usable.flatMap((host) =>
            host.stackKeys.map((volume) => ({ host: host.name, volume: volume.name, reason })),
          )
        : [],
    };
  }
  const users = Object.values(spec.services)
    .filter(hasSecretMaterial)
    .map((service) => service.name)
    .sort()
    .join(', ');
  const create: KeyVolumes['create'][number][] = [];
  const remove: KeyVolumes['remove'][number][] = [];
  for (const host of usable) {
    for (const volume of host.stackKeys) {
      if (volume.key !== key.key)
        remove.push({
          host: host.name,
          volume: volume.name,
          reason: `the stack key in force is ${key.name}`,
        });
    }
    const holds = host.stackKeys.some((volume) => volume.key === key.key);
    const taken = host.stackKeys.some((volume) => volume.name === key.name && volume.key !== key.key);
    if (holds || taken) continue;
    create.push({
      host: host.name,
      volume: key.name,
      config: { Name: key.name, Labels: { [LABEL.stack]: spec.name, [LABEL.key]: key.key } },
      reason: `the stack key: the config hash of ${users} (secrets) is keyed by it`,
    });
  }
  return { create, remove };
}

/**
 * The action that gives a host the key keeps it (the executor creates the volume from it), but
 * prints as JSON (`heal plan --json`, a log line) with `**secret**` in its place: the key beside
 * the hashes it made would be the very oracle it exists to prevent.
 */
export function sealStackKey(action: Action): Action {
  if (action.kind !== 'create-volume' || action.config.Labels[LABEL.key] === undefined) return action;
  const printed = {
    ...action,
    config: { ...action.config, Labels: { ...action.config.Labels, [LABEL.key]: SECRET_PLACEHOLDER } },
  };
  return Object.defineProperty({ ...action }, 'toJSON', { value: () => printed, enumerable: false });
}

/** Whether a plan gives a host the stack key: such a plan cannot be saved to a file. */
export function createsStackKey(plan: { readonly actions: readonly Action[] }): boolean {
  return plan.actions.some(
    (action) => action.kind === 'create-volume' && action.config.Labels[LABEL.key] !== undefined,
  );
}
