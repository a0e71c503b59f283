import type { HostLoad } from './placement.js';

/**
 * `placement.preferences: [{ spread: node.labels.KEY }, ...]`, as Swarm reads them: the hosts
 * that match the constraints are split by the first label's value (hosts without the label form
 * one group of their own), a new replica goes to the group that runs the fewest replicas of the
 * service, then the next preference splits that group the same way, and so on; within the last
 * group the usual host order decides. Replicas already running count, wherever they run among
 * those hosts; a group none of whose hosts can take one more (max_replicas_per_node, a port
 * taken) is passed over, so the spread is even within one between values whenever capacity
 * allows. A preference whose label no host has changes nothing.
 */
export function spreadOver(
  members: readonly HostLoad[],
  eligible: ReadonlySet<HostLoad>,
  preferences: readonly { readonly spread: string }[],
  service: string,
): { hosts: HostLoad[]; text: string | null } {
  let group = members;
  const steps: string[] = [];
  for (const { spread: key } of preferences) {
    const groups = groupBy(group, key, service);
    const open = groups.filter((item) => item.hosts.some((load) => eligible.has(load)));
    const chosen = open.reduce((best, item) => (item.replicas < best.replicas ? item : best));
    if (groups.length > 1) steps.push(describe(key, groups, chosen.value));
    group = chosen.hosts;
  }
  return {
    hosts: group.filter((load) => eligible.has(load)),
    text: steps.length > 0 ? `spread over ${steps.join(', then ')}` : null,
  };
}

/** A label's value on a host: `node.labels.KEY` from the spec, `engine.labels.KEY` from the engine. */
export function labelValue(load: HostLoad, key: string): string | null {
  const label = /^(node|engine)\.labels\.(.+)$/.exec(key);
  if (!label) return null;
  const labels = label[1] === 'engine' ? load.engineLabels : load.labels;
  return labels[label[2]!] ?? null;
}

export type SpreadGroup = {
  /** null: the hosts without the label. */
  readonly value: string | null;
  readonly hosts: readonly HostLoad[];
  /** Replicas of the service on those hosts. */
  readonly replicas: number;
};

/** The hosts split by one label's value, in value order, the hosts without it last. */
export function groupBy(hosts: readonly HostLoad[], key: string, service: string): SpreadGroup[] {
  const byValue = new Map<string | null, HostLoad[]>();
  for (const load of hosts) {
    const value = labelValue(load, key);
    byValue.set(value, [...(byValue.get(value) ?? []), load]);
  }
  return [...byValue]
    .sort(([a], [b]) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1))
    .map(([value, members]) => ({
      value,
      hosts: members,
      replicas: members.reduce((sum, load) => sum + (load.perService.get(service) ?? 0), 0),
    }));
}

/** `zone (a 2, b 1, no zone 2): b`: each value's replicas before this one, and the value chosen. */
function describe(key: string, groups: readonly SpreadGroup[], chosen: string | null): string {
  const name = key.replace(/^node\.labels\./, '');
  const shown = (value: string | null): string => value ?? `no ${name}`;
  const counts = groups.map((item) => `${shown(item.value)} ${item.replicas}`).join(', ');
  return `${name} (${counts}): ${shown(chosen)}`;
}
