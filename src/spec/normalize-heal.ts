import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Check } from './check.js';
import { normalizeAvailability, normalizeConditions } from './normalize-conditions.js';
import type { KeyPath } from './errors.js';
import type {
  Availability,
  BuildConfig,
  HealConfig,
  Host,
  LockConfig,
  MeshConfig,
  SshDefaults,
  Timeouts,
  WatchConfig,
} from './types.js';

/**
 * Accepts a known_hosts or identity file the spec names (resolved), or records why not and
 * returns null. heal watch lets a commit name only files the operator allowed.
 */
export type SshFile = (file: string, written: string, path: KeyPath) => string | null;

type Paths = { readonly dir: string; readonly sshFile: SshFile };

export const WATCH_DEFAULTS = {
  interval: 15_000,
  // Swarm declares a node down after 15 s. Counted from the host's last answer (the daemon asks
  // every engine every second), 4 s rides out a host that stalls for 2 s without a false alarm.
  hostDownAfter: 4_000,
  rebalance: false,
} as const satisfies WatchConfig;

/** How long an engine may take to answer a call before its host counts as not answering. */
export const TIMEOUT_DEFAULTS = {
  readMs: 5_000,
  writeMs: 30_000,
  pullMs: 600_000,
} as const satisfies Timeouts;

/** The routing mesh's defaults: the official HAProxy image, kamal-proxy's drain timeout. */
export const MESH_DEFAULTS = {
  image: 'haproxy:2.8-alpine',
  drainTimeout: 30_000,
  check: { interval: 1_000, fall: 2, rise: 1 },
  socketGid: null,
} as const satisfies MeshConfig;

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * Whether every host is a local engine (a `unix://` socket), so paths on the machine running heal
 * are paths on the engines; true with no host at all, as compose's default engine is local.
 */
export function allHostsLocal(hosts: Readonly<Record<string, Host>>): boolean {
  return Object.values(hosts).every((host) => host.kind === 'docker' && host.url.startsWith('unix://'));
}

const HOST_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Reads the `x-heal` extension: where the hosts are and how the daemon watches them. */
export function normalizeHeal(check: Check, value: unknown, paths: Paths): HealConfig {
  const path = ['x-heal'];
  const raw =
    value === undefined || value === null
      ? {}
      : (check.object(value, path, [
          'ssh',
          'hosts',
          'watch',
          'timeouts',
          'lock',
          'mesh',
          'conditions',
          'build',
          ...NOTIFY_KEYS,
        ]) ?? {});
  refuseNotify(check, raw, path);
  const ssh = normalizeSsh(check, raw.ssh, [...path, 'ssh'], paths);
  const hosts: Record<string, Host> = {};
  for (const [name, host] of Object.entries(check.mapping(raw.hosts, [...path, 'hosts']) ?? {})) {
    const normalized = normalizeHost(check, name, host, [...path, 'hosts', name], paths);
    if (normalized) hosts[name] = normalized;
  }
  return {
    ssh,
    hosts,
    watch: normalizeWatch(check, raw.watch, [...path, 'watch']),
    timeouts: normalizeTimeouts(check, raw.timeouts, [...path, 'timeouts']),
    lock: normalizeLock(check, raw.lock, [...path, 'lock'], hosts),
    mesh: normalizeMesh(check, raw.mesh, [...path, 'mesh']),
    ...(raw.conditions === undefined
      ? {}
      : { conditions: normalizeConditions(check, raw.conditions, [...path, 'conditions']) }),
    build: normalizeBuildConfig(check, raw.build, [...path, 'build'], hosts),
  };
}

