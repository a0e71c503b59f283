import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import { parseConstraint, parseSpread } from './syntax/constraints.js';
import { isPlainObject } from './parse.js';
import type {
  Deploy,
  DeviceRequest,
  Placement,
  ResourceAmounts,
  Resources,
  RestartPolicy,
  UpdateConfig,
} from './types.js';

/**
 * Docker Swarm's documented defaults, with one departure: heal restarts a failed container
 * at once (Swarm waits 5 s) and backs off exponentially only when it keeps failing.
 */
export const DEPLOY_DEFAULTS = {
  replicas: 1,
  restartPolicy: { condition: 'any', delay: 0, maxAttempts: 0, window: 0 },
  updateConfig: {
    parallelism: 1,
    delay: 0,
    failureAction: 'pause',
    monitor: 5_000,
    maxFailureRatio: 0,
    order: 'stop-first',
  },
} as const satisfies { replicas: number; restartPolicy: RestartPolicy; updateConfig: UpdateConfig };

const DEPLOY_KEYS = [
  'mode',
  'replicas',
  'placement',
  'restart_policy',
  'update_config',
  'rollback_config',
  'resources',
  'labels',
  'endpoint_mode',
] as const;

/** Service-level keys that compose also accepts as shorthands for deploy.resources. */
export type LegacyResources = {
  cpus?: unknown;
  mem_limit?: unknown;
  mem_reservation?: unknown;
  pids_limit?: unknown;
  gpus?: unknown;
};

export function normalizeDeploy(
  check: Check,
  value: unknown,
  path: KeyPath,
  legacy: LegacyResources,
): Deploy {
  const raw = value === undefined || value === null ? {} : (check.object(value, path, DEPLOY_KEYS) ?? {});
  const mode =
    raw.mode === undefined
      ? 'replicated'
      : (check.oneOf(raw.mode, [...path, 'mode'], ['replicated', 'global']) ?? 'replicated');
  const replicas =
    raw.replicas === undefined || raw.replicas === null
      ? DEPLOY_DEFAULTS.replicas
      : (check.integer(raw.replicas, [...path, 'replicas'], { min: 0 }) ?? DEPLOY_DEFAULTS.replicas);
  if (mode === 'global' && raw.replicas !== undefined && raw.replicas !== null) {
    check.fail(
      [...path, 'replicas'],
      'cannot be set with mode: global (one replica runs on every eligible host)',
    );
  }
  if (raw.endpoint_mode !== undefined) {
    check.oneOf(raw.endpoint_mode, [...path, 'endpoint_mode'], ['vip', 'dnsrr']);
  }
  return {
    mode,
    replicas: mode === 'global' ? 0 : replicas,
    placement: normalizePlacement(check, raw.placement, [...path, 'placement']),
    restartPolicy: normalizeRestartPolicy(check, raw.restart_policy, [...path, 'restart_policy']),
    updateConfig: normalizeUpdateConfig(check, raw.update_config, [...path, 'update_config']),
    rollbackConfig: normalizeUpdateConfig(check, raw.rollback_config, [...path, 'rollback_config']),
    resources: normalizeResources(check, raw.resources, [...path, 'resources'], legacy, path),
    labels: check.labels(raw.labels, [...path, 'labels']),
  };
}

function normalizePlacement(check: Check, value: unknown, path: KeyPath): Placement {
  const raw =
    value === undefined || value === null
      ? {}
      : (check.object(value, path, ['constraints', 'preferences', 'max_replicas_per_node']) ?? {});
  const constraints = check.strings(raw.constraints, [...path, 'constraints']).flatMap((text, index) => {
    const constraint = check.parsed(parseConstraint(text), [...path, 'constraints', index]);
    return constraint ? [constraint] : [];
  });
  const preferences = Array.isArray(raw.preferences)
    ? raw.preferences
    : raw.preferences === undefined || raw.preferences === null
      ? []
      : [raw.preferences];
  const spread = preferences.flatMap((preference, index) => {
    const at = [...path, 'preferences', index];
    const item = check.object(preference, at, ['spread']);
    const text = item ? check.string(item.spread, [...at, 'spread']) : undefined;
    const by = text === undefined ? undefined : check.parsed(parseSpread(text), [...at, 'spread']);
    return by === undefined ? [] : [{ spread: by }];
  });
  const max = raw.max_replicas_per_node;
  return {
    constraints,
    preferences: spread,
    maxReplicasPerNode:
      max === undefined || max === null || max === 0
        ? null
        : (check.integer(max, [...path, 'max_replicas_per_node'], { min: 1 }) ?? null),
  };
}

