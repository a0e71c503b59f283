import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import type { Availability, ConditionsConfig, DyingConfig, EngineSlowConfig, Threshold } from './types.js';

const MI = 1024 * 1024;

/**
 * Kubernetes' hard-eviction defaults (memory.available < 100Mi, nodefs.available < 10%,
 * nodefs.inodesFree < 5%, and 5% for pid.available, which it leaves unset); a clock 2 s off
 * (node-problem-detector's NTP checks warn well before Kerberos' and TLS's minutes); containers of
 * 3 services dying within 10 min (one crash-looping service is its own problem, not the host's); Nomad's drain deadline (1 h) and migrate max_parallel (1); a grace
 * before cordoning and a recovery period before taking work again, so a blip moves nothing.
 */
export const CONDITIONS_DEFAULTS = {
  grace: 30_000,
  drainAfter: 300_000,
  recover: 300_000,
  deadline: 3_600_000,
  maxParallel: 1,
  memoryAvailable: { amount: 100 * MI },
  diskAvailable: { percent: 10 },
  inodesFree: { percent: 5 },
  engineSlow: { latency: 2_000, readings: 3, window: 60_000 },
  clockSkew: 2_000,
  pidAvailable: { percent: 5 },
  dying: { services: 3, window: 600_000 },
} as const satisfies ConditionsConfig;

/** heal keeps this much of each engine's heartbeat answers (watch/engine-samples.ts). */
export const ENGINE_SLOW_MAX_WINDOW = 600_000;

/** Conditions heal does not read yet: refused, never accepted and ignored. */
const NOT_BUILT: Readonly<Record<string, string>> = {
  kernel: "kernel log patterns (node-problem-detector's)",
};

const KEYS = [
  'grace',
  'drain_after',
  'recover',
  'deadline',
  'max_parallel',
  'memory_available',
  'disk_available',
  'inodes_free',
  'engine_slow',
  'clock_skew',
  'pid_available',
  'dying',
  ...Object.keys(NOT_BUILT),
];

/** `x-heal.conditions`. */
export function normalizeConditions(check: Check, value: unknown, path: KeyPath): ConditionsConfig {
  const raw = value === undefined || value === null ? {} : (check.object(value, path, KEYS) ?? {});
  for (const [key, what] of Object.entries(NOT_BUILT))
    if (key in raw) check.fail([...path, key], `is not built yet: heal does not read ${what}`, 'key');
  const duration = (key: string, fallback: number): number => {
    const ms = check.duration(raw[key], [...path, key], fallback);
    if (ms >= 0) return ms;
    check.fail([...path, key], 'must not be negative');
    return fallback;
  };
  const drainAfter =
    raw.drain_after === 'never' ? null : duration('drain_after', CONDITIONS_DEFAULTS.drainAfter);
  const grace = duration('grace', CONDITIONS_DEFAULTS.grace);
  if (drainAfter !== null && drainAfter < grace)
    check.fail(
      [...path, 'drain_after'],
      `must be at least grace (${grace / 1000}s): a host is cordoned first`,
    );
  return {
    grace,
    drainAfter,
    recover: duration('recover', CONDITIONS_DEFAULTS.recover),
    deadline: duration('deadline', CONDITIONS_DEFAULTS.deadline),
    maxParallel:
      raw.max_parallel === undefined || raw.max_parallel === null
        ? CONDITIONS_DEFAULTS.maxParallel
        : (check.integer(raw.max_parallel, [...path, 'max_parallel'], { min: 1, max: 100 }) ??
          CONDITIONS_DEFAULTS.maxParallel),
    memoryAvailable: threshold(check, raw.memory_available, [...path, 'memory_available'], 'bytes') ?? {
      ...CONDITIONS_DEFAULTS.memoryAvailable,
    },
    diskAvailable: threshold(check, raw.disk_available, [...path, 'disk_available'], 'bytes') ?? {
      ...CONDITIONS_DEFAULTS.diskAvailable,
    },
    inodesFree: threshold(check, raw.inodes_free, [...path, 'inodes_free'], 'count') ?? {
      ...CONDITIONS_DEFAULTS.inodesFree,
    },
    engineSlow: normalizeEngineSlow(check, raw.engine_slow, [...path, 'engine_slow']),
    clockSkew: positive(check, raw.clock_skew, [...path, 'clock_skew'], CONDITIONS_DEFAULTS.clockSkew),
    pidAvailable: threshold(check, raw.pid_available, [...path, 'pid_available'], 'count') ?? {
      ...CONDITIONS_DEFAULTS.pidAvailable,
    },
    dying: dying(check, raw.dying, [...path, 'dying']),
  };
}

