import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import { parseDuration } from './syntax/duration.js';
import type { EngineOptions } from './types.js';

/** Service keys read here, each an Engine API create field of its own (container-config.ts). */
export const ENGINE_KEYS = [
  'cpu_shares',
  'cpu_quota',
  'cpu_period',
  'cpu_rt_runtime',
  'cpu_rt_period',
  'cpu_count',
  'cpu_percent',
  'cpuset',
  'mem_swappiness',
  'memswap_limit',
  'uts',
  'annotations',
  'cgroup_parent',
  'device_cgroup_rules',
  'mac_address',
  'storage_opt',
] as const;

/** Windows-only knobs: a Linux engine discards them, so heal accepts them and says so. */
const WINDOWS_ONLY = ['cpu_count', 'cpu_percent'] as const;

export function normalizeEngine(check: Check, raw: Record<string, unknown>, path: KeyPath): EngineOptions {
  const at = (key: string): KeyPath => [...path, key];
  for (const key of WINDOWS_ONLY) {
    if (raw[key] === undefined || raw[key] === null) continue;
    check.integer(raw[key], at(key), { min: 0, max: key === 'cpu_percent' ? 100 : undefined });
    check.warn(at(key), 'ignored: a Windows-only setting, which a Linux engine discards');
  }
  const integer = (key: string, range: { min?: number; max?: number } = {}): number | null =>
    raw[key] === undefined || raw[key] === null ? null : (check.integer(raw[key], at(key), range) ?? null);
  return {
    cpuShares: integer('cpu_shares', { min: 0 }),
    cpuPeriod: microseconds(check, raw.cpu_period, at('cpu_period')),
    cpuQuota: microseconds(check, raw.cpu_quota, at('cpu_quota'), -1),
    cpuRtPeriod: microseconds(check, raw.cpu_rt_period, at('cpu_rt_period')),
    cpuRtRuntime: microseconds(check, raw.cpu_rt_runtime, at('cpu_rt_runtime'), -1),
    cpuset: check.optionalString(raw.cpuset, at('cpuset')),
    memSwappiness: integer('mem_swappiness', { min: 0, max: 100 }),
    memswapLimit: swapLimit(check, raw.memswap_limit, at('memswap_limit')),
    uts: readUts(check, raw.uts, at('uts')),
    cgroupParent: check.optionalString(raw.cgroup_parent, at('cgroup_parent')),
    deviceCgroupRules: check.strings(raw.device_cgroup_rules, at('device_cgroup_rules')),
    macAddress: check.optionalString(raw.mac_address, at('mac_address')),
    storageOpt: check.labels(raw.storage_opt, at('storage_opt')),
    annotations: check.labels(raw.annotations, at('annotations')),
  };
}

/**
 * CFS and realtime periods: an integer of microseconds, or a duration (`100ms`), as the compose
 * spec allows; the engine takes microseconds.
 */
function microseconds(check: Check, value: unknown, path: KeyPath, min = 0): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' || (typeof value === 'string' && /^-?\d+$/.test(value.trim())))
    return check.integer(value, path, { min }) ?? null;
  if (typeof value !== 'string')
    return check.fail(path, 'must be an integer of microseconds or a duration such as "100ms"') ?? null;
  const ms = check.parsed(parseDuration(value), path);
  return ms === undefined ? null : Math.round(ms * 1000);
}

/** Bytes, or -1: unlimited swap. */
function swapLimit(check: Check, value: unknown, path: KeyPath): number | null {
  if (value === -1 || value === '-1') return -1;
  return check.bytes(value, path);
}

function readUts(check: Check, value: unknown, path: KeyPath): string | null {
  const uts = check.optionalString(value, path);
  if (uts === null || uts === 'host') return uts;
  return check.fail(path, `"${uts}" is not a UTS namespace mode: the engine knows only host`) ?? null;
}
