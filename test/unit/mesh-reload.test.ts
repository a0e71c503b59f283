import { describe, expect, it } from 'vitest';
import { diffMembership } from '../../src/mesh/diff.js';
import { DEFAULT_HEALTH } from '../../src/mesh/health.js';
import { desiredMembership } from '../../src/mesh/membership.js';
import { configServers, editConfig } from '../../src/mesh/reload.js';
import { renderProxyConfig } from '../../src/mesh/render-config.js';
import type { MeshReplica, MeshService } from '../../src/mesh/types.js';
import { listener, replica, world } from './mesh-fixtures.js';

const SERVICE: MeshService = {
  name: 'web',
  network: 'blog_default',
  listeners: [listener('web', 4000, [80]), { ...listener('web', 9000), proxyProtocol: 'v2' }],
};
const PORTS = [
  { target: 4000, hostPort: 32701 },
  { target: 9000, hostPort: 32801 },
];

function config(replicas: MeshReplica[], leaving: readonly MeshReplica[] = []): string {
  const membership = desiredMembership(
    world(replicas, { leaving: new Set(leaving.map((item) => item.id)) }),
    SERVICE,
    'h1',
  );
  return renderProxyConfig({
    stack: 'blog',
    membership,
    health: DEFAULT_HEALTH,
    drainTimeoutMs: 30_000,
    socket: { path: '/run/heal/admin.sock', gid: null },
  });
}

describe('the reload fallback', () => {
  const one = replica('h1', 1, { ports: PORTS });
  const two = replica('h2', 2, { ports: PORTS });
  const three = replica('h3', 3, { ports: PORTS });

  it('reads the servers a config file holds, per backend, as ready and up', () => {
    const servers = configServers(config([one, two]));
    expect(servers.map((item) => `${item.backend} ${item.server} ${item.address}:${item.port}`)).toEqual([
      'web_4000 h1-s1-1001abcdef01 172.18.1.2:4000',
      'web_4000 h2-s2-2002abcdef01 10.0.0.12:32701',
      'web_9000 h1-s1-1001abcdef01 172.18.1.2:9000',
      'web_9000 h2-s2-2002abcdef01 10.0.0.12:32801',
    ]);
    expect(new Set(servers.map((item) => `${item.admin} ${item.operational}`))).toEqual(
      new Set(['ready up']),
    );
    expect(configServers('listen x\n  server a [fd00::1]:80 check\n')[0]).toMatchObject({
      address: 'fd00::1',
      port: 80,
    });
  });

  it('edits the file as the runtime API would edit the proxy: the result is the file rendered for the new world', () => {
    const before = config([one, two]);
    const desired = desiredMembership(
      world([one, two, three], { leaving: new Set([two.id]) }),
      SERVICE,
      'h1',
    );
    const changes = diffMembership(configServers(before), desired);
    expect(changes.map((change) => `${change.kind} ${change.backend}/${change.server}`)).toEqual([
      'add web_4000/h3-s3-3003abcdef01',
      'add web_9000/h3-s3-3003abcdef01',
      'drain web_4000/h2-s2-2002abcdef01',
      'drain web_9000/h2-s2-2002abcdef01',
    ]);
    const after = editConfig(before, changes, DEFAULT_HEALTH);
    expect(after).toBe(config([one, two, three], [two]));
    expect(after).toContain(
      '  server h3-s3-3003abcdef01 10.0.0.13:32801 check inter 1000ms fall 2 rise 1 send-proxy-v2\n',
    );
    // Applied twice, or to servers the file lacks, the changes change nothing more.
    expect(editConfig(after, changes, DEFAULT_HEALTH)).toBe(after);
    const readdressed = editConfig(
      after,
      [
        {
          kind: 'readdress',
          backend: 'web_4000',
          server: 'h3-s3-3003abcdef01',
          address: '10.0.0.99',
          port: 1,
        },
      ],
      DEFAULT_HEALTH,
    );
    expect(readdressed).toContain('  server h3-s3-3003abcdef01 10.0.0.99:1 check');
    expect(readdressed).toContain('  server h3-s3-3003abcdef01 10.0.0.13:32801 check');
  });
});