/** A duration above zero: `2s`, `500ms`. */
function positive(check: Check, value: unknown, path: KeyPath, fallback: number): number {
  const ms = check.duration(value, path, fallback);
  if (ms > 0) return ms;
  check.fail(path, 'must be more than 0s');
  return fallback;
}

/** `dying: { services: 3, window: 10m }`: either key may be left out. */
function dying(check: Check, value: unknown, path: KeyPath): DyingConfig {
  const fallback = CONDITIONS_DEFAULTS.dying;
  if (value === undefined || value === null) return { ...fallback };
  const raw = check.object(value, path, ['services', 'window']) ?? {};
  return {
    services:
      raw.services === undefined || raw.services === null
        ? fallback.services
        : (check.integer(raw.services, [...path, 'services'], { min: 1, max: 1000 }) ?? fallback.services),
    window: positive(check, raw.window, [...path, 'window'], fallback.window),
  };
}

/** `engine_slow: { latency: 2s, readings: 3, window: 1m }`, each key optional. */
function normalizeEngineSlow(check: Check, value: unknown, path: KeyPath): EngineSlowConfig {
  const defaults = CONDITIONS_DEFAULTS.engineSlow;
  if (value === undefined || value === null) return { ...defaults };
  const raw = check.object(value, path, ['latency', 'readings', 'window']) ?? {};
  const positive = (key: 'latency' | 'window', fallback: number): number => {
    const ms = check.duration(raw[key], [...path, key], fallback);
    if (ms > 0) return ms;
    check.fail([...path, key], 'must be more than 0s');
    return fallback;
  };
  const latency = positive('latency', defaults.latency);
  const window = positive('window', defaults.window);
  if (window > ENGINE_SLOW_MAX_WINDOW)
    check.fail(
      [...path, 'window'],
      `must be at most ${ENGINE_SLOW_MAX_WINDOW / 60_000}m: heal keeps that much of each engine's answers`,
    );
  const readings =
    raw.readings === undefined || raw.readings === null
      ? defaults.readings
      : (check.integer(raw.readings, [...path, 'readings'], { min: 1, max: 100 }) ?? defaults.readings);
  return { latency, readings, window: Math.min(window, ENGINE_SLOW_MAX_WINDOW) };
}

/** `"10%"`, or an amount: a size such as `"100Mi"` for bytes, a plain number for inodes. */
function threshold(check: Check, value: unknown, path: KeyPath, unit: 'bytes' | 'count'): Threshold | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.trim().endsWith('%')) {
    const percent = Number(value.trim().slice(0, -1));
    if (Number.isFinite(percent) && percent >= 0 && percent < 100) return { percent };
    check.fail(path, `"${value}" is not a share: use a percentage from 0% to 99%`);
    return null;
  }
  if (unit === 'count') {
    const amount = check.integer(value, path, { min: 0 });
    return amount === undefined ? null : { amount };
  }
  const amount = check.bytes(value, path);
  return amount === null ? null : { amount };
}

/** `x-heal.hosts.NAME.availability`. */
export function normalizeAvailability(check: Check, value: unknown, path: KeyPath): Availability {
  if (value === undefined || value === null) return 'active';
  return check.oneOf(value, path, ['active', 'pause', 'drain']) ?? 'active';
}