function normalizeRestartPolicy(check: Check, value: unknown, path: KeyPath): RestartPolicy {
  const defaults = DEPLOY_DEFAULTS.restartPolicy;
  if (value === undefined || value === null) return defaults;
  const raw = check.object(value, path, ['condition', 'delay', 'max_attempts', 'window']) ?? {};
  return {
    condition:
      raw.condition === undefined
        ? defaults.condition
        : (check.oneOf(raw.condition, [...path, 'condition'], ['none', 'on-failure', 'any']) ??
          defaults.condition),
    delay: check.duration(raw.delay, [...path, 'delay'], defaults.delay),
    maxAttempts:
      raw.max_attempts === undefined || raw.max_attempts === null
        ? 0
        : (check.integer(raw.max_attempts, [...path, 'max_attempts'], { min: 0 }) ?? 0),
    window: check.duration(raw.window, [...path, 'window'], defaults.window),
  };
}

const UPDATE_KEYS = [
  'parallelism',
  'delay',
  'failure_action',
  'monitor',
  'max_failure_ratio',
  'order',
] as const;

function normalizeUpdateConfig(check: Check, value: unknown, path: KeyPath): UpdateConfig {
  const defaults = DEPLOY_DEFAULTS.updateConfig;
  if (value === undefined || value === null) return defaults;
  const raw = check.object(value, path, UPDATE_KEYS) ?? {};
  const optional = <T>(key: string, read: (item: unknown, at: KeyPath) => T | undefined, fallback: T): T =>
    raw[key] === undefined || raw[key] === null ? fallback : (read(raw[key], [...path, key]) ?? fallback);
  return {
    parallelism: optional(
      'parallelism',
      (item, at) => check.integer(item, at, { min: 0 }),
      defaults.parallelism,
    ),
    delay: check.duration(raw.delay, [...path, 'delay'], defaults.delay),
    failureAction: optional(
      'failure_action',
      (item, at) => check.oneOf(item, at, ['pause', 'continue', 'rollback']),
      defaults.failureAction,
    ),
    monitor: check.duration(raw.monitor, [...path, 'monitor'], defaults.monitor),
    maxFailureRatio: optional(
      'max_failure_ratio',
      (item, at) => check.number(item, at, { min: 0, max: 1 }),
      defaults.maxFailureRatio,
    ),
    order: optional(
      'order',
      (item, at) => check.oneOf(item, at, ['stop-first', 'start-first']),
      defaults.order,
    ),
  };
}

const NO_AMOUNTS: ResourceAmounts = { cpus: null, memory: null, pids: null };

function normalizeResources(
  check: Check,
  value: unknown,
  path: KeyPath,
  legacy: LegacyResources,
  servicePath: KeyPath,
): Resources {
  const raw =
    value === undefined || value === null
      ? {}
      : (check.object(value, path, ['limits', 'reservations']) ?? {});
  const limits = normalizeAmounts(check, raw.limits, [...path, 'limits'], 'limits');
  const reservations = normalizeAmounts(check, raw.reservations, [...path, 'reservations'], 'reservations');
  const devices = isPlainObject(raw.reservations)
    ? readDeviceRequests(check, raw.reservations.devices, [...path, 'reservations', 'devices'], false)
    : [];
  const gpus = readGpus(check, legacy.gpus, [...servicePath.slice(0, -1), 'gpus']);
  const parent = servicePath.slice(0, -1);
  const legacyLimits: ResourceAmounts = {
    cpus:
      legacy.cpus === undefined || legacy.cpus === null
        ? null
        : (check.number(legacy.cpus, [...parent, 'cpus'], { min: 0 }) ?? null),
    memory: check.bytes(legacy.mem_limit, [...parent, 'mem_limit']),
    pids:
      legacy.pids_limit === undefined || legacy.pids_limit === null
        ? null
        : (check.integer(legacy.pids_limit, [...parent, 'pids_limit']) ?? null),
  };
  const legacyReservation = check.bytes(legacy.mem_reservation, [...parent, 'mem_reservation']);
  return {
    limits: {
      cpus: limits.cpus ?? legacyLimits.cpus,
      memory: limits.memory ?? legacyLimits.memory,
      pids: limits.pids ?? legacyLimits.pids,
    },
    reservations: { ...reservations, memory: reservations.memory ?? legacyReservation },
    devices: [...devices, ...gpus],
  };
}

