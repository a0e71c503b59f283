import type { ConditionsConfig, EngineSlowConfig, Threshold } from '../spec/types.js';
import type { HostProbe } from './observed.js';

/** Kubernetes' node condition names, and heal's own for what Kubernetes does not read. */
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** Every condition heal reads, one a line (metrics list each). */
export const CONDITION_TYPES = [
  'MemoryPressure', // MemAvailable below memory_available
  'DiskPressure', // the data root's space or inodes below disk_available, inodes_free
  'EngineSlow', // the engine's answers to the heartbeat slow or missing (engine_slow)
  'PIDPressure', // PIDs left below pid_available
  'ClockSkew', // the host's clock off heal's by more than clock_skew
  'Dying', // containers of several services died there (dying)
] as const;

/**
 * One answer of a host's engine to the daemon's heartbeat (`GET /_ping`): when it ended (epoch
 * ms) and how long it took; `ms` null when it failed or timed out.
 */
export type EngineSample = { readonly at: number; readonly ms: number | null };

/** A condition true in one reading of a host, with the numbers that made it so. */
export type ConditionReading = { readonly type: ConditionType; readonly message: string };

/**
 * A condition as the daemon tracked it across readings: true since `since` (epoch ms), and, once
 * a reading found it false, since when it is (`clearedAt`); over once clear for `recover`.
 */
export type HostCondition = ConditionReading & {
  readonly since: number;
  readonly clearedAt: number | null;
};

/** The conditions one reading shows: thresholds as `x-heal.conditions` sets them. */
export function readConditions(
  probe: HostProbe | null | undefined,
  config: ConditionsConfig,
): ConditionReading[] {
  if (!probe) return [];
  const found: ConditionReading[] = [];
  const { memory, disk } = probe;
  if (memory && below(memory.available, memory.total, config.memoryAvailable))
    found.push({
      type: 'MemoryPressure',
      message: `memory available ${size(memory.available)} < ${limit(config.memoryAvailable, memory.total, size)}`,
    });
  if (disk) {
    const why: string[] = [];
    if (below(disk.available, disk.total, config.diskAvailable))
      why.push(
        `${disk.path} has ${size(disk.available)} free < ${limit(config.diskAvailable, disk.total, size)}`,
      );
    if (disk.inodes > 0 && below(disk.inodesFree, disk.inodes, config.inodesFree))
      why.push(
        `${disk.path} has ${disk.inodesFree} inodes free < ${limit(config.inodesFree, disk.inodes, String)}`,
      );
    if (why.length > 0) found.push({ type: 'DiskPressure', message: why.join('; ') });
  }
  const pids = probe.pids;
  if (pids && below(pids.max - pids.running, pids.max, config.pidAvailable))
    found.push({
      type: 'PIDPressure',
      message: `${pids.max - pids.running} PIDs available < ${limit(config.pidAvailable, pids.max, String)}`,
    });
  const skew = probe.clock ? clockSkew(probe.clock, config.clockSkew) : null;
  if (skew) found.push({ type: 'ClockSkew', message: skew });
  const dying = probe.deaths ? dyingServices(probe.deaths, config.dying.services) : null;
  if (dying) found.push({ type: 'Dying', message: dying });
  return found;
}

/**
 * EngineSlow: at least `readings` of the engine's answers within `window` before `now` took
 * longer than `latency`, or never came (failed, timed out).
 */
export function readEngineSlow(
  samples: readonly EngineSample[],
  now: number,
  config: EngineSlowConfig,
): ConditionReading | null {
  const recent = samples.filter((sample) => sample.at <= now && now - sample.at <= config.window);
  const slow = recent.filter((sample) => sample.ms === null || sample.ms > config.latency);
  if (slow.length < config.readings) return null;
  const times = slow.flatMap((sample) => (sample.ms === null ? [] : [sample.ms]));
  const failed = slow.length - times.length;
  const of = `of the last ${recent.length} pings`;
  const parts: string[] = [];
  if (times.length > 0)
    parts.push(
      `engine answered ${times.length} ${of} slower than ${seconds(config.latency)} (max ${seconds(Math.max(...times))})`,
    );
  if (failed > 0)
    parts.push(times.length > 0 ? `did not answer ${failed}` : `engine did not answer ${failed} ${of}`);
  return { type: 'EngineSlow', message: parts.join(', and ') };
}

/** Milliseconds as seconds, one decimal at most: `2s`, `4.1s`, `0.5s`. */
function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/**
 * The clock is off when it is off by more than the threshold even at the edge of what the round
 * trip leaves uncertain (half of it): a slow probe never makes a skew of its own.
 */
function clockSkew(clock: NonNullable<HostProbe['clock']>, threshold: number): string | null {
  if (Math.abs(clock.offset) - clock.roundTrip / 2 <= threshold) return null;
  const seconds = Math.round(Math.abs(clock.offset) / 100) / 10;
  return `clock ${seconds}s ${clock.offset > 0 ? 'ahead of' : 'behind'} heal's (more than ${threshold / 1000}s)`;
}

/** Containers of at least `services` services died: `3 services' containers died in 10m: api (2 exits), ...`. */
function dyingServices(deaths: NonNullable<HostProbe['deaths']>, services: number): string | null {
  if (deaths.services.length < services) return null;
  const each = deaths.services.map((item) => {
    const parts = [
      ...(item.exits > 0 ? [`${item.exits} exit${item.exits === 1 ? '' : 's'}`] : []),
      ...(item.ooms > 0 ? [`${item.ooms} OOM kill${item.ooms === 1 ? '' : 's'}`] : []),
    ];
    return `${item.service} (${parts.join(', ')})`;
  });
  return `containers of ${deaths.services.length} services died in the last ${minutes(deaths.window)}: ${each.join(', ')}`;
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}

function below(value: number, total: number, threshold: Threshold): boolean {
  return 'amount' in threshold ? value < threshold.amount : value < (total * threshold.percent) / 100;
}

function limit(threshold: Threshold, total: number, unit: (value: number) => string): string {
  if ('amount' in threshold) return unit(threshold.amount);
  return `${threshold.percent}% of ${unit(total)}`;
}

/** Bytes as Kubernetes writes them: `100Mi`, `1.5Gi`. */
export function size(bytes: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = unit === 0 || value >= 100 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
  return `${text}${units[unit]}`;
}

/**
 * Folds one reading into the tracked conditions of a host: a new one starts now, one that holds
 * keeps its `since` (and forgets a clear), one not seen any more is clear from now and is
 * forgotten once clear for `recover`. Pure; the daemon keeps the result between looks.
 */
export function trackConditions(
  before: readonly HostCondition[],
  reading: readonly ConditionReading[] | null,
  now: number,
  recover: number,
  read: 'all' | readonly ConditionType[] = 'all',
): HostCondition[] {
  // Not read (unreachable, or the probe failed): what was known stays as it was.
  if (reading === null) return [...before];
  const next: HostCondition[] = [];
  for (const known of before) if (read !== 'all' && !read.includes(known.type)) next.push(known);
  for (const seen of reading) {
    const known = before.find((item) => item.type === seen.type);
    const active = known && (known.clearedAt === null || now - known.clearedAt < recover);
    next.push({ ...seen, since: active ? known.since : now, clearedAt: null });
  }
  for (const known of before) {
    if (read !== 'all' && !read.includes(known.type)) continue;
    if (reading.some((seen) => seen.type === known.type)) continue;
    const clearedAt = known.clearedAt ?? now;
    if (now - clearedAt < recover) next.push({ ...known, clearedAt });
  }
  return next.sort((a, b) => (a.type < b.type ? -1 : 1));
}
