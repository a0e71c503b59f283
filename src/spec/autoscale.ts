import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import { isPlainObject } from './parse.js';
import type { Milliseconds } from './types.js';

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

/** Targets designed and not built: refused, never accepted and ignored. */
const NOT_BUILT: Readonly<Record<string, string>> = {
  cpu: 'is not built yet: scale on response_time or requests_per_second (read from the mesh proxies)',
  memory: 'is not built yet: scale on response_time or requests_per_second (read from the mesh proxies)',
};

export type AutoscaleFacts = {
  /** `deploy.replicas` or `scale` as written; null when the service sets neither. */
  readonly replicas: number | null;
  readonly global: boolean;
  /** Whether the routing mesh serves the service (its proxies are where the figures come from). */
  readonly mesh: boolean;
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
  for (const [key, advice] of Object.entries(NOT_BUILT))
    if (raw[key] !== undefined) check.fail(at(key), advice, 'key');
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
  if (
    responseTime === null &&
    requestsPerSecond === null &&
    raw.cpu === undefined &&
    raw.memory === undefined
  )
    check.fail(
      path,
      'needs a target: response_time (e.g. 200ms) or requests_per_second (per replica)',
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
    interval,
    tolerance,
    scaleUp,
    scaleDownWindow,
    cooldown,
  };
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
