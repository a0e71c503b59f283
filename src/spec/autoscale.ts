import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import { isPlainObject } from './parse.js';
import type { Milliseconds, Resources } from './types.js';

/**
 * `x-heal-autoscale` under a service: heal sets the service's replica count inside [min, max] by
 * what the routing mesh's proxies measure, HPA's way (`planner/autoscale.ts`). The count heal
 * chooses lives on the hosts; `deploy.replicas` (default `min`) is only where it starts.
 */
export type Autoscale = {
  readonly min: number;
  readonly max: number;
  /** Target mean response time through the mesh (ms); null: not a target. */
  readonly responseTime: Milliseconds | null;
  /** Target requests per second per running replica; null: not a target. */
  readonly requestsPerSecond: number | null;
  /** Target CPU per replica, in cores (Engine stats); null: not a target. */
  readonly cpu: UsageTarget | null;
  /** Target memory per replica, in bytes (Engine stats); null: not a target. */
  readonly memory: UsageTarget | null;
  /** How often the daemon decides (and how much data each decision reads). */
  readonly interval: Milliseconds;
  /** No change while |1 − measured/target| ≤ tolerance. */
  readonly tolerance: number;
  /** Most replicas one decision adds: the larger of `replicas` and `percent` % of the count. */
  readonly scaleUp: { readonly replicas: number; readonly percent: number };
  /** A scale-down takes the highest recommendation of this window (HPA's stabilization). */
  readonly scaleDownWindow: Milliseconds;
  /** No decision this long after the last change. */
  readonly cooldown: Milliseconds;
};

/**
 * A CPU or memory target per replica: `cpu: 0.5` (cores), `memory: 200Mi` (bytes), or a percent
 * of the replica's reservation, else its limit (`cpu: 70%`), which `amount` then works out.
 */
export type UsageTarget = {
  /** Cores or bytes per replica: what the measured mean per replica is compared with. */
  readonly amount: number;
  /** As written when a percent: the percent and what it is of; null: an amount as written. */
  readonly percent: { readonly value: number; readonly of: 'reservation' | 'limit' } | null;
};

export const AUTOSCALE_KEY = 'x-heal-autoscale';

export const AUTOSCALE_DEFAULTS = {
  interval: 15_000,
  tolerance: 0.1,
  scaleUp: { replicas: 4, percent: 100 },
  scaleDownWindow: 300_000,
  cooldown: 0,
} as const;

const KEYS = [
  'min',
  'max',
  'response_time',
  'requests_per_second',
  'cpu',
  'memory',
  'interval',
  'tolerance',
  'scale_up',
  'scale_down',
  'cooldown',
] as const;

export type AutoscaleFacts = {
  /** `deploy.replicas` or `scale` as written; null when the service sets neither. */
  readonly replicas: number | null;
  readonly global: boolean;
  /** Whether the routing mesh serves the service (its proxies are where the figures come from). */
  readonly mesh: boolean;
  /** `deploy.resources`: what a `cpu` or `memory` percent is of (the reservation, else the limit). */
  readonly resources: Pick<Resources, 'limits' | 'reservations'>;
};

/** Reads `x-heal-autoscale`; null when absent. Every mistake is recorded at its key path. */
export function normalizeAutoscale(
  check: Check,
  value: unknown,
  path: KeyPath,
  facts: AutoscaleFacts,
): Autoscale | null {
  if (value === undefined || value === null) return null;
  const raw = check.object(value, path, KEYS);
  if (!raw) return null;
  const at = (...keys: string[]): KeyPath => [...path, ...keys];
  if (facts.global)
    check.fail(path, 'cannot scale a service in deploy.mode: global (it runs one replica per host)', 'key');

  const minimum =
    raw.min === undefined
      ? check.fail(at('min'), 'is required: the fewest replicas')
      : raw.min === 0 || raw.min === '0'
        ? check.fail(at('min'), 'must be at least 1: scaling to zero is not built yet')
        : check.integer(raw.min, at('min'), { min: 1 });
  const maximum =
    raw.max === undefined
      ? check.fail(at('max'), 'is required: the most replicas')
      : check.integer(raw.max, at('max'), { min: 1 });
  if (minimum !== undefined && maximum !== undefined && minimum > maximum)
    check.fail(at('max'), `must be at least min (${minimum})`);
  if (
    facts.replicas !== null &&
    minimum !== undefined &&
    maximum !== undefined &&
    minimum <= maximum &&
    (facts.replicas < minimum || facts.replicas > maximum)
  )
    check.fail(
      path,
      `deploy.replicas (${facts.replicas}) must lie within min (${minimum}) and max (${maximum}): it is the count autoscaling starts from`,
      'key',
    );

  const responseTime =
    raw.response_time === undefined || raw.response_time === null
      ? null
      : positive(check, check.duration(raw.response_time, at('response_time'), 0), at('response_time'));
  const requestsPerSecond =
    raw.requests_per_second === undefined || raw.requests_per_second === null
      ? null
      : (check.number(raw.requests_per_second, at('requests_per_second'), { min: 0.001 }) ?? null);
  const cpu = readUsage(check, raw.cpu, at('cpu'), 'cpu', facts.resources);
  const memory = readUsage(check, raw.memory, at('memory'), 'memory', facts.resources);
  if (
    responseTime === null &&
    requestsPerSecond === null &&
    cpu === null &&
    memory === null &&
    raw.cpu === undefined &&
    raw.memory === undefined
  )
    check.fail(
      path,
      'needs a target: response_time (e.g. 200ms), requests_per_second, cpu or memory (per replica)',
      'key',
    );
  if ((responseTime !== null || requestsPerSecond !== null) && !facts.mesh && !facts.global)
    check.fail(
      path,
      'response_time and requests_per_second are measured by the routing mesh: publish a TCP port in ingress mode (the default) or list one in expose',
      'key',
    );

  const interval = check.duration(raw.interval, at('interval'), AUTOSCALE_DEFAULTS.interval);
  if (interval < 1_000) check.fail(at('interval'), 'must be at least 1s');
  const tolerance =
    raw.tolerance === undefined
      ? AUTOSCALE_DEFAULTS.tolerance
      : (check.number(raw.tolerance, at('tolerance'), { min: 0, max: 0.9 }) ?? AUTOSCALE_DEFAULTS.tolerance);
  const scaleUp = readScaleUp(check, raw.scale_up, at('scale_up'));
  const scaleDownWindow = readScaleDown(check, raw.scale_down, at('scale_down'));
  const cooldown = check.duration(raw.cooldown, at('cooldown'), AUTOSCALE_DEFAULTS.cooldown);
  if (minimum === undefined || maximum === undefined || minimum > maximum) return null;
  return {
    min: minimum,
    max: maximum,
    responseTime,
    requestsPerSecond,
    cpu,
    memory,
    interval,
    tolerance,
    scaleUp,
    scaleDownWindow,
    cooldown,
  };
}

