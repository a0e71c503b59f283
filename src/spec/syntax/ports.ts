import { isIP } from 'node:net';
import type { PortMapping, Protocol } from '../types.js';
import { quote, type Parsed } from './parsed.js';

type PortRange = { readonly start: number; readonly end: number };

const LONG_KEYS = new Set(['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol']);
const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'sctp'] satisfies Protocol[];
const MODES: readonly string[] = ['ingress', 'host'] satisfies PortMapping['mode'][];

/**
 * One entry of a service's `ports:`, short (`"127.0.0.1:8000-8001:80-81/udp"`, `8080`) or long
 * (`{ target, published, ... }`), as one PortMapping per container port: ranges are expanded.
 *
 * A host range for a single container port (`"12400-12500:1240"`) is rejected: the engine would pick
 * any free port of the range, and heal needs to know the host port a replica will take.
 */
export function parsePorts(entry: unknown): Parsed<PortMapping[]> {
  if (typeof entry === 'number') return parseNumber(entry);
  if (typeof entry === 'string') return parseShort(entry);
  if (isMapping(entry)) return parseLong(entry);
  return { error: `${quote(entry)} is not a port mapping` };
}

/** A bare YAML integer is the container port alone. */
function parseNumber(entry: number): Parsed<PortMapping[]> {
  const target = parsePortValue(entry);
  if (target === null) return { error: `${quote(entry)} is not a port number (1-65535)` };
  return { value: expand({ start: target, end: target }, null, null, 'tcp', 'ingress') };
}

/** `[[IP:][HOST]:]CONTAINER[/PROTOCOL]`, split as docker's nat.ParsePortSpec does. */
function parseShort(spec: string): Parsed<PortMapping[]> {
  const fail = (reason: string): Parsed<PortMapping[]> => ({
    error: `${quote(spec)} is not a port mapping: ${reason}`,
  });
  const parts = spec.split(':');
  const last = parts.at(-1) ?? '';
  const hostPort = parts.length >= 2 ? (parts.at(-2) ?? '') : '';
  const rawIp = parts.slice(0, -2).join(':');

  const slash = last.indexOf('/');
  const containerPort = slash === -1 ? last : last.slice(0, slash);
  const protocol = slash === -1 ? 'tcp' : last.slice(slash + 1).toLowerCase();
  if (containerPort === '') return fail('it gives no container port');
  if (!isProtocol(protocol)) return fail(`${quote(protocol)} is not a protocol (tcp, udp or sctp)`);

  const hostIp = parseHostIp(rawIp);
  if ('error' in hostIp) return fail(hostIp.error);
  const container = parseRange(containerPort);
  if ('error' in container) return fail(container.error);
  if (hostPort === '') return { value: expand(container.value, null, hostIp.value, protocol, 'ingress') };

  const host = parseRange(hostPort);
  if ('error' in host) return fail(host.error);
  const hostCount = host.value.end - host.value.start;
  const containerCount = container.value.end - container.value.start;
  if (hostCount !== containerCount && containerCount === 0) {
    return {
      error: `${quote(spec)} publishes one container port on a range of host ports, which heal does not support: give one host port`,
    };
  }
  if (hostCount !== containerCount) {
    return fail(
      `it maps ${countPorts(hostCount + 1)} on the host to ${countPorts(containerCount + 1)} in the container`,
    );
  }
  return { value: expand(container.value, host.value.start, hostIp.value, protocol, 'ingress') };
}