function normalizeMesh(check: Check, value: unknown, path: KeyPath): MeshConfig {
  const raw =
    value === undefined || value === null
      ? {}
      : (check.object(value, path, ['image', 'drain_timeout', 'check', 'socket_gid']) ?? {});
  const checkPath = [...path, 'check'];
  const rawCheck =
    raw.check === undefined || raw.check === null
      ? {}
      : (check.object(raw.check, checkPath, ['interval', 'fall', 'rise']) ?? {});
  const count = (key: 'fall' | 'rise'): number =>
    rawCheck[key] === undefined || rawCheck[key] === null
      ? MESH_DEFAULTS.check[key]
      : (check.integer(rawCheck[key], [...checkPath, key], { min: 1, max: 100 }) ?? MESH_DEFAULTS.check[key]);
  const interval = check.duration(
    rawCheck.interval,
    [...checkPath, 'interval'],
    MESH_DEFAULTS.check.interval,
  );
  if (interval < 100) check.fail([...checkPath, 'interval'], 'must be at least 100ms');
  const drainTimeout = check.duration(
    raw.drain_timeout,
    [...path, 'drain_timeout'],
    MESH_DEFAULTS.drainTimeout,
  );
  if (drainTimeout < 0) check.fail([...path, 'drain_timeout'], 'must not be negative');
  return {
    image: check.optionalString(raw.image, [...path, 'image']) ?? MESH_DEFAULTS.image,
    drainTimeout,
    check: { interval, fall: count('fall'), rise: count('rise') },
    socketGid:
      raw.socket_gid === undefined || raw.socket_gid === null
        ? null
        : (check.integer(raw.socket_gid, [...path, 'socket_gid'], { min: 0, max: 2_147_483_647 }) ?? null),
  };
}

/** `address`, or the SSH address when it is an IP; null when neither. */
function internalAddress(
  check: Check,
  value: unknown,
  path: KeyPath,
  fallback: string | null,
): string | null {
  const written = check.optionalString(value, path);
  if (written === null) return fallback !== null && isIP(fallback) !== 0 ? fallback : null;
  if (isIP(written) === 0) {
    check.fail(path, `"${written}" is not an IP address`);
    return null;
  }
  return written;
}

function normalizeSsh(check: Check, value: unknown, path: KeyPath, paths: Paths): SshDefaults {
  const raw =
    value === undefined || value === null
      ? {}
      : (check.object(value, path, ['user', 'port', 'identity_file', 'known_hosts']) ?? {});
  return {
    user: check.optionalString(raw.user, [...path, 'user']),
    port:
      raw.port === undefined || raw.port === null
        ? null
        : (check.integer(raw.port, [...path, 'port'], { min: 1, max: 65535 }) ?? null),
    identityFile: sshPath(check, raw.identity_file, [...path, 'identity_file'], paths),
    knownHosts: sshPath(check, raw.known_hosts, [...path, 'known_hosts'], paths),
  };
}

