import { hostPort, serverKeywords, type HealthSettings } from './health.js';
import type { Backend, ProxyMembership } from './types.js';

/** Everything one host's proxy config is made from. */
export type ProxyConfigInput = {
  readonly stack: string;
  readonly membership: ProxyMembership;
  readonly health: HealthSettings;
  /** How long a stopping proxy lets established connections finish (`hard-stop-after`). */
  readonly drainTimeoutMs: number;
  /** The runtime API's socket, inside the proxy's container. */
  readonly socket: { readonly path: string; readonly gid: number | null };
};

/** Idle TCP connections live as long as under Swarm's IPVS (900 s), so pooled database clients behave the same. */
const IDLE_TIMEOUT = '15m';
const CONNECT_TIMEOUT = '2s';

/**
 * The haproxy.cfg of one host's proxy for one service. heal writes it into the container on every
 * membership change, so a proxy restarted by the engine comes back with its members; while it
 * runs, members change through the runtime API and the file follows. Holds only `ready` members:
 * a draining one is on its way out. Same input, same text, byte for byte.
 */
export function renderProxyConfig(input: ProxyConfigInput): string {
  const { membership } = input;
  const lines = [
    `# heal routing mesh: service ${membership.service} of stack ${input.stack} on host ${membership.host}.`,
    '# Written by heal, rewritten on every change of members: edits are lost.',
    ...globalSection(input),
    ...defaultsSection(),
    ...membership.backends.flatMap((backend) => listenSection(backend, input.health)),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

function globalSection(input: ProxyConfigInput): string[] {
  const owner = input.socket.gid === null ? 'mode 600' : `gid ${input.socket.gid} mode 660`;
  return [
    'global',
    `  stats socket ${input.socket.path} ${owner} level admin`,
    `  hard-stop-after ${input.drainTimeoutMs}ms`,
    '',
  ];
}

function defaultsSection(): string[] {
  return [
    'defaults',
    '  mode tcp',
    `  timeout connect ${CONNECT_TIMEOUT}`,
    `  timeout client ${IDLE_TIMEOUT}`,
    `  timeout server ${IDLE_TIMEOUT}`,
    // A connection refused by a replica that just went away is tried again, on another one.
    '  retries 3',
    '  option redispatch 1',
    '',
  ];
}

function listenSection(backend: Backend, health: HealthSettings): string[] {
  const { listener } = backend;
  const http =
    listener.mode === 'http' ? ['  mode http', '  option forwardfor', '  retry-on conn-failure'] : [];
  const servers = backend.members
    .filter((member) => member.state === 'ready')
    .map(
      (member) =>
        `  server ${member.server} ${hostPort(member.address, member.port)} ${serverKeywords(health, listener.proxyProtocol)}`,
    );
  return [
    `listen ${backend.name}`,
    `  bind :${listener.target}`,
    ...http,
    // A dynamic algorithm: the runtime API adds and deletes servers only in such a backend.
    '  balance roundrobin',
    ...servers,
    '',
  ];
}
