import { quote, type Parsed } from './parsed.js';

/**
 * One `devices:` entry, short (`/dev/x[:/dev/y][:rwm]`) or long (`{ source, target, permissions }`),
 * in the short form the planner splits as the docker CLI does.
 */
export function parseDevice(entry: unknown): Parsed<string> {
  if (typeof entry === 'string') {
    return entry.trim() === '' ? { error: '"" is not a device' } : { value: entry };
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    return { error: `${quote(entry)} is not a device: use /dev/host[:/dev/container][:rwm] or a mapping` };
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).find(
    (key) => !['source', 'target', 'permissions'].includes(key) && !key.startsWith('x-'),
  );
  if (unknown !== undefined) return { error: `a device has no key ${quote(unknown)}` };
  const { source, target, permissions } = fields;
  if (typeof source !== 'string' || source === '') return { error: 'a device needs a source' };
  if (target !== undefined && target !== null && typeof target !== 'string')
    return { error: `target ${quote(target)} is not a path` };
  if (permissions !== undefined && permissions !== null && typeof permissions !== 'string')
    return { error: `permissions ${quote(permissions)} is not a string such as "rwm"` };
  return { value: [source, target ?? source, permissions ?? 'rwm'].join(':') };
}
