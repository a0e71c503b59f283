import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import { FileContent } from './file-content.js';
import { isPlainObject } from './parse.js';
import type { FileObject, IpamPool, Network, Volume } from './types.js';

/** The top-level networks, volumes, secrets and configs of a stack. */

const NETWORK_KEYS = [
  'driver',
  'driver_opts',
  'external',
  'name',
  'internal',
  'attachable',
  'enable_ipv6',
  'enable_ipv4',
  'ipam',
  'labels',
] as const;

export function normalizeNetworks(check: Check, value: unknown, stack: string): Record<string, Network> {
  const out: Record<string, Network> = {};
  for (const [name, options] of Object.entries(check.mapping(value, ['networks']) ?? {})) {
    const path = ['networks', name];
    const raw = options === null ? {} : (check.object(options, path, NETWORK_KEYS) ?? {});
    const external = readExternal(check, raw, path);
    // IPv4 is on unless the spec turns it off, which needs API 1.47: not sent, so refused.
    if (
      raw.enable_ipv4 !== undefined &&
      raw.enable_ipv4 !== null &&
      !check.boolean(raw.enable_ipv4, [...path, 'enable_ipv4'], true)
    )
      check.fail(
        [...path, 'enable_ipv4'],
        'false is not supported by heal: an IPv6-only network needs API 1.47 (Docker 27.1)',
      );
    const ipam =
      options === null
        ? {}
        : (check.object(raw.ipam ?? {}, [...path, 'ipam'], ['driver', 'config', 'options']) ?? {});
    const config = Array.isArray(ipam.config) ? ipam.config : [];
    out[name] = {
      name,
      external: external.external,
      engineName: engineName(check, raw.name, path, name, stack, external),
      driver: check.optionalString(raw.driver, [...path, 'driver']),
      driverOpts: check.labels(raw.driver_opts, [...path, 'driver_opts']),
      internal: check.boolean(raw.internal, [...path, 'internal'], false),
      attachable: check.boolean(raw.attachable, [...path, 'attachable'], false),
      enableIpv6: check.boolean(raw.enable_ipv6, [...path, 'enable_ipv6'], false),
      ipam: {
        driver: check.optionalString(ipam.driver, [...path, 'ipam', 'driver']),
        config: config.flatMap((entry, index) => ipamPool(check, entry, [...path, 'ipam', 'config', index])),
        options: check.labels(ipam.options, [...path, 'ipam', 'options']),
      },
      labels: check.labels(raw.labels, [...path, 'labels']),
    };
  }
  return out;
}

/** Where a local volume's relative `driver_opts.device` resolves, as a bind's source does. */
export type DevicePaths = { readonly dir: string; readonly local: boolean };

export function normalizeVolumes(
  check: Check,
  value: unknown,
  stack: string,
  paths: DevicePaths,
): Record<string, Volume> {
  const out: Record<string, Volume> = {};
  for (const [name, options] of Object.entries(check.mapping(value, ['volumes']) ?? {})) {
    const path = ['volumes', name];
    const raw =
      options === null
        ? {}
        : (check.object(options, path, ['driver', 'driver_opts', 'external', 'name', 'labels']) ?? {});
    const external = readExternal(check, raw, path);
    conflictsWithExternal(check, raw, path, external);
    const driver = check.optionalString(raw.driver, [...path, 'driver']);
    const driverOpts = check.labels(raw.driver_opts, [...path, 'driver_opts']);
    out[name] = {
      name,
      external: external.external,
      engineName: engineName(check, raw.name, path, name, stack, external),
      driver,
      driverOpts: bindDevice(check, driver, driverOpts, [...path, 'driver_opts', 'device'], paths),
      labels: check.labels(raw.labels, [...path, 'labels']),
    };
  }
  return out;
}

/**
 * A local volume that binds a folder (`o: bind`) names it in `device`: written relative, it is the
 * spec folder's, as compose resolves it. With a remote host that path means nothing there, so it
 * is refused as a relative bind source is.
 */
function bindDevice(
  check: Check,
  driver: string | null,
  options: Record<string, string>,
  path: KeyPath,
  paths: DevicePaths,
): Record<string, string> {
  const device = options.device;
  const binds = (options.o ?? '').split(',').includes('bind');
  if ((driver !== null && driver !== 'local') || !binds || device === undefined || isAbsolute(device))
    return options;
  if (!paths.local) {
    check.fail(
      path,
      `"${device}" is relative to the spec's folder on the machine running heal, but the volume is made on the Docker host and some hosts are remote: use an absolute path on the Docker host`,
    );
    return options;
  }
  return { ...options, device: resolve(paths.dir, device) };
}

