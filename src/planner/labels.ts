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
} as const;
