import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffMembership } from '../../src/mesh/diff.js';
import type { HealthSettings } from '../../src/mesh/health.js';
import { desiredMembership } from '../../src/mesh/membership.js';
import { renderProxyConfig } from '../../src/mesh/render-config.js';
import { answered, runtimeCommands } from '../../src/mesh/runtime.js';
import { parseServersState } from '../../src/mesh/servers-state.js';
import { parseSessions } from '../../src/mesh/sessions.js';
import type { MeshReplica, MeshService, MeshWorld } from '../../src/mesh/types.js';

/*
 * The mesh's config and runtime commands against a real HAProxy (the machine's 2.6, which the
 * test bed's proxy image is built from), run as a local process on a temporary socket: the
 * rendered config loads, the proxy holds the members it says, and a diff's commands move it to
 * the next membership, with a drained member getting no new connection. An integration test so
 * that it runs after the test bed's set-up, which installs Debian's haproxy.
 */

const HAS_HAPROXY = spawnSync('haproxy', ['-v']).status === 0;
const HEALTH: HealthSettings = { intervalMs: 100, fall: 2, rise: 1 };
const folder = mkdtempSync(join(tmpdir(), 'heal-mesh-'));
const socket = join(folder, 'admin.sock');

/** Three "replicas": TCP servers on 127.0.0.1 that answer with their name and close. */
const replicas: { name: string; server: Server; port: number }[] = [];
let proxy: ChildProcess | null = null;
let listenPort = 0;

async function tcpServer(name: string): Promise<{ name: string; server: Server; port: number }> {
  const server = createServer((socket) => socket.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { name, server, port: address.port };
}

async function freePort(): Promise<number> {
  const probe = await tcpServer('probe');
  await new Promise((resolve) => probe.server.close(resolve));
  return probe.port;
}

function ask(line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(socket);
    let answer = '';
    connection.on('data', (data) => (answer += data.toString()));
    connection.on('end', () => resolve(answer));
    connection.on('error', reject);
    connection.write(`${line}\n`);
  });
}

function fetchName(): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(listenPort, '127.0.0.1');
    let answer = '';
    connection.on('data', (data) => (answer += data.toString()));
    connection.on('end', () => resolve(answer));
    connection.on('error', reject);
  });
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  // Bounded by count, not by a clock: 100 tries of 100 ms are far more than a 100 ms check needs.
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const value = await read().catch(() => null);
    if (value !== null && done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the proxy never got there');
}

function service(): MeshService {
  return {
    name: 'web',
    network: 'net',
    listeners: [{ service: 'web', target: listenPort, published: [], mode: 'tcp', proxyProtocol: null }],
  };
}

/** Each replica "runs on h1", the proxy's host, at 127.0.0.1 and its own port. */
function meshWorld(names: string[], leaving: string[] = []): MeshWorld {
  const views = names.map((name): MeshReplica => ({
    id: idOf(name),
    host: 'h1',
    service: 'web',
    slot: Number(name.slice(1)),
    state: 'running',
    health: 'healthy',
    addresses: { net: '127.0.0.1' },
    ports: [],
  }));
  return {
    hosts: [{ name: 'h1', status: 'up', address: '127.0.0.1' }],
    replicas: views,
    leaving: new Set(leaving.map(idOf)),
  };
}

function idOf(name: string): string {
  return `${name.slice(1)}aaaaaaaaaaa`;
}

/** The real replica port stands in for the target port: each listens on its own. */
function withPorts(membership: ReturnType<typeof desiredMembership>): ReturnType<typeof desiredMembership> {
  return {
    ...membership,
    backends: membership.backends.map((backend) => ({
      ...backend,
      members: backend.members.map((member) => {
        const real = replicas.find((r) => idOf(r.name) === member.replica);
        return { ...member, port: real?.port ?? 0 };
      }),
    })),
  };
}

describe('the mesh against a real HAProxy 2.6', () => {
  beforeAll(async () => {
    if (!HAS_HAPROXY) throw new Error('haproxy is not installed: scripts/testbed up installs it');
    for (const name of ['r1', 'r2', 'r3']) replicas.push(await tcpServer(name));
    listenPort = await freePort();
    const membership = withPorts(desiredMembership(meshWorld(['r1', 'r2']), service(), 'h1'));
    const config = renderProxyConfig({
      stack: 'blog',
      membership,
      health: HEALTH,
      drainTimeoutMs: 1000,
      socket: { path: socket, gid: null },
    });
    writeFileSync(join(folder, 'haproxy.cfg'), config);
    const check = spawnSync('haproxy', ['-c', '-q', '-f', join(folder, 'haproxy.cfg')], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    proxy = spawn('haproxy', ['-f', join(folder, 'haproxy.cfg')], { stdio: 'ignore' });
    await until(
      () => ask('show servers state'),
      (answer) => answer.includes('web_'),
    );
  });

  afterAll(async () => {
    if (proxy?.pid !== undefined) process.kill(proxy.pid);
    for (const replica of replicas) await new Promise((resolve) => replica.server.close(resolve));
    rmSync(folder, { recursive: true, force: true });
  });

  it('starts with the members of its config, and balances over them', async () => {
    const servers = parseServersState(await ask('show servers state'));
    expect(servers.map((s) => [s.server, s.admin])).toEqual([
      ['h1-s1-1aaaaaaaaaaa', 'ready'],
      ['h1-s2-2aaaaaaaaaaa', 'ready'],
    ]);
    const names = new Set<string>();
    for (let i = 0; i < 6; i += 1) names.add(await fetchName());
    expect([...names].sort()).toEqual(['r1', 'r2']);
  });

  it('moves to the next membership by the diff: r3 added, r1 drained, r2 removed', async () => {
    const next = withPorts(desiredMembership(meshWorld(['r1', 'r3'], ['r1']), service(), 'h1'));
    const changes = diffMembership(parseServersState(await ask('show servers state')), next);
    expect(changes.map((c) => [c.kind, c.server])).toEqual([
      ['add', 'h1-s3-3aaaaaaaaaaa'],
      ['drain', 'h1-s1-1aaaaaaaaaaa'],
      ['remove', 'h1-s2-2aaaaaaaaaaa'],
    ]);
    for (const command of runtimeCommands(changes, HEALTH)) {
      const answer = await ask(command.line);
      expect({ line: command.line, ok: answered(command, answer) }).toEqual({ line: command.line, ok: true });
    }
    const after = await until(
      async () => parseServersState(await ask('show servers state')),
      (servers) => servers.some((s) => s.server === 'h1-s3-3aaaaaaaaaaa' && s.operational === 'up'),
    );
    expect(after.map((s) => [s.server, s.admin])).toEqual([
      ['h1-s1-1aaaaaaaaaaa', 'drain'],
      ['h1-s3-3aaaaaaaaaaa', 'ready'],
    ]);
    expect(diffMembership(after, next)).toEqual([]);
    const names = new Set<string>();
    for (let i = 0; i < 6; i += 1) names.add(await fetchName());
    expect([...names]).toEqual(['r3']);
    const sessions = parseSessions(await ask('show stat'));
    expect(sessions.get(`web_${listenPort}/h1-s1-1aaaaaaaaaaa`)).toBe(0);
    expect(sessions.has(`web_${listenPort}/h1-s2-2aaaaaaaaaaa`)).toBe(false);
  });
});
