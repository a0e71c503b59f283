import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH } from '../../src/mesh/health.js';
import { desiredMembership } from '../../src/mesh/membership.js';
import { renderProxyConfig, type ProxyConfigInput } from '../../src/mesh/render-config.js';
import type { MeshService } from '../../src/mesh/types.js';
import { listener, replica, world } from './mesh-fixtures.js';

const SERVICE: MeshService = {
  name: 'web',
  network: 'blog_default',
  listeners: [listener('web', 4000, [80]), { ...listener('web', 9000), mode: 'http' }],
};

function input(): ProxyConfigInput {
  const ports = [
    { target: 4000, hostPort: 32701 },
    { target: 9000, hostPort: 32801 },
  ];
  const replicas = [replica('h1', 1, { ports }), replica('h2', 2, { ports }), replica('h3', 3, { ports })];
  const leaving = new Set([replica('h3', 3).id]);
  return {
    stack: 'blog',
    membership: desiredMembership(world(replicas, { leaving }), SERVICE, 'h1'),
    health: DEFAULT_HEALTH,
    drainTimeoutMs: 30_000,
    socket: { path: '/run/heal/admin.sock', gid: null },
  };
}

describe('renderProxyConfig', () => {
  it('renders a listen section per listener, with the ready members only', () => {
    expect(renderProxyConfig(input())).toBe(
      [
        '# heal routing mesh: service web of stack blog on host h1.',
        '# Written by heal, rewritten on every change of members: edits are lost.',
        'global',
        '  stats socket /run/heal/admin.sock mode 600 level admin',
        '  hard-stop-after 30000ms',
        '',
        'defaults',
        '  mode tcp',
        '  timeout connect 2s',
        '  timeout client 15m',
        '  timeout server 15m',
        '  retries 3',
        '  option redispatch 1',
        '',
        'listen web_4000',
        '  bind :4000',
        '  balance roundrobin',
        '  server h1-s1-1001abcdef01 172.18.1.2:4000 check inter 1000ms fall 2 rise 1',
        '  server h2-s2-2002abcdef01 10.0.0.12:32701 check inter 1000ms fall 2 rise 1',
        '',
        'listen web_9000',
        '  bind :9000',
        '  mode http',
        '  option forwardfor',
        '  retry-on conn-failure',
        '  balance roundrobin',
        '  server h1-s1-1001abcdef01 172.18.1.2:9000 check inter 1000ms fall 2 rise 1',
        '  server h2-s2-2002abcdef01 10.0.0.12:32801 check inter 1000ms fall 2 rise 1',
        '',
      ].join('\n'),
    );
  });

  it('lets a group reach the socket when told, and sends the PROXY header when asked', () => {
    const base = input();
    const [first] = base.membership.backends;
    if (first === undefined) throw new Error('no backend');
    const text = renderProxyConfig({
      ...base,
      socket: { path: '/run/heal/admin.sock', gid: 998 },
      membership: {
        ...base.membership,
        backends: [{ ...first, listener: { ...first.listener, proxyProtocol: 'v1' } }],
      },
    });
    expect(text).toContain('  stats socket /run/heal/admin.sock gid 998 mode 660 level admin\n');
    expect(text).toContain(
      '  server h2-s2-2002abcdef01 10.0.0.12:32701 check inter 1000ms fall 2 rise 1 send-proxy\n',
    );
  });

  it('is the same text for the same world, whatever order the hosts reported it in', () => {
    const base = input();
    const reversed = {
      ...base,
      membership: desiredMembership(
        world([replica('h3', 3), replica('h2', 2), replica('h1', 1)], {
          leaving: new Set([replica('h3', 3).id]),
        }),
        { ...SERVICE, listeners: SERVICE.listeners.slice(0, 1) },
        'h1',
      ),
    };
    const again = {
      ...base,
      membership: desiredMembership(
        world([replica('h1', 1), replica('h2', 2), replica('h3', 3)], {
          leaving: new Set([replica('h3', 3).id]),
        }),
        { ...SERVICE, listeners: SERVICE.listeners.slice(0, 1) },
        'h1',
      ),
    };
    expect(renderProxyConfig(reversed)).toBe(renderProxyConfig(again));
  });
});
