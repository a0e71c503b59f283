/**
 * The labels heal puts on every container it creates. They are heal's only state: what a
 * container belongs to, what it was made from, and what recovery needs to tell a stale replica
 * on a returning host from the live one.
 */
export const LABEL = {
  stack: 'io.heal.stack',
  service: 'io.heal.service',
  slot: 'io.heal.slot',
  configHash: 'io.heal.config-hash',
  revision: 'io.heal.revision',
  generation: 'io.heal.generation',
  /** The service as the spec said it (compose long form, secrets redacted): what `heal plan` diffs. */
  spec: 'io.heal.spec',
  /** The config this container's slot ran before it (hash and spec label): what a rollback returns to. */
  previousConfigHash: 'io.heal.previous-config-hash',
  previousSpec: 'io.heal.previous-spec',
  /** On a mark (a labelled volume): what became of a service's config, `rolled-back` or `paused`. */
  rollout: 'io.heal.rollout',
  /** On a mark: why, in a sentence. */
  reason: 'io.heal.reason',
  /** On a scale mark (a labelled volume): the replica count autoscaling chose, and when (epoch ms). */
  autoscale: 'io.heal.autoscale',
  autoscaleAt: 'io.heal.autoscale-at',
  /** On the stack key's volume: the key, which only the hosts hold (see planner/stack-key.ts). */
  key: 'io.heal.key',
  /**
   * On a container of a service that is no replica: `mesh-proxy` (src/mesh), `one-off` (`heal run`,
   * src/operate). Plans never count, replace or restart either.
   */
  role: 'io.heal.role',
  /** On an availability mark (`heal hosts drain|pause`): `pause` or `drain`, with when and until when. */
  availability: 'io.heal.availability',
  since: 'io.heal.since',
  deadline: 'io.heal.deadline',
} as const;

export const MESH_PROXY_ROLE = 'mesh-proxy';
export const ONE_OFF_ROLE = 'one-off';

/** A container of the stack that is no replica: a mesh proxy or a one-off (see `LABEL.role`). */
export function hasRole(container: { readonly labels: Readonly<Record<string, string>> }): boolean {
  return container.labels[LABEL.role] !== undefined;
}

export function isOneOff(container: { readonly labels: Readonly<Record<string, string>> }): boolean {
  return container.labels[LABEL.role] === ONE_OFF_ROLE;
}
