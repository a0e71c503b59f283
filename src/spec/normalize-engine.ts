import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import { parseDuration } from './syntax/duration.js';
import type { BlkioConfig, BlkioRate, EngineOptions } from './types.js';

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
  'oom_kill_disable',
  'oom_score_adj',
  'userns_mode',
  'cgroup',
  'dns_opt',
  'blkio_config',
  'isolation',
  'credential_spec',
] as const;

/** Windows-only knobs: a Linux engine discards them, so heal accepts them and says so. */
const WINDOWS_ONLY = ['cpu_count', 'cpu_percent', 'isolation', 'credential_spec'] as const;

export function normalizeEngine(check: Check, raw: Record<string, unknown>, path: KeyPath): EngineOptions {
  const at = (key: string): KeyPath => [...path, key];
  for (const key of WINDOWS_ONLY) {
    if (raw[key] === undefined || raw[key] === null) continue;
    if (key === 'cpu_count' || key === 'cpu_percent')
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
    oomKillDisable:
      raw.oom_kill_disable === undefined || raw.oom_kill_disable === null
        ? null
        : check.boolean(raw.oom_kill_disable, at('oom_kill_disable'), false),
    oomScoreAdj: integer('oom_score_adj', { min: -1000, max: 1000 }),
    usernsMode: check.optionalString(raw.userns_mode, at('userns_mode')),
    cgroup:
      raw.cgroup === undefined || raw.cgroup === null
        ? null
        : (check.oneOf(raw.cgroup, at('cgroup'), ['host', 'private'] as const) ?? null),
    dnsOpt: check.strings(raw.dns_opt, at('dns_opt')),
    blkio: readBlkio(check, raw.blkio_config, at('blkio_config')),
  };
}

const BLKIO_RATES = ['device_read_bps', 'device_write_bps', 'device_read_iops', 'device_write_iops'] as const;

function readBlkio(check: Check, value: unknown, path: KeyPath): BlkioConfig | null {
  if (value === undefined || value === null) return null;
  const raw = check.object(value, path, ['weight', 'weight_device', ...BLKIO_RATES]);
  if (!raw) return null;
  const weight = (item: unknown, at: KeyPath): number | undefined =>
    check.integer(item, at, { min: 10, max: 1000 });
  const list = (key: string): Record<string, unknown>[] => {
    const items = raw[key];
    if (items === undefined || items === null) return [];
    if (!Array.isArray(items)) return check.fail([...path, key], 'must be a list') ?? [];
    return items.flatMap((item, index): Record<string, unknown>[] => {
      const keys = key === 'weight_device' ? ['path', 'weight'] : ['path', 'rate'];
      const entry = check.object(item, [...path, key, index], keys);
      return entry ? [entry] : [];
    });
  };
  const rates = (key: (typeof BLKIO_RATES)[number]): BlkioRate[] =>
    list(key).flatMap((item, index) => {
      const at = [...path, key, index];
      const device = check.string(item.path, [...at, 'path']);
      // bps rates are sizes (`1024k`), iops rates plain counts.
      const rate = key.endsWith('bps')
        ? check.bytes(item.rate, [...at, 'rate'])
        : check.integer(item.rate, [...at, 'rate'], { min: 0 });
      return device === undefined || rate === undefined || rate === null ? [] : [{ path: device, rate }];
    });
  return {
    weight:
      raw.weight === undefined || raw.weight === null
        ? null
        : (weight(raw.weight, [...path, 'weight']) ?? null),
    weightDevice: list('weight_device').flatMap((item, index) => {
      const at = [...path, 'weight_device', index];
      const device = check.string(item.path, [...at, 'path']);
      const amount = weight(item.weight, [...at, 'weight']);
      return device === undefined || amount === undefined ? [] : [{ path: device, weight: amount }];
    }),
    deviceReadBps: rates('device_read_bps'),
    deviceWriteBps: rates('device_write_bps'),
    deviceReadIops: rates('device_read_iops'),
    deviceWriteIops: rates('device_write_iops'),
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
