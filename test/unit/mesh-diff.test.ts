import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffMembership, serverHost, type MemberChange } from '../../src/mesh/diff.js';
import type { AdminState, CurrentServer } from '../../src/mesh/servers-state.js';
import type { Backend, Member, ProxyMembership } from '../../src/mesh/types.js';
import { listener } from './mesh-fixtures.js';

const BACKENDS = ['web_4000', 'web_9000'];

function membership(members: Record<string, Member[]>, unknownHosts: string[] = []): ProxyMembership {
  const backends = BACKENDS.map((name): Backend => ({
    name,
    listener: listener('web', Number(name.slice(4))),
    members: members[name] ?? [],
  }));
  return { host: 'h1', service: 'web', backends, unknownHosts };
}

function member(server: string, state: Member['state'] = 'ready', port = 4000): Member {
  return { server, replica: server, address: '10.0.0.12', port, state };
}

function current(backend: string, server: string, admin: AdminState = 'ready', port = 4000): CurrentServer {
  return { backend, server, address: '10.0.0.12', port, admin, operational: 'up' };
}

describe('diffMembership', () => {
  it('adds the new replica before it drains or removes the old one', () => {
    const desired = membership({
      web_4000: [member('h2-s1-aaaaaaaaaaaa', 'drain'), member('h3-s1-bbbbbbbbbbbb')],
    });
    const changes = diffMembership(
      [current('web_4000', 'h2-s1-aaaaaaaaaaaa'), current('web_4000', 'h2-s2-cccccccccccc')],
      desired,
    );
    expect(changes).toEqual([
      {
        kind: 'add',
        backend: 'web_4000',
        server: 'h3-s1-bbbbbbbbbbbb',
        address: '10.0.0.12',
        port: 4000,
        proxyProtocol: null,
      },
      { kind: 'drain', backend: 'web_4000', server: 'h2-s1-aaaaaaaaaaaa' },
      { kind: 'remove', backend: 'web_4000', server: 'h2-s2-cccccccccccc' },
    ]);
  });

  it('never adds a replica only to drain it, re-addresses a moved one, re-enables a drained one', () => {
    const desired = membership({
      web_4000: [member('h2-s1-aaaaaaaaaaaa', 'drain'), member('h2-s2-bbbbbbbbbbbb', 'ready', 4001)],
      web_9000: [member('h3-s1-cccccccccccc')],
    });
    const changes = diffMembership(
      [
        current('web_4000', 'h2-s2-bbbbbbbbbbbb', 'drain'),
        current('web_9000', 'h3-s1-cccccccccccc', 'maint'),
      ],
      desired,
    );
    expect(changes).toEqual([
      {
        kind: 'readdress',
        backend: 'web_4000',
        server: 'h2-s2-bbbbbbbbbbbb',
        address: '10.0.0.12',
        port: 4001,
      },
      { kind: 'ready', backend: 'web_4000', server: 'h2-s2-bbbbbbbbbbbb' },
      { kind: 'ready', backend: 'web_9000', server: 'h3-s1-cccccccccccc' },
    ]);
  });

  it('keeps servers of hosts heal cannot see, and never touches a backend it did not render', () => {
    const desired = membership({}, ['h2']);
    const changes = diffMembership(
      [
        current('web_4000', 'h2-s1-aaaaaaaaaaaa'),
        current('web_4000', 'h3-s1-bbbbbbbbbbbb'),
        current('stats', 'x'),
      ],
      desired,
    );
    expect(changes).toEqual([{ kind: 'remove', backend: 'web_4000', server: 'h3-s1-bbbbbbbbbbbb' }]);
  });

  it('reads the host back from a server name', () => {
    expect(serverHost('h2-s3-0123456789ab')).toBe('h2');
    expect(serverHost('edge-1.example-s12-0a')).toBe('edge-1.example');
    expect(serverHost('app1')).toBeNull();
  });
});

/*
 * Random proxies against random desired memberships: servers drawn from three hosts' replicas,
 * present or not, in any admin state, at the right address or not; some hosts unknown.
 */
const SERVERS = ['h1', 'h2', 'h3'].flatMap((host) =>
  [1, 2, 3].map((slot) => `${host}-s${slot}-${slot}${host}0000000`),
);

