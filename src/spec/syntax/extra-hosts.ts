import { quote, type Parsed } from './parsed.js';

/**
 * `extra_hosts` as compose reads it, to the engine's `host:ip` entries, in the order written and
 * every address kept: a list of `host:ip` or `host=ip` (several addresses after `=`, split at
 * commas), or a mapping whose value is one address or a list of them. A host name has no colon,
 * so `host:ip` splits at its first one, IPv6 addresses included.
 */
export function parseExtraHosts(value: unknown): Parsed<string[]> {
  if (value === undefined || value === null) return { value: [] };
  if (Array.isArray(value)) return collect(value.map(listEntry));
  if (typeof value !== 'object') return { error: `${quote(value)} is not a list or mapping of hosts` };
  return collect(Object.entries(value as Record<string, unknown>).map(([host, ips]) => mapEntry(host, ips)));
}

function listEntry(entry: unknown): Parsed<string[]> {
  if (typeof entry !== 'string') return { error: `${quote(entry)} is not "host:ip" or "host=ip"` };
  const equals = entry.indexOf('=');
  const colon = entry.indexOf(':');
  const at = equals >= 0 && (colon < 0 || equals < colon) ? equals : colon;
  if (at <= 0) return { error: `${quote(entry)} is not "host:ip" or "host=ip"` };
  const host = entry.slice(0, at);
  const rest = entry.slice(at + 1);
  const addresses = at === equals ? rest.split(',') : [rest];
  return entries(host, addresses);
}

function mapEntry(host: string, ips: unknown): Parsed<string[]> {
  const list = Array.isArray(ips) ? ips : [ips];
  if (list.some((ip) => typeof ip !== 'string' && typeof ip !== 'number'))
    return { error: `the address of ${quote(host)} must be a string or a list of strings` };
  return entries(host, list.map(String));
}

function entries(host: string, addresses: readonly string[]): Parsed<string[]> {
  const trimmed = addresses.map((address) => address.trim());
  if (trimmed.some((address) => address === '')) return { error: `${quote(host)} has an empty address` };
  return { value: trimmed.map((address) => `${host}:${address}`) };
}

function collect(parts: readonly Parsed<string[]>[]): Parsed<string[]> {
  const out: string[] = [];
  for (const part of parts) {
    if ('error' in part) return part;
    out.push(...part.value);
  }
  return { value: out };
}
