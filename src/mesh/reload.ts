import type { MemberChange } from './diff.js';
import { hostPort, serverKeywords, type HealthSettings } from './health.js';
import type { CurrentServer } from './servers-state.js';

/**
 * The reload fallback, for a host whose sshd forbids stream-local forwarding (or an engine reached
 * over tcp://): heal cannot reach the proxy's runtime socket there, so the proxy's config file is
 * its membership. heal reads the file (`GET /containers/{id}/archive`), edits its `server` lines,
 * writes it back and reloads the proxy (SIGUSR2 to HAProxy's master, `-W`): the new worker takes
 * new connections, the old one finishes its own, so a reload drains too.
 */

/**
 * The servers a config file holds, as `show servers state` would report them after a reload:
 * every one ready (the file holds ready members only) and up (HAProxy starts a configured server
 * up until its checks say otherwise).
 */
export function configServers(config: string): CurrentServer[] {
  const servers: CurrentServer[] = [];
  let backend: string | null = null;
  for (const raw of config.split('\n')) {
    const line = raw.trim();
    const section = /^(listen|backend|frontend|global|defaults)\b\s*(\S*)/.exec(line);
    if (section && !raw.startsWith(' ')) {
      backend = section[1] === 'listen' || section[1] === 'backend' ? (section[2] ?? null) : null;
      continue;
    }
    const server = /^server\s+(\S+)\s+(\S+)/.exec(line);
    if (backend === null || server === null) continue;
    const endpoint = splitHostPort(server[2] ?? '');
    if (endpoint === null) continue;
    servers.push({
      backend,
      server: server[1] ?? '',
      ...endpoint,
      admin: 'ready',
      operational: 'up',
    });
  }
  return servers;
}

/**
 * The config with the changes made to its `server` lines, as the runtime API would make them to
 * the running proxy: an add appends the member's line to its backend's section (the same keywords
 * `add server` gets), a re-address rewrites the line's address, a drain or a removal deletes the
 * line (a reload drains what the old worker holds). Changes to a backend the file lacks, or to a
 * server it does not hold, change nothing. Same input, same text.
 */
export function editConfig(config: string, changes: readonly MemberChange[], health: HealthSettings): string {
  let lines = config.replace(/\n$/, '').split('\n');
  for (const change of changes) {
    const found = findServer(lines, change.backend, change.server);
    switch (change.kind) {
      case 'add': {
        const line = `  server ${change.server} ${hostPort(change.address, change.port)} ${serverKeywords(health, change.proxyProtocol)}`;
        // A server the file still holds (a restarted replica) takes its new address.
        if (found !== null) {
          lines[found] = line;
          break;
        }
        const end = sectionEnd(lines, change.backend);
        if (end === null) break;
        lines = [...lines.slice(0, end), line, ...lines.slice(end)];
        break;
      }
      case 'readdress':
        if (found === null) break;
        lines[found] = lines[found]!.replace(
          /^(\s*server\s+\S+\s+)\S+/,
          `$1${hostPort(change.address, change.port)}`,
        );
        break;
      case 'drain':
      case 'remove':
        if (found !== null) lines = [...lines.slice(0, found), ...lines.slice(found + 1)];
        break;
      case 'ready':
        break;
    }
  }
  return `${lines.join('\n')}\n`;
}

function sectionStart(lines: readonly string[], backend: string): number | null {
  const index = lines.findIndex((line) => line === `listen ${backend}` || line === `backend ${backend}`);
  return index === -1 ? null : index;
}

/** Where a new line goes in a section: after its last non-empty line. */
function sectionEnd(lines: readonly string[], backend: string): number | null {
  const start = sectionStart(lines, backend);
  if (start === null) return null;
  let end = start + 1;
  while (end < lines.length && (lines[end] === '' || lines[end]!.startsWith(' '))) end += 1;
  while (end > start + 1 && lines[end - 1] === '') end -= 1;
  return end;
}

function findServer(lines: readonly string[], backend: string, server: string): number | null {
  const start = sectionStart(lines, backend);
  if (start === null) return null;
  for (let index = start + 1; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (line !== '' && !line.startsWith(' ')) return null;
    if (line.trim().split(/\s+/).slice(0, 2).join(' ') === `server ${server}`) return index;
  }
  return null;
}

/** `10.0.0.11:32768` or `[fd00::11]:32768` → address and port; null for anything else. */
function splitHostPort(text: string): { address: string; port: number } | null {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!match) return null;
  return { address: match[1] ?? '', port: Number(match[2]) };
}
