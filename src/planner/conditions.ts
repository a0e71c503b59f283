import type { ConditionsConfig, Threshold } from '../spec/types.js';
import type { HostProbe } from './observed.js';

/** Kubernetes' node condition names. */
export type ConditionType = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure' | 'ClockSkew' | 'Dying';

/** Every condition heal reads, for the metrics' series. */
export const CONDITION_TYPES: readonly ConditionType[] = [
  'MemoryPressure',
  'DiskPressure',
  'PIDPressure',
  'ClockSkew',
  'Dying',
];

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
): HostCondition[] {
  // Not read (unreachable, or the probe failed): what was known stays as it was.
  if (reading === null) return [...before];
  const next: HostCondition[] = [];
  for (const seen of reading) {
    const known = before.find((item) => item.type === seen.type);
    const active = known && (known.clearedAt === null || now - known.clearedAt < recover);
    next.push({ ...seen, since: active ? known.since : now, clearedAt: null });
  }
  for (const known of before) {
    if (reading.some((seen) => seen.type === known.type)) continue;
    const clearedAt = known.clearedAt ?? now;
    if (now - clearedAt < recover) next.push({ ...known, clearedAt });
  }
  return next.sort((a, b) => (a.type < b.type ? -1 : 1));
}
