import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostClient } from '../../src/executor/host-client.js';
import { MeshMembers } from '../../src/executor/mesh.js';
import type { Host } from '../../src/spec/types.js';
import { stackOf } from './plan-helpers.js';

const folder = mkdtempSync(join(tmpdir(), 'heal-mesh-admit-'));
const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
  rmSync(folder, { recursive: true, force: true });
});

type Member = { address: string; port: number; admin: number; op: number };

/**
 * A stand-in for one host's HAProxy runtime API, enough for admit: `show servers state`, `add
 * server` (refused for a name it holds, as HAProxy does), `set server … addr`, `state ready`; every
 * line it got is kept.
 */
async function fakeProxy(
  name: string,
  members: Map<string, Member>,
): Promise<{ path: string; lines: string[] }> {
  const path = join(folder, name);
  const lines: string[] = [];
  const answer = (line: string): string => {
    lines.push(line);
    if (line === 'show servers state') {
      const rows = [...members].map(([ref, m]) => {
        const [backend, server] = ref.split('/');
        return `${backend} ${server} ${m.address} ${m.op} ${m.admin} ${m.port}`;
      });
      return ['1', '# be_name srv_name srv_addr srv_op_state srv_admin_state srv_port', ...rows, ''].join(
        '\n',
      );
    }
    const add = /^add server (\S+) (\S+):(\d+)/.exec(line);
    if (add) {
      if (members.has(add[1]!)) return 'Already exists a server with the same name in backend.\n';
      members.set(add[1]!, { address: add[2]!, port: Number(add[3]), admin: 1, op: 2 });
      return 'New server registered.\n';
    }
    const addr = /^set server (\S+) addr (\S+) port (\d+)$/.exec(line);
    if (addr) {
      const member = members.get(addr[1]!)!;
      Object.assign(member, { address: addr[2]!, port: Number(addr[3]), op: 2 });
      return "IP changed from 'a' to 'b', port changed from '1' to '2' by 'stats socket command'\n";
    }
    const ready = /^set server (\S+) state ready$/.exec(line);
    if (ready) members.get(ready[1]!)!.admin = 0;
    return '';
  };
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    socket.once('data', (line: string) => socket.end(answer(line.trim())));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, lines };
}

const ID = 'abcdef012345'.padEnd(64, '0');
const SERVER = 'web_8080/h2-s1-abcdef012345';

describe('admitting a replica to the mesh', () => {
  it('re-addresses and readies a restarted replica the proxies still hold (a new ephemeral port), instead of failing to add it', async () => {
    const stack = await stackOf(`
x-heal-extra: &x 1
services:
  web:
    image: web:v1
    ports: ["80:8080"]
    deploy: { replicas: 1 }
`);
    // Every proxy holds the replica as it was before it was killed: the old port, in maintenance, down.
    const proxies = new Map<string, { path: string; lines: string[]; members: Map<string, Member> }>();
    for (const host of ['h1', 'h2', 'h3']) {
      const old: Member =
        host === 'h2'
          ? { address: '172.18.0.4', port: 8080, admin: 1, op: 0 }
          : { address: '10.0.0.12', port: 39999, admin: 1, op: 0 };
      const members = new Map([[SERVER, old]]);
      proxies.set(host, { ...(await fakeProxy(`${host}.sock`, members)), members });
    }
    const clientOf = (host: string): HostClient =>
      ({
        host: { name: host },
        transport: () => 'ssh',
        openSocket: () =>
          new Promise<Duplex>((resolve, reject) => {
            const socket = connect(proxies.get(host)!.path);
            socket.once('connect', () => resolve(socket));
            socket.once('error', reject);
          }),
        // The restarted container: a new address on h2's network and a new ephemeral port.
        call: (_label: string, work: (docker: unknown, signal: AbortSignal) => Promise<unknown>) =>
          work(
            {
              getContainer: () => ({
                inspect: async () => ({
                  Id: ID,
                  State: { Running: true },
                  NetworkSettings: {
                    Networks: { app_default: { IPAddress: '172.18.0.9' } },
                    Ports: { '8080/tcp': [{ HostIp: '10.0.0.12', HostPort: '40001' }] },
                  },
                }),
              }),
            },
            new AbortController().signal,
          ),
      }) as unknown as HostClient;
    const problems: string[] = [];
    const members = new MeshMembers(
      stack,
      async (host: Host) => ({ client: clientOf(host.name) }),
      (message) => problems.push(message),
    );
    await members.admit(members.service('web')!, clientOf('h2'), { id: ID, host: 'h2', slot: 1 });

    expect(problems).toEqual([]);
    for (const [host, proxy] of proxies) {
      expect(
        proxy.lines.filter((line) => line.startsWith('add server')),
        host,
      ).toEqual([]);
      expect(proxy.members.get(SERVER), host).toEqual(
        host === 'h2'
          ? { address: '172.18.0.9', port: 8080, admin: 0, op: 2 }
          : { address: '10.0.0.12', port: 40001, admin: 0, op: 2 },
      );
    }
  });
});
