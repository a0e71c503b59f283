import { describe, expect, it } from 'vitest';
import { desiredMembership, proxyHosts } from '../../src/mesh/membership.js';
import { hosts, replica, WEB, world } from './mesh-fixtures.js';

describe('desiredMembership', () => {
  it('reaches local replicas by container address and remote ones by host address and ephemeral port', () => {
    const membership = desiredMembership(
      world([replica('h1', 1), replica('h2', 2), replica('h3', 3)]),
      WEB,
      'h1',
    );
    expect(membership.backends).toHaveLength(1);
    expect(membership.backends[0]?.name).toBe('web_4000');
    expect(membership.backends[0]?.members).toEqual([
      {
        server: 'h1-s1-1001abcdef01',
        replica: replica('h1', 1).id,
        address: '172.18.1.2',
        port: 4000,
        state: 'ready',
      },
      {
        server: 'h2-s2-2002abcdef01',
        replica: replica('h2', 2).id,
        address: '10.0.0.12',
        port: 32702,
        state: 'ready',
      },
      {
        server: 'h3-s3-3003abcdef01',
        replica: replica('h3', 3).id,
        address: '10.0.0.13',
        port: 32703,
        state: 'ready',
      },
    ]);
  });

  it('takes only running replicas that are healthy or have no healthcheck', () => {
    const replicas = [
      replica('h1', 1, { health: 'starting' }),
      replica('h1', 2, { health: 'unhealthy' }),
      replica('h1', 3, { state: 'exited' }),
      replica('h1', 4, { state: 'paused' }),
      replica('h2', 5, { health: 'none' }),
      replica('h2', 6),
    ];
    const servers = desiredMembership(world(replicas), WEB, 'h3').backends[0]?.members.map((m) => m.server);
    expect(servers).toEqual(['h2-s5-2005abcdef01', 'h2-s6-2006abcdef01']);
  });

  it('drains the replicas the plan stops', () => {
    const leaving = new Set([replica('h2', 2).id]);
    const members = desiredMembership(world([replica('h1', 1), replica('h2', 2)], { leaving }), WEB, 'h1')
      .backends[0]?.members;
    expect(members?.map((m) => [m.server, m.state])).toEqual([
      ['h1-s1-1001abcdef01', 'ready'],
      ['h2-s2-2002abcdef01', 'drain'],
    ]);
  });

  it('leaves out replicas it cannot reach: no published port, no address, a host without address', () => {
    const w = world(
      [replica('h2', 1, { ports: [] }), replica('h1', 2, { addresses: {} }), replica('h3', 3)],
      {
        hosts: hosts().map((h) => (h.name === 'h3' ? { ...h, address: null } : h)),
      },
    );
    expect(desiredMembership(w, WEB, 'h1').backends[0]?.members).toEqual([]);
  });

  it('names the hosts it cannot see, whose members stay, and drops replicas of hosts declared down', () => {
    const w = world([replica('h2', 1), replica('h3', 2)], {
      hosts: hosts({ h2: 'unreachable', h3: 'down' }),
    });
    const membership = desiredMembership(w, WEB, 'h1');
    expect(membership.unknownHosts).toEqual(['h2']);
    expect(membership.backends[0]?.members).toEqual([]);
  });

  it('is the same for the same world in any order', () => {
    const replicas = [replica('h3', 3), replica('h1', 1), replica('h2', 2)];
    const a = desiredMembership(world(replicas), WEB, 'h2');
    const b = desiredMembership(world([...replicas].reverse()), WEB, 'h2');
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it('runs a proxy on every host heal reaches', () => {
    expect(proxyHosts({ hosts: hosts({ h1: 'down', h3: 'unreachable' }) })).toEqual(['h2']);
  });
});
