import { homedir } from 'node:os';
import { posix, relative, resolve, sep } from 'node:path';
import type { Mount } from '../types.js';
import { castBoolean } from './boolean.js';
import { parseBytes } from './bytes.js';
import { quote, type Parsed } from './parsed.js';

type Propagation = 'shared' | 'slave' | 'private' | 'rshared' | 'rslave' | 'rprivate';

const PROPAGATIONS: readonly string[] = [
  'shared',
  'slave',
  'private',
  'rshared',
  'rslave',
  'rprivate',
] satisfies Propagation[];

/** Docker Desktop's file-sharing hints: no effect on a Linux engine, so accepted and dropped. */
const CONSISTENCIES: readonly string[] = ['consistent', 'cached', 'delegated'];

const NAMED_VOLUME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const WINDOWS_PATH = /(?:^|:)[a-zA-Z]:[\\/]|\\/;
const LONG_KEYS = new Set([
  'type',
  'source',
  'target',
  'read_only',
  'consistency',
  'bind',
  'volume',
  'tmpfs',
]);
const OPTION_BLOCKS = ['bind', 'volume', 'tmpfs'] as const;
const MAX_FILE_MODE = 0o7777;

type OptionBlock = (typeof OPTION_BLOCKS)[number];
type Fields = Readonly<Record<string, unknown>>;

const OPTION_KEYS: Readonly<Record<OptionBlock, ReadonlySet<string>>> = {
  bind: new Set(['propagation', 'create_host_path', 'selinux']),
  volume: new Set(['nocopy', 'subpath']),
  tmpfs: new Set(['size', 'mode']),
};

/**
 * Where a bind's source, a path on the Docker host, is written from. With every host a local
 * engine (a `unix://` socket, or no host yet), this machine's paths are the engine's, and a
 * relative source resolves against the spec's folder as compose does; with any remote host,
 * neither a relative source nor `~` (this machine's paths) means anything there, so both are refused.
 */
export type BindPaths = {
  /** The spec's folder. */
  readonly dir: string;
  /** Every host is a local engine. */
  readonly local: boolean;
};

/** Whether a short-syntax source names a volume (a key of the top-level `volumes:`) rather than a host path. */
export function isNamedVolumeSource(source: string): boolean {
  return NAMED_VOLUME.test(source);
}

/**
 * One entry of a service's `volumes:`, short (`./data:/data:ro`, `cache:/cache`, `/tmp/x`) or long
 * (`{ type, source, target, ... }`). Host paths follow `paths` (BindPaths).
 *
 * SELinux relabeling (`z`, `Z`, `bind.selinux`) and a volume's `subpath` are kept: the planner sends
 * the first in the engine's Binds form (its Mounts form has no relabel) and refuses the second on
 * an engine too old to know it, rather than mount the whole volume.
 */
export function parseServiceVolume(entry: unknown, paths: BindPaths): Parsed<Mount> {
  if (typeof entry === 'string') return parseShort(entry, paths);
  if (isMapping(entry)) return parseLong(entry, paths);
  return { error: `${quote(entry)} is not a volume mapping` };
}

/** `SOURCE:TARGET[:MODE]` or just `TARGET`, as compose-go's format.ParseVolume splits it. */
function parseShort(spec: string, paths: BindPaths): Parsed<Mount> {
  const fail = (reason: string): Parsed<Mount> => ({
    error: `${quote(spec)} is not a volume mapping: ${reason}`,
  });
  if (spec === '') return { error: `"" is not a volume mapping` };
  if (WINDOWS_PATH.test(spec)) {
    return { error: `${quote(spec)} is a Windows path, which heal does not support` };
  }
  const parts = spec.split(':');
  if (parts.length > 3) return fail('it has too many colons');
  if (parts.includes('')) return fail('it has an empty part between colons');

  const [first = '', second, mode = ''] = parts;
  if (second === undefined) return anonymous(first, fail);
  const target = cleanTarget(second);
  if (target === null) return fail(`the container path ${quote(second)} is not absolute`);
  const options = parseOptions(mode);
  if ('error' in options) return fail(options.error);
  const { readOnly, nocopy, propagation, selinux } = options.value;

  if (isHostPath(first)) {
    if (nocopy) return fail('nocopy applies only to named volumes');
    const remote = remoteProblem(first, paths);
    if (remote !== null) return { error: remote };
    const source = resolveHostPath(first, paths);
    if ('error' in source) return fail(source.error);
    // As compose: the short syntax creates a missing host folder, for docker-compose v1's sake.
    return {
      value: { type: 'bind', ...source.value, target, readOnly, propagation, createHostPath: true, selinux },
    };
  }
  if (!isNamedVolumeSource(first)) return fail(`${quote(first)} is neither a path nor a volume name`);
  if (propagation !== null) return fail('propagation applies only to bind mounts');
  return { value: { type: 'volume', source: first, target, readOnly, nocopy, subpath: null, selinux } };
}

