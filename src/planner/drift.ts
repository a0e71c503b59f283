import type { Service } from '../spec/types.js';
import type { ObservedContainer } from './observed.js';
import type { Intent } from './schedule.js';

/**
 * A replica paused by hand (`docker pause`) is drift like any other: heal put it there running,
 * so it is unpaused, at once and with no backoff (a pause is not a crash). Null for any other state.
 */
export function unpaused(service: Service, slot: number, container: ObservedContainer): Intent | null {
  if (container.state !== 'paused') return null;
  return { kind: 'unpause', service, slot, container, reason: 'paused by hand; heal runs it' };
}
