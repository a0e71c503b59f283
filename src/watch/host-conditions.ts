import {
  readConditions,
  readEngineSlow,
  trackConditions,
  type ConditionReading,
  type ConditionType,
  type EngineSample,
  type HostCondition,
} from '../planner/conditions.js';
import type { Observed, ObservedHost } from '../planner/observed.js';
import type { Plan } from '../planner/plan-types.js';
import { CONDITIONS_DEFAULTS } from '../spec/normalize-conditions.js';
import type { Availability, ConditionsConfig, Stack } from '../spec/types.js';
import type { Metrics } from './metrics.js';

/**
 * The conditions of each host as the daemon tracked them across looks, kept per daemon (in
 * memory: a restarted heal counts a condition's grace again, which only delays a cordon).
 */
const TRACKED = new WeakMap<object, Map<string, HostCondition[]>>();

/**
 * Folds this look's readings into what the daemon knew: every look reads the hosts afresh, so
 * the plan made from it acts on conditions read right before acting. A host not read this time
 * (unreachable) keeps what was known; one whose probe failed or is not read (tcp://) keeps what
 * the probe showed, and its EngineSlow is read from the heartbeat's samples alone.
 */
export function trackHostConditions(
  owner: object,
  stack: Stack,
  observed: Observed,
  now: number,
  samples?: { of(host: string): readonly EngineSample[] },
): Record<string, HostCondition[]> {
  const config = stack.heal.conditions ?? CONDITIONS_DEFAULTS;
  const known = TRACKED.get(owner) ?? new Map<string, HostCondition[]>();
  TRACKED.set(owner, known);
  const result: Record<string, HostCondition[]> = {};
  for (const host of observed.hosts) {
    const slow = samples ? readEngineSlow(samples.of(host.name), now, config.engineSlow) : null;
    const { reading, read } = readHost(host, config, slow);
    const next = trackConditions(known.get(host.name) ?? [], reading, now, config.recover, read);
    known.set(host.name, next);
    if (next.length > 0) result[host.name] = next;
  }
  return result;
}

/**
 * What one look read of a host: nothing when unreachable; EngineSlow alone (the rest kept as
 * known) when its probe failed or is not run; everything otherwise.
 */
function readHost(
  host: ObservedHost,
  config: ConditionsConfig,
  slow: ConditionReading | null,
): { reading: ConditionReading[] | null; read: 'all' | ConditionType[] } {
  if (!host.reachable) return { reading: null, read: 'all' };
  const engine = slow ? [slow] : [];
  const probe = host.probe;
  if (!probe || probe.error !== null) return { reading: engine, read: ['EngineSlow'] };
  return { reading: [...readConditions(probe, config), ...engine], read: 'all' };
}

/** What the daemon last tracked, for /status and the page. */
export function trackedConditions(owner: object): Record<string, HostCondition[]> {
  return Object.fromEntries(TRACKED.get(owner) ?? []);
}

const REPORTED = new WeakMap<object, string>();
const LAST = new WeakMap<object, HostAvailabilityView[]>();

/** Each host's availability and conditions as the last look left them: `/status`, page and metrics. */
export type HostAvailabilityView = {
  readonly host: string;
  readonly availability: Availability;
  readonly draining: boolean;
  readonly reason: string | null;
  readonly conditions: readonly HostCondition[];
};

/** What the last look found, for `/status` (empty before the first). */
export function hostAvailability(owner: object): readonly HostAvailabilityView[] {
  return LAST.get(owner) ?? [];
}

/**
 * Logs where the hosts stand when it changes (cordoned, draining, a drain refused, active again),
 * once per change rather than at every look.
 */
export function reportStandings(
  owner: object,
  stack: Stack,
  made: Plan,
  log: { warn(fields: object, message: string): void; info(fields: object, message: string): void },
  metrics?: Pick<Metrics, 'setHostAvailability'>,
): void {
  const refused = made.warnings.filter((warning) => warning.startsWith('drain of '));
  const standings = made.standings ?? [];
  const tracked = trackedConditions(owner);
  const views = Object.keys(stack.heal.hosts)
    .sort()
    .map((host): HostAvailabilityView => {
      const standing = standings.find((item) => item.host === host);
      return {
        host,
        availability: standing?.availability ?? 'active',
        draining: standing?.draining ?? false,
        reason: standing?.reason ?? null,
        conditions: tracked[host] ?? [],
      };
    });
  LAST.set(owner, views);
  metrics?.setHostAvailability?.(stack.name, views);
  const text = JSON.stringify([
    standings.map((item) => [item.host, item.availability, item.draining]),
    refused,
  ]);
  if (REPORTED.get(owner) === text) return;
  const before = REPORTED.get(owner);
  REPORTED.set(owner, text);
  for (const item of standings)
    log.warn(
      { stack: stack.name, host: item.host, availability: item.availability, reason: item.reason },
      item.draining ? 'host draining' : 'host cordoned',
    );
  for (const reason of refused) log.warn({ stack: stack.name, reason }, 'drain refused');
  if (standings.length === 0 && before !== undefined) log.info({ stack: stack.name }, 'every host active');
}