function normalizeHost(
  check: Check,
  name: string,
  value: unknown,
  path: KeyPath,
  paths: Paths,
): Host | undefined {
  if (!HOST_NAME.test(name))
    check.fail(path, `"${name}" is not a host name: use letters, digits, "_", "." and "-"`, 'key');
  const raw = check.object(value, path, [
    'ssh',
    'docker',
    'socket',
    'identity_file',
    'labels',
    'role',
    'address',
    'availability',
  ]);
  if (!raw) return undefined;
  const labels = check.labels(raw.labels, [...path, 'labels']);
  const role =
    raw.role === undefined || raw.role === null
      ? 'manager'
      : (check.oneOf(raw.role, [...path, 'role'], ['manager', 'worker']) ?? 'manager');
  const availability = normalizeAvailability(check, raw.availability, [...path, 'availability']);
  if (raw.ssh !== undefined && raw.docker !== undefined)
    return check.fail(path, 'has both `ssh:` and `docker:`: keep one');
  if (raw.docker !== undefined) {
    for (const key of ['socket', 'identity_file']) {
      if (raw[key] !== undefined) check.fail([...path, key], 'applies to `ssh:` hosts only', 'key');
    }
    const url = check.string(raw.docker, [...path, 'docker']);
    if (url === undefined) return undefined;
    if (!/^unix:\/\/\/.+/.test(url) && !/^tcp:\/\/[^/:]+:\d+\/?$/.test(url)) {
      return check.fail(
        [...path, 'docker'],
        `"${url}" is not an engine address: use unix:///path/to/docker.sock or tcp://host:port`,
      );
    }
    const internal = internalAddress(check, raw.address, [...path, 'address'], null);
    return { name, kind: 'docker', url, labels, role, ...active(availability), internalAddress: internal };
  }
  if (raw.ssh === undefined)
    return check.fail(path, 'needs `ssh: [user@]address[:port]` or `docker: unix:///path`', 'key');
  const target = check.string(raw.ssh, [...path, 'ssh']);
  const address = target === undefined ? undefined : parseSshTarget(target);
  if (target !== undefined && address === undefined) {
    return check.fail([...path, 'ssh'], `"${target}" is not an SSH address: use [user@]address[:port]`);
  }
  if (!address) return undefined;
  const socket = check.optionalString(raw.socket, [...path, 'socket']) ?? DEFAULT_DOCKER_SOCKET;
  if (!socket.startsWith('/'))
    check.fail([...path, 'socket'], `"${socket}" must be an absolute path on the host`);
  return {
    name,
    kind: 'ssh',
    ...address,
    identityFile: sshPath(check, raw.identity_file, [...path, 'identity_file'], paths),
    socket,
    labels,
    role,
    ...active(availability),
    internalAddress: internalAddress(check, raw.address, [...path, 'address'], address.address),
  };
}

/** A host's availability is written only when it is not active: the default leaves no key. */
function active(availability: Availability): { availability?: Availability } {
  return availability === 'active' ? {} : { availability };
}

/** `[user@]address[:port]`, with IPv6 addresses in brackets when a port follows. */
export function parseSshTarget(
  text: string,
): { user: string | null; address: string; port: number | null } | undefined {
  const match =
    /^(?:([^@\s]+)@)?(\[[0-9a-fA-F:.]+\]|[^@:\s[\]]+|[0-9a-fA-F:]+:[0-9a-fA-F:]*)(?::(\d{1,5}))?$/.exec(
      text.trim(),
    );
  if (!match) return undefined;
  const bracketed = match[2]!.startsWith('[');
  // A bare IPv6 address has colons: the last group is part of it, not a port.
  if (!bracketed && match[2]!.includes(':')) {
    return {
      user: match[1] ?? null,
      address: match[3] === undefined ? match[2]! : `${match[2]!}:${match[3]}`,
      port: null,
    };
  }
  const port = match[3] === undefined ? null : Number(match[3]);
  if (port !== null && (port < 1 || port > 65535)) return undefined;
  return { user: match[1] ?? null, address: bracketed ? match[2]!.slice(1, -1) : match[2]!, port };
}

const MIN_HOST_DOWN_AFTER = 2_000;

/** Keys a user may reach for to configure notifications in the spec: refused with where they go. */
const NOTIFY_KEYS = [
  'notify',
  'notifications',
  'notification',
  'webhook',
  'webhooks',
  'commit_status',
  'commit_statuses',
];

/** Notifications carry tokens and secrets, so they are the operator's, never a commit's. */
function refuseNotify(check: Check, raw: Record<string, unknown>, path: KeyPath): void {
  for (const key of NOTIFY_KEYS)
    if (key in raw)
      check.fail(
        [...path, key],
        'notifications are not configured in the spec (anyone who can push would read or redirect them): ' +
          "use heal watch's --notify-webhook and --commit-status flags, with HEAL_NOTIFY_SECRET and HEAL_STATUS_TOKEN in its environment",
        'key',
      );
}