const worldArb = fc
  .record({
    desired: fc.array(
      fc.record({
        backend: fc.constantFrom(...BACKENDS),
        server: fc.constantFrom(...SERVERS),
        state: fc.constantFrom<Member['state']>('ready', 'drain'),
        port: fc.constantFrom(4000, 4001),
      }),
      { maxLength: 12 },
    ),
    present: fc.array(
      fc.record({
        backend: fc.constantFrom(...BACKENDS, 'other'),
        server: fc.constantFrom(...SERVERS),
        admin: fc.constantFrom<AdminState>('ready', 'drain', 'maint'),
        port: fc.constantFrom(4000, 4001),
      }),
      { maxLength: 12 },
    ),
    unknownHosts: fc.subarray(['h1', 'h2', 'h3']),
  })
  .map(({ desired, present, unknownHosts }) => {
    const members: Record<string, Member[]> = {};
    for (const d of uniqueBy(desired)) (members[d.backend] ??= []).push(member(d.server, d.state, d.port));
    const servers = uniqueBy(present).map((p) => current(p.backend, p.server, p.admin, p.port));
    return { desired: membership(members, unknownHosts), servers };
  });

function uniqueBy<T extends { backend: string; server: string }>(items: T[]): T[] {
  return [...new Map(items.map((item) => [`${item.backend}/${item.server}`, item])).values()];
}

/** What the proxy holds after the changes, as HAProxy would apply them. */
function apply(servers: readonly CurrentServer[], changes: readonly MemberChange[]): CurrentServer[] {
  const state = new Map(servers.map((s) => [`${s.backend}/${s.server}`, s]));
  for (const change of changes) {
    const key = `${change.backend}/${change.server}`;
    const server = state.get(key);
    if (change.kind === 'add') {
      expect(server).toBeUndefined();
      const { backend, server: name, address, port } = change;
      state.set(key, { backend, server: name, address, port, admin: 'ready', operational: 'up' });
      continue;
    }
    if (server === undefined) throw new Error(`${change.kind} of ${key}, which the proxy does not hold`);
    if (change.kind === 'remove') state.delete(key);
    else if (change.kind === 'readdress')
      state.set(key, { ...server, address: change.address, port: change.port });
    else state.set(key, { ...server, admin: change.kind });
  }
  return [...state.values()];
}

describe('diffMembership properties', () => {
  it('applying the changes yields the desired members, and planning again changes nothing', () => {
    fc.assert(
      fc.property(worldArb, ({ desired, servers }) => {
        const after = apply(servers, diffMembership(servers, desired));
        const unknown = new Set(desired.unknownHosts);
        for (const backend of desired.backends) {
          const held = after.filter((s) => s.backend === backend.name);
          const before = new Set(servers.filter((s) => s.backend === backend.name).map((s) => s.server));
          const expected = backend.members
            .filter((m) => m.state === 'ready' || before.has(m.server))
            .map((m) => `${m.server} ${m.port} ${m.state}`);
          const kept = held
            .filter((s) => !backend.members.some((m) => m.server === s.server))
            .map((s) => serverHost(s.server));
          expect(kept.every((host) => host !== null && unknown.has(host))).toBe(true);
          const desiredHeld = held
            .filter((s) => backend.members.some((m) => m.server === s.server))
            .map((s) => `${s.server} ${s.port} ${s.admin}`);
          expect(desiredHeld.sort()).toEqual(expected.sort());
        }
        expect(after.filter((s) => s.backend === 'other')).toEqual(
          servers.filter((s) => s.backend === 'other'),
        );
        expect(diffMembership(after, desired)).toEqual([]);
      }),
    );
  });

  it('never drains or removes a member before every new member is added', () => {
    fc.assert(
      fc.property(worldArb, ({ desired, servers }) => {
        const kinds = diffMembership(servers, desired).map((change) => change.kind);
        const lastAdd = kinds.lastIndexOf('add');
        const firstShrink = kinds.findIndex((kind) => kind === 'drain' || kind === 'remove');
        expect(firstShrink === -1 || lastAdd < firstShrink).toBe(true);
      }),
    );
  });

  it('is deterministic: the same proxy in another order gives the same changes', () => {
    fc.assert(
      fc.property(worldArb, ({ desired, servers }) => {
        expect(diffMembership([...servers].reverse(), desired)).toEqual(diffMembership(servers, desired));
      }),
    );
  });
});