function anonymous(text: string, fail: (reason: string) => Parsed<Mount>): Parsed<Mount> {
  const target = cleanTarget(text);
  if (target === null) return fail(`the container path ${quote(text)} is not absolute`);
  return {
    value: {
      type: 'volume',
      source: null,
      target,
      readOnly: false,
      nocopy: false,
      subpath: null,
      selinux: null,
    },
  };
}

type ShortOptions = {
  readOnly: boolean;
  nocopy: boolean;
  propagation: string | null;
  selinux: 'z' | 'Z' | null;
};

function parseOptions(mode: string): Parsed<ShortOptions> {
  const options: ShortOptions = { readOnly: false, nocopy: false, propagation: null, selinux: null };
  if (mode === '') return { value: options };
  for (const option of mode.split(',')) {
    if (option === 'z' || option === 'Z') options.selinux = option;
    else if (option === 'ro' || option === 'rw') options.readOnly = option === 'ro';
    else if (option === 'nocopy') options.nocopy = true;
    else if (PROPAGATIONS.includes(option)) options.propagation = option;
    else if (!CONSISTENCIES.includes(option)) {
      return { error: `${quote(option)} is not an option (ro, rw, nocopy, z, Z or a propagation)` };
    }
  }
  return { value: options };
}

function parseLong(entry: Fields, paths: BindPaths): Parsed<Mount> {
  const type = entry.type;
  if (type === undefined || type === null) {
    return { error: 'a volume mapping needs a type: volume, bind or tmpfs' };
  }
  if (type === 'npipe' || type === 'cluster' || type === 'image') {
    return { error: `heal does not support ${quote(type)} mounts` };
  }
  if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') {
    return { error: `${quote(type)} is not a mount type: use volume, bind or tmpfs` };
  }
  const unknown = unknownKey(entry, LONG_KEYS);
  if (unknown !== undefined) return { error: `a volume mapping has no key ${quote(unknown)}` };
  const misplaced = OPTION_BLOCKS.find(
    (block) => block !== type && entry[block] !== undefined && entry[block] !== null,
  );
  if (misplaced !== undefined) return { error: `${misplaced} options do not apply to a ${type} mount` };

  if (entry.target === undefined || entry.target === null) {
    return { error: 'a volume mapping needs a target' };
  }
  if (typeof entry.target !== 'string') return { error: `target ${quote(entry.target)} is not a path` };
  if (WINDOWS_PATH.test(entry.target)) {
    return { error: `${quote(entry.target)} is a Windows path, which heal does not support` };
  }
  const target = cleanTarget(entry.target);
  if (target === null) return { error: `target ${quote(entry.target)} is not an absolute path` };
  const readOnly = parseFlag(entry, 'read_only', false);
  if ('error' in readOnly) return readOnly;
  // consistency only tunes Docker Desktop's file sharing: a Linux engine ignores it, and so does heal.
  if (entry.consistency !== undefined && typeof entry.consistency !== 'string') {
    return { error: `consistency ${quote(entry.consistency)} is not a string` };
  }

  const options = optionBlock(entry, type);
  if ('error' in options) return options;
  if (type === 'volume') return longVolume(entry.source, target, readOnly.value, options.value);
  if (type === 'bind') return longBind(entry.source, target, readOnly.value, options.value, paths);
  if (readOnly.value) return { error: 'heal does not support read-only tmpfs mounts' };
  return longTmpfs(entry.source, target, options.value);
}

