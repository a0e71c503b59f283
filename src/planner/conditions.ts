import type { ConditionsConfig, Threshold } from '../spec/types.js';
import type { HostProbe } from './observed.js';

/** Kubernetes' node condition names. */
export type ConditionType = 'MemoryPressure' | 'DiskPressure';

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
  return found;
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
