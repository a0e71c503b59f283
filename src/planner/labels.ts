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
  /** On the stack key's volume: the key, which only the hosts hold (see planner/stack-key.ts). */
  key: 'io.heal.key',
  /** `mesh-proxy` on a routing mesh proxy (src/mesh): a container of the service that is no replica. */
  role: 'io.heal.role',
} as const;

export const MESH_PROXY_ROLE = 'mesh-proxy';