/** One `ipam.config` entry: compose's keys, `aux_addresses` a `host: ip` mapping. */
function ipamPool(check: Check, value: unknown, path: KeyPath): IpamPool[] {
  const raw = check.object(value, path, ['subnet', 'gateway', 'ip_range', 'aux_addresses']);
  if (!raw) return [];
  const text = (key: string): { [key: string]: string } => {
    const item = check.optionalString(raw[key], [...path, key]);
    return item === null ? {} : { [key]: item };
  };
  const aux = check.labels(raw.aux_addresses, [...path, 'aux_addresses']);
  return [
    {
      ...text('subnet'),
      ...text('gateway'),
      ...text('ip_range'),
      ...(Object.keys(aux).length === 0 ? {} : { aux_addresses: aux }),
    },
  ];
}

/** Reads a file's bytes (`written`: as the spec names it), or undefined after recording why it could not. */
export type ReadBytes = (file: string, written: string, path: KeyPath) => Buffer | undefined;

/**
 * File-based secrets and configs: the file is read now, so that a change to it rolls the
 * containers and the stack carries the very bytes it was hashed from.
 */
export function normalizeFileObjects(
  check: Check,
  value: unknown,
  kind: 'secrets' | 'configs',
  dir: string,
  read: ReadBytes,
): Record<string, FileObject> {
  const out: Record<string, FileObject> = {};
  for (const [name, options] of Object.entries(check.mapping(value, [kind]) ?? {})) {
    const path = [kind, name];
    const raw = check.object(options, path, [
      'file',
      'external',
      'name',
      'environment',
      'content',
      'labels',
      'template_driver',
    ]);
    if (!raw) continue;
    for (const key of ['external', 'environment', 'content'] as const) {
      if (raw[key] !== undefined && raw[key] !== false) {
        check.fail(
          [...path, key],
          `is not supported by heal: put the ${kind === 'secrets' ? 'secret' : 'config'} in a file beside the spec and use \`file:\``,
          'key',
        );
      }
    }
    if (raw.file === undefined) {
      if (raw.external === undefined && raw.environment === undefined && raw.content === undefined)
        check.fail(path, 'needs `file:`', 'key');
      continue;
    }
    const location = check.string(raw.file, [...path, 'file']);
    if (location === undefined) continue;
    const file =
      location === '~' || location.startsWith('~/')
        ? resolve(homedir(), location.slice(2))
        : resolve(dir, location);
    const content = read(file, location, [...path, 'file']);
    if (content === undefined) continue;
    out[name] = {
      name,
      file,
      digest: `sha256:${createHash('sha256').update(content).digest('hex')}`,
      content: new FileContent(content),
    };
  }
  return out;
}

type External = { readonly external: boolean; readonly name: string | null };

/** compose's rule: an external object is made by someone else, so it takes nothing that makes it. */
function conflictsWithExternal(
  check: Check,
  raw: Record<string, unknown>,
  path: KeyPath,
  external: External,
): void {
  if (!external.external) return;
  for (const key of ['driver', 'driver_opts', 'labels', 'ipam', 'internal', 'attachable', 'enable_ipv6']) {
    if (raw[key] !== undefined && raw[key] !== null)
      check.fail(
        [...path, key],
        'cannot be set on an external object: heal (as compose) does not create it',
        'key',
      );
  }
}

/**
 * `external: true`, the strings interpolation leaves (`external: ${EXTERNAL}`), or compose's
 * deprecated `external: { name: x }`: accepted with a warning, as compose does.
 */
function readExternal(check: Check, raw: Record<string, unknown>, objectPath: KeyPath): External {
  const path = [...objectPath, 'external'];
  const value = raw.external;
  if (value === undefined || value === null) return { external: false, name: null };
  if (isPlainObject(value)) {
    const long = check.object(value, path, ['name']) ?? {};
    const name = check.optionalString(long.name, [...path, 'name']);
    if (name !== null && raw.name !== undefined && raw.name !== null)
      check.fail(path, 'has a name, and so does the object: keep only `name:`', 'key');
    else check.warn(path, 'deprecated: write `external: true` with `name:` (compose reads it the same)');
    return { external: true, name };
  }
  return { external: check.boolean(value, path, false), name: null };
}

function engineName(
  check: Check,
  value: unknown,
  path: KeyPath,
  key: string,
  stack: string,
  external: External,
): string {
  const named = check.optionalString(value, [...path, 'name']) ?? external.name;
  if (named !== null) return named;
  return external.external ? key : `${stack}_${key}`;
}