function longVolume(source: unknown, target: string, readOnly: boolean, options: Fields): Parsed<Mount> {
  const subpath = parseSubpath(options.subpath);
  if ('error' in subpath) return subpath;
  const nocopy = parseFlag(options, 'nocopy', false);
  if ('error' in nocopy) return nocopy;
  const fields = { target, readOnly, nocopy: nocopy.value, subpath: subpath.value, selinux: null };
  if (source === undefined || source === null || source === '') {
    if (subpath.value !== null) return { error: 'a subpath needs a named volume as its source' };
    return { value: { type: 'volume', source: null, ...fields } };
  }
  if (typeof source !== 'string' || !isNamedVolumeSource(source)) {
    return { error: `source ${quote(source)} is not a volume name` };
  }
  return { value: { type: 'volume', source, ...fields } };
}

/** A relative path inside the volume that stays inside it, as the engine requires. */
function parseSubpath(value: unknown): Parsed<string | null> {
  if (value === undefined || value === null || value === '') return { value: null };
  if (typeof value !== 'string') return { error: `subpath ${quote(value)} is not a path` };
  const clean = posix.normalize(value);
  if (posix.isAbsolute(value) || clean === '..' || clean.startsWith('../'))
    return { error: `subpath ${quote(value)} must be a relative path inside the volume` };
  return { value: clean };
}

function parseSelinux(value: unknown): Parsed<'z' | 'Z' | null> {
  if (value === undefined || value === null || value === '') return { value: null };
  if (value === 'z' || value === 'Z') return { value };
  return { error: `selinux ${quote(value)} is not z (shared) or Z (private)` };
}

function longBind(
  source: unknown,
  target: string,
  readOnly: boolean,
  options: Fields,
  paths: BindPaths,
): Parsed<Mount> {
  const selinux = parseSelinux(options.selinux);
  if ('error' in selinux) return selinux;
  if (source === undefined || source === null || source === '') {
    return { error: 'a bind mount needs a source' };
  }
  if (typeof source !== 'string') return { error: `source ${quote(source)} is not a path` };
  if (WINDOWS_PATH.test(source)) {
    return { error: `${quote(source)} is a Windows path, which heal does not support` };
  }
  const remote = remoteProblem(source, paths);
  if (remote !== null) return { error: remote };
  const resolved = resolveHostPath(source, paths);
  if ('error' in resolved) return resolved;
  // The engine relabels only in its Binds form, which splits at colons.
  if (selinux.value !== null && (resolved.value.source.includes(':') || target.includes(':')))
    return { error: 'a bind with a colon in its path cannot be relabeled (selinux)' };
  const propagation = options.propagation ?? null;
  if (propagation !== null && (typeof propagation !== 'string' || !PROPAGATIONS.includes(propagation))) {
    return { error: `propagation ${quote(propagation)} is not one of ${PROPAGATIONS.join(', ')}` };
  }
  // Unlike the short syntax, the long one leaves a missing host path an error unless asked.
  const createHostPath = parseFlag(options, 'create_host_path', false);
  if ('error' in createHostPath) return createHostPath;
  return {
    value: {
      type: 'bind',
      ...resolved.value,
      target,
      readOnly,
      propagation,
      createHostPath: createHostPath.value,
      selinux: selinux.value,
    },
  };
}

function longTmpfs(source: unknown, target: string, options: Fields): Parsed<Mount> {
  if (source !== undefined && source !== null && source !== '') {
    return { error: `a tmpfs mount takes no source, not ${quote(source)}` };
  }
  const size =
    options.size === undefined || options.size === null ? { value: null } : parseSize(options.size);
  if ('error' in size) return size;
  const mode =
    options.mode === undefined || options.mode === null ? { value: null } : parseFileMode(options.mode);
  if ('error' in mode) return mode;
  return { value: { type: 'tmpfs', target, size: size.value, mode: mode.value } };
}