const USAGE = {
  cpu: { field: 'cpus', amount: 'cores such as 0.5', unit: 'CPU' },
  memory: { field: 'memory', amount: 'bytes such as 200Mi', unit: 'memory' },
} as const;

/**
 * `cpu: 0.5` (cores) or `memory: 200Mi` (bytes) per replica, or a percent (`70%`) of the
 * replica's reservation, else its limit: refused when neither is set, as HPA refuses a
 * utilization target on a pod without requests.
 */
function readUsage(
  check: Check,
  value: unknown,
  path: KeyPath,
  kind: 'cpu' | 'memory',
  resources: AutoscaleFacts['resources'],
): UsageTarget | null {
  if (value === undefined || value === null) return null;
  const { field, amount, unit } = USAGE[kind];
  if (typeof value === 'string' && value.trim().endsWith('%')) {
    const percent = check.number(value.trim().slice(0, -1), path, { min: 1 });
    if (percent === undefined) return null;
    const reservation = resources.reservations[field];
    const limit = resources.limits[field];
    const base = reservation ?? limit;
    if (base === null || base <= 0) {
      check.fail(
        path,
        `is a percent of each replica's ${unit} reservation or limit, and the service sets neither: set deploy.resources.reservations.${field} (or limits.${field}), or give ${amount}`,
      );
      return null;
    }
    return {
      amount: (base * percent) / 100,
      percent: { value: percent, of: reservation !== null && reservation > 0 ? 'reservation' : 'limit' },
    };
  }
  const measured =
    kind === 'cpu' ? (check.number(value, path, { min: 0.001 }) ?? null) : check.bytes(value, path);
  if (measured === null) return null;
  if (measured <= 0) {
    check.fail(path, `must be above 0: ${amount}, or a percent such as 70%`);
    return null;
  }
  return { amount: measured, percent: null };
}

function positive(check: Check, ms: number, path: KeyPath): number | null {
  if (ms > 0) return ms;
  check.fail(path, 'must be a duration above 0, such as "200ms"');
  return null;
}

function readScaleUp(check: Check, value: unknown, path: KeyPath): Autoscale['scaleUp'] {
  if (value === undefined || value === null) return AUTOSCALE_DEFAULTS.scaleUp;
  const raw = isPlainObject(value) ? check.object(value, path, ['replicas', 'percent']) : undefined;
  if (!raw) {
    check.fail(path, 'must be a mapping such as { replicas: 4, percent: 100 }');
    return AUTOSCALE_DEFAULTS.scaleUp;
  }
  return {
    replicas:
      raw.replicas === undefined
        ? AUTOSCALE_DEFAULTS.scaleUp.replicas
        : (check.integer(raw.replicas, [...path, 'replicas'], { min: 1 }) ??
          AUTOSCALE_DEFAULTS.scaleUp.replicas),
    percent:
      raw.percent === undefined
        ? AUTOSCALE_DEFAULTS.scaleUp.percent
        : (check.number(raw.percent, [...path, 'percent'], { min: 0 }) ?? AUTOSCALE_DEFAULTS.scaleUp.percent),
  };
}

function readScaleDown(check: Check, value: unknown, path: KeyPath): Milliseconds {
  if (value === undefined || value === null) return AUTOSCALE_DEFAULTS.scaleDownWindow;
  const raw = isPlainObject(value) ? check.object(value, path, ['window']) : undefined;
  if (!raw) {
    check.fail(path, 'must be a mapping such as { window: 300s }');
    return AUTOSCALE_DEFAULTS.scaleDownWindow;
  }
  return check.duration(raw.window, [...path, 'window'], AUTOSCALE_DEFAULTS.scaleDownWindow);
}