function parseLong(entry: Readonly<Record<string, unknown>>): Parsed<PortMapping[]> {
  const unknown = Object.keys(entry).find((key) => !LONG_KEYS.has(key) && !key.startsWith('x-'));
  if (unknown !== undefined) return { error: `a port mapping has no key ${quote(unknown)}` };
  if (entry.target === undefined || entry.target === null) return { error: 'a port mapping needs a target' };

  const target = parsePortValue(entry.target);
  if (target === null) return { error: `target ${quote(entry.target)} is not a port number (1-65535)` };
  const published = parsePublished(entry.published);
  if ('error' in published) return published;
  const hostIp =
    entry.host_ip === undefined || entry.host_ip === null ? { value: null } : parseHostIp(entry.host_ip);
  if ('error' in hostIp) return hostIp;
  const rawProtocol = entry.protocol ?? 'tcp';
  const protocol = typeof rawProtocol === 'string' ? rawProtocol.toLowerCase() : '';
  if (!isProtocol(protocol)) return { error: `protocol ${quote(rawProtocol)} is not tcp, udp or sctp` };
  const mode = entry.mode ?? 'ingress';
  if (typeof mode !== 'string' || !isMode(mode)) {
    return { error: `mode ${quote(mode)} is not ingress or host` };
  }
  // The routing mesh is HAProxy, which has no UDP: only an implicit ingress becomes host (normalize).
  if (entry.mode === 'ingress' && protocol !== 'tcp') {
    return {
      error: `mode ingress with protocol ${protocol}: heal's routing mesh serves TCP only: give it mode: host`,
    };
  }
  for (const key of ['name', 'app_protocol']) {
    const value = entry[key];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      return { error: `${key} ${quote(value)} is not a string` };
    }
  }
  const header = entry['x-proxy-protocol'];
  if (header !== undefined && header !== null && header !== 'v1' && header !== 'v2') {
    return { error: `x-proxy-protocol ${quote(header)} is not v1 or v2` };
  }
  const appProtocol = typeof entry.app_protocol === 'string' ? entry.app_protocol : null;
  const proxyProtocol = header === 'v1' || header === 'v2' ? header : null;
  if (appProtocol === 'http' && proxyProtocol !== null) {
    return {
      error:
        'app_protocol http carries the client in X-Forwarded-For: drop x-proxy-protocol, or the app_protocol',
    };
  }
  const range = { start: target, end: target };
  return {
    value: expand(range, published.value, hostIp.value, protocol, mode).map((port) => ({
      ...port,
      ...(appProtocol === null ? {} : { appProtocol }),
      ...(proxyProtocol === null ? {} : { proxyProtocol }),
    })),
  };
}

/** Long syntax `published`: absent or empty for an ephemeral port, a port, or a one-port range. */
function parsePublished(value: unknown): Parsed<number | null> {
  if (value === undefined || value === null || value === '') return { value: null };
  if (typeof value === 'number') {
    const port = parsePortValue(value);
    return port === null
      ? { error: `published ${quote(value)} is not a port number (1-65535)` }
      : { value: port };
  }
  if (typeof value !== 'string') return { error: `published ${quote(value)} is not a port or a port range` };
  const range = parseRange(value);
  if ('error' in range) return { error: `published ${quote(value)} is not a port or a port range` };
  if (range.value.end !== range.value.start) {
    return {
      error: `published ${quote(value)} is a range of host ports for one container port, which heal does not support: give one port`,
    };
  }
  return { value: range.value.start };
}

function parseHostIp(value: unknown): Parsed<string | null> {
  if (value === '') return { value: null };
  if (typeof value !== 'string') return { error: `${quote(value)} is not an IP address` };
  // IPv6 addresses come in brackets in the short syntax, so their colons do not split it.
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (isIP(bare) === 0) return { error: `${quote(value)} is not an IP address` };
  return { value: bare };
}

function parseRange(text: string): Parsed<PortRange> {
  const bounds = text.split('-');
  if (bounds.length > 2) return { error: `${quote(text)} is not a port range` };
  const [first = '', second = first] = bounds;
  const start = parsePortValue(first);
  if (start === null) return { error: `${quote(first)} is not a port number (1-65535)` };
  const end = parsePortValue(second);
  if (end === null) return { error: `${quote(second)} is not a port number (1-65535)` };
  if (end < start) return { error: `${quote(text)} is not a port range: it ends before it starts` };
  return { value: { start, end } };
}

/** A port number, 1 to 65535, from a YAML integer or a string of digits (what interpolation leaves). */
function parsePortValue(value: unknown): number | null {
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof port !== 'number' || !Number.isInteger(port)) return null;
  return port >= 1 && port <= 65535 ? port : null;
}

function expand(
  container: PortRange,
  publishedStart: number | null,
  hostIp: string | null,
  protocol: Protocol,
  mode: PortMapping['mode'],
): PortMapping[] {
  const mappings: PortMapping[] = [];
  for (let offset = 0; offset <= container.end - container.start; offset++) {
    const published = publishedStart === null ? null : publishedStart + offset;
    mappings.push({ target: container.start + offset, published, hostIp, protocol, mode });
  }
  return mappings;
}

function countPorts(count: number): string {
  return count === 1 ? '1 port' : `${count} ports`;
}

function isProtocol(value: string): value is Protocol {
  return PROTOCOLS.includes(value);
}

function isMode(value: string): value is PortMapping['mode'] {
  return MODES.includes(value);
}

function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