function parseSize(value: unknown): Parsed<number> {
  if (typeof value !== 'string' && typeof value !== 'number') {
    return { error: `size ${quote(value)} is not a byte size` };
  }
  return parseBytes(value);
}

/**
 * A YAML number is taken as it came (write `0o1777` for octal in YAML 1.2); a string is octal digits,
 * as the spec documents the mode, with an optional `0` or `0o` prefix.
 */
function parseFileMode(value: unknown): Parsed<number> {
  const fail = { error: `mode ${quote(value)} is not a file mode: give octal digits, as in "1777"` };
  if (typeof value === 'string') {
    const digits = /^(?:0o?)?([0-7]+)$/i.exec(value)?.[1];
    if (digits === undefined) return fail;
    const mode = parseInt(digits, 8);
    return mode <= MAX_FILE_MODE ? { value: mode } : fail;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_FILE_MODE) {
    return fail;
  }
  return { value };
}

/** The sub-mapping of options for the mount's own type (`bind:` for a bind), checked for unknown keys. */
function optionBlock(entry: Fields, type: OptionBlock): Parsed<Fields> {
  const block = entry[type];
  if (block === undefined || block === null) return { value: {} };
  if (!isMapping(block)) return { error: `${type} options must be a mapping, not ${quote(block)}` };
  const unknown = unknownKey(block, OPTION_KEYS[type]);
  if (unknown !== undefined) return { error: `${type} options have no key ${quote(unknown)}` };
  return { value: block };
}

/** A boolean, or the string interpolation leaves of one (`"true"`, `"False"`). */
function parseFlag(fields: Fields, key: string, fallback: boolean): Parsed<boolean> {
  const value = fields[key];
  if (value === undefined || value === null) return { value: fallback };
  if (typeof value === 'boolean') return { value };
  const cast = typeof value === 'string' ? castBoolean(value) : undefined;
  if (cast !== undefined) return { value: cast };
  return { error: `${key} ${quote(value)} is not true or false` };
}

function unknownKey(fields: Fields, known: ReadonlySet<string>): string | undefined {
  return Object.keys(fields).find((key) => !known.has(key) && !key.startsWith('x-'));
}

function isHostPath(source: string): boolean {
  return source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
}

type BindSource = { readonly source: string; readonly relativeSource: string | null };

/**
 * Why a source cannot be a path on a remote Docker host (relative, or in `~`: the machine running
 * heal's paths), or null when it can.
 */
function remoteProblem(source: string, paths: BindPaths): string | null {
  if (paths.local || source.startsWith('/')) return null;
  const where = source.startsWith('~')
    ? 'is in the home folder of the machine running heal'
    : "is relative to the spec's folder on the machine running heal";
  return (
    `${quote(source)} ${where}, but a bind's source is a path on the Docker host and some hosts ` +
    'are remote: use an absolute path on the Docker host, or a named volume'
  );
}

/**
 * Expands `~` and `~/...` (not `~user`, which would need the user database) and resolves against the
 * spec's folder, remembering a relative source as written from that folder so any checkout of the
 * spec hashes the same.
 */
function resolveHostPath(source: string, paths: BindPaths): Parsed<BindSource> {
  if (source === '~' || source.startsWith('~/'))
    return { value: { source: resolve(homedir(), source.slice(2)), relativeSource: null } };
  if (source.startsWith('~')) return { error: `heal expands only "~" and "~/" in ${quote(source)}` };
  const absolute = resolve(paths.dir, source);
  if (source.startsWith('/')) return { value: { source: absolute, relativeSource: null } };
  const inside = relative(paths.dir, absolute).split(sep).join('/');
  const relativeSource =
    inside === '' ? '.' : inside === '..' || inside.startsWith('../') ? inside : `./${inside}`;
  return { value: { source: absolute, relativeSource } };
}

/** An absolute container path, cleaned as compose does (`/data/` and `/a/../data` are `/data`). */
function cleanTarget(target: string): string | null {
  if (!target.startsWith('/')) return null;
  const clean = posix.normalize(target);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

function isMapping(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