function normalizeAmounts(
  check: Check,
  value: unknown,
  path: KeyPath,
  kind: 'limits' | 'reservations',
): ResourceAmounts {
  if (value === undefined || value === null) return NO_AMOUNTS;
  const allowed = [
    'cpus',
    'memory',
    'pids',
    'generic_resources',
    ...(kind === 'reservations' ? ['devices'] : []),
  ];
  const raw = check.object(value, path, allowed) ?? {};
  if (raw.generic_resources !== undefined)
    check.fail(
      [...path, 'generic_resources'],
      "is not supported by heal: generic resources are Swarm's node inventory, which a plain engine does not have; reserve devices with `reservations.devices`",
      'key',
    );
  return {
    cpus:
      raw.cpus === undefined || raw.cpus === null
        ? null
        : (check.number(raw.cpus, [...path, 'cpus'], { min: 0 }) ?? null),
    memory: check.bytes(raw.memory, [...path, 'memory']),
    pids:
      raw.pids === undefined || raw.pids === null
        ? null
        : (check.integer(raw.pids, [...path, 'pids'], { min: -1 }) ?? null),
  };
}

/**
 * `reservations.devices`, the Engine's DeviceRequests (GPUs): compose's rules, `capabilities`
 * required, `count` a number or `all` (the default without `device_ids`), and not both.
 */
function readDeviceRequests(check: Check, value: unknown, path: KeyPath, gpus: boolean): DeviceRequest[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return check.fail(path, 'must be a list') ?? [];
  return value.flatMap((entry, index) => {
    const at = [...path, index];
    const raw = check.object(entry, at, ['capabilities', 'count', 'device_ids', 'driver', 'options']);
    if (!raw) return [];
    if (!gpus && (raw.capabilities === undefined || raw.capabilities === null))
      return check.fail(at, 'needs `capabilities`, as in [gpu]', 'key') ?? [];
    const capabilities = check.strings(raw.capabilities, [...at, 'capabilities']);
    const deviceIds = check.strings(raw.device_ids, [...at, 'device_ids']);
    const hasCount = raw.count !== undefined && raw.count !== null;
    if (hasCount && deviceIds.length > 0)
      return check.fail(at, '`count` and `device_ids` exclude each other: keep one', 'key') ?? [];
    const count = hasCount ? readCount(check, raw.count, [...at, 'count']) : deviceIds.length > 0 ? null : -1;
    return [
      {
        capabilities: gpus && !capabilities.includes('gpu') ? [...capabilities, 'gpu'] : capabilities,
        count: count ?? null,
        deviceIds,
        driver: check.optionalString(raw.driver, [...at, 'driver']),
        options: check.labels(raw.options, [...at, 'options']),
      },
    ];
  });
}

/**
 * The service's `gpus:` (`all`, or a list of device requests without `capabilities`), as compose
 * sends it: device requests that ask for the `gpu` capability.
 */
function readGpus(check: Check, value: unknown, path: KeyPath): DeviceRequest[] {
  if (value === 'all')
    return [{ capabilities: ['gpu'], count: -1, deviceIds: [], driver: null, options: {} }];
  return readDeviceRequests(check, value, path, true);
}

function readCount(check: Check, value: unknown, path: KeyPath): number | undefined {
  if (value === 'all') return -1;
  if (typeof value === 'string' && !/^\d+$/.test(value.trim()))
    return check.fail(path, `must be a number or "all", not ${JSON.stringify(value)}`);
  return check.integer(value, path, { min: 0 });
}