function normalizeWatch(check: Check, value: unknown, path: KeyPath): WatchConfig {
  const raw =
    value === undefined || value === null
      ? {}
      : (check.object(value, path, ['interval', 'host_down_after', 'rebalance', ...NOTIFY_KEYS]) ?? {});
  refuseNotify(check, raw, path);
  const downPath = [...path, 'host_down_after'];
  const hostDownAfter = check.duration(raw.host_down_after, downPath, WATCH_DEFAULTS.hostDownAfter);
  // The heartbeat asks each host every second: a shorter bound declares healthy hosts down.
  if (hostDownAfter < MIN_HOST_DOWN_AFTER)
    check.fail(
      downPath,
      'must be at least 2s: heal asks each host every second, and a blip would move its replicas',
    );
  return {
    interval: check.duration(raw.interval, [...path, 'interval'], WATCH_DEFAULTS.interval),
    hostDownAfter,
    rebalance: check.boolean(raw.rebalance, [...path, 'rebalance'], WATCH_DEFAULTS.rebalance),
  };
}

/** `x-heal.lock.hosts`: the hosts whose majority the stack's lock needs; null: every shared host. */
function normalizeLock(
  check: Check,
  value: unknown,
  path: KeyPath,
  hosts: Readonly<Record<string, Host>>,
): LockConfig {
  const raw = value === undefined || value === null ? {} : (check.object(value, path, ['hosts']) ?? {});
  if (raw.hosts === undefined || raw.hosts === null) return { hosts: null };
  const names = check.strings(raw.hosts, [...path, 'hosts']);
  names.forEach((name, index) => {
    const host = hosts[name];
    if (!host) check.fail([...path, 'hosts', index], `${name} is not a host of x-heal.hosts`);
    else if (host.kind === 'docker' && host.url.startsWith('unix://'))
      check.fail(
        [...path, 'hosts', index],
        `${name} is a local engine, each machine's own: it cannot hold a lock every heal sees`,
      );
  });
  if (names.length === 0) check.fail([...path, 'hosts'], 'name at least one host, or leave it out');
  return { hosts: [...new Set(names)].sort() };
}

function normalizeTimeouts(check: Check, value: unknown, path: KeyPath): Timeouts {
  const raw =
    value === undefined || value === null ? {} : (check.object(value, path, ['read', 'write', 'pull']) ?? {});
  const positive = (key: string, fallback: number): number => {
    const ms = check.duration(raw[key], [...path, key], fallback);
    if (ms > 0) return ms;
    check.fail([...path, key], 'must be longer than 0s');
    return fallback;
  };
  return {
    readMs: positive('read', TIMEOUT_DEFAULTS.readMs),
    writeMs: positive('write', TIMEOUT_DEFAULTS.writeMs),
    pullMs: positive('pull', TIMEOUT_DEFAULTS.pullMs),
  };
}

function sshPath(check: Check, value: unknown, path: KeyPath, paths: Paths): string | null {
  const written = check.optionalString(value, path);
  const file = localPath(written, paths.dir);
  return written === null || file === null ? null : paths.sshFile(file, written, path);
}

/** `~/x` and paths relative to the spec's folder, as the machine running heal sees them. */
export function localPath(text: string | null, dir: string): string | null {
  if (text === null) return null;
  if (text === '~' || text.startsWith('~/')) return resolve(homedir(), text.slice(2));
  return resolve(dir, text);
}

/** `x-heal.build`: `host` names one of `x-heal.hosts`. */
function normalizeBuildConfig(
  check: Check,
  value: unknown,
  path: KeyPath,
  hosts: Readonly<Record<string, Host>>,
): BuildConfig {
  const raw = value === undefined || value === null ? {} : (check.object(value, path, ['host']) ?? {});
  const host = check.optionalString(raw.host, [...path, 'host']);
  if (host !== null && Object.keys(hosts).length > 0 && !(host in hosts))
    check.fail([...path, 'host'], `"${host}" is not one of x-heal.hosts (${Object.keys(hosts).join(', ')})`);
  return { host };
}
