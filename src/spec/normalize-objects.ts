import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Check } from './check.js';
import type { KeyPath } from './errors.js';
import { FileContent } from './file-content.js';
import type { FileObject, Network, Volume } from './types.js';

/** The top-level networks, volumes, secrets and configs of a stack. */

const NETWORK_KEYS = [
  'driver',
  'driver_opts',
  'external',
  'name',
  'internal',
  'attachable',
  'enable_ipv6',
  'ipam',
  'labels',
] as const;

export function normalizeNetworks(check: Check, value: unknown, stack: string): Record<string, Network> {
  const out: Record<string, Network> = {};
  for (const [name, options] of Object.entries(check.mapping(value, ['networks']) ?? {})) {
    const path = ['networks', name];
    const raw = options === null ? {} : (check.object(options, path, NETWORK_KEYS) ?? {});
    const external = readExternal(check, raw.external, [...path, 'external']);
    const ipam =
      options === null
        ? {}
        : (check.object(raw.ipam ?? {}, [...path, 'ipam'], ['driver', 'config', 'options']) ?? {});
    const config = Array.isArray(ipam.config) ? ipam.config : [];
    out[name] = {
      name,
      external,
      engineName: engineName(check, raw.name, path, name, stack, external),
      driver: check.optionalString(raw.driver, [...path, 'driver']),
      driverOpts: check.labels(raw.driver_opts, [...path, 'driver_opts']),
      internal: check.boolean(raw.internal, [...path, 'internal'], false),
      attachable: check.boolean(raw.attachable, [...path, 'attachable'], false),
      enableIpv6: check.boolean(raw.enable_ipv6, [...path, 'enable_ipv6'], false),
      ipam: {
        driver: check.optionalString(ipam.driver, [...path, 'ipam', 'driver']),
        config: config.map((entry, index) => check.labels(entry, [...path, 'ipam', 'config', index])),
      },
      labels: check.labels(raw.labels, [...path, 'labels']),
    };
  }
  return out;
}

export function normalizeVolumes(check: Check, value: unknown, stack: string): Record<string, Volume> {
  const out: Record<string, Volume> = {};
  for (const [name, options] of Object.entries(check.mapping(value, ['volumes']) ?? {})) {
    const path = ['volumes', name];
    const raw =
      options === null
        ? {}
        : (check.object(options, path, ['driver', 'driver_opts', 'external', 'name', 'labels']) ?? {});
    const external = readExternal(check, raw.external, [...path, 'external']);
    out[name] = {
      name,
      external,
      engineName: engineName(check, raw.name, path, name, stack, external),
      driver: check.optionalString(raw.driver, [...path, 'driver']),
      driverOpts: check.labels(raw.driver_opts, [...path, 'driver_opts']),
      labels: check.labels(raw.labels, [...path, 'labels']),
    };
  }
  return out;
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
    const file = resolve(dir, location);
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

function readExternal(check: Check, value: unknown, path: KeyPath): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  return (
    check.fail(
      path,
      'must be true or false (the long form `external: { name: x }` is written `external: true` with `name: x`)',
    ) ?? false
  );
}

function engineName(
  check: Check,
  value: unknown,
  path: KeyPath,
  key: string,
  stack: string,
  external: boolean,
): string {
  const named = check.optionalString(value, [...path, 'name']);
  if (named !== null) return named;
  return external ? key : `${stack}_${key}`;
}
