/**
 * Two daemons that see the fleet differently never both act on one stack. One reaches h1 straight;
 * the other through a relay the test cuts, so that h1 falls silent for that daemon alone (it sees
 * h1 down and moves its replicas; the other sees every host up). With the lock on "the first
 * host each heal reaches", they locked on different hosts and acted at once; with a lease on a
 * majority, they take turns. Judged from their own logs: no action of one falls in a window
 * where the other was applying.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testbed, type TestbedEnv } from '../testbed.js';
import {
  censusProblems,
  dockerAt,
  freePort,
  killStartedWatches,
  replicasOnAll,
  startWatch,
  until,
  type LogLine,
  type Watch,
} from './watch-helpers.js';

const STACK = 'e2esplit';
const HOSTS = ['h1', 'h2', 'h3'] as const;

let env: TestbedEnv;
let root: string;
let relay: Relay;
let straight: Watch;
let relayed: Watch;

/** A TCP relay to one host's sshd that can be cut: it then passes nothing, and keeps every connection open. */
type Relay = { port: number; cut(): void; mend(): void; close(): Promise<void> };

async function startRelay(address: string): Promise<Relay> {
  let cut = false;
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = connect(22, address);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    if (cut) for (const socket of pair) socket.pause();
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    cut: () => {
      cut = true;
      for (const pair of pairs) for (const socket of pair) socket.pause();
    },
    mend: () => {
      cut = false;
      for (const pair of pairs) for (const socket of pair) socket.resume();
    },
    close: () =>
      new Promise((resolve) => {
        for (const [client, upstream] of pairs) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

function spec(h1: string, knownHosts: string): string {
  return [
    `name: ${STACK}`,
    'x-heal:',
    `  ssh: { user: root, identity_file: ${env.identityFile}, known_hosts: ${knownHosts} }`,
    '  hosts:',
    `    h1: { ssh: "${h1}" }`,
    ...env.hosts.filter((host) => host.name !== 'h1').map((host) => `    ${host.name}: { ssh: ${host.ssh} }`),
    '  watch: { interval: 5s, host_down_after: 3s }',
    'services:',
    '  web:',
    `    image: ${env.images.web1}`,
    '    deploy: { replicas: 6 }',
    '',
  ].join('\n');
}

/** Each stretch in which a daemon was applying: from its first planned action to its last one done. */
function applyWindows(daemon: Watch): { from: number; to: number }[] {
  const windows: { from: number; to: number }[] = [];
  let open: { from: number; to: number } | null = null;
  for (const line of daemon.lines()) {
    const at = Date.parse(line.time);
    if (line.msg === 'action planned' && open === null) open = { from: at, to: at };
    else if ((line.msg === 'action done' || line.msg === 'action failed') && open) open.to = at;
    else if (line.msg === 'reconcile done' && open) {
      windows.push(open);
      open = null;
    }
  }
  if (open) windows.push(open);
  return windows;
}

function overlaps(a: readonly { from: number; to: number }[], b: readonly { from: number; to: number }[]) {
  return a.flatMap((left) =>
    b.filter((right) => left.from <= right.to && right.from <= left.to).map((right) => ({ left, right })),
  );
}

function logged(daemon: Watch, msg: string, fields: Record<string, unknown> = {}): LogLine[] {
  return daemon
    .lines()
    .filter(
      (line) => line.msg === msg && Object.entries(fields).every(([key, value]) => line[key] === value),
    );
}

async function removeStack(): Promise<void> {
  for (const host of HOSTS) {
    const ids = [
      ...(await dockerAt(env, host, ['ps', '-aq', '--filter', `label=io.heal.stack=${STACK}`])).split('\n'),
      ...(await dockerAt(env, host, ['ps', '-aq', '--filter', `name=^heal-lock-${STACK}$`])).split('\n'),
    ].filter(Boolean);
    if (ids.length > 0) await dockerAt(env, host, ['rm', '-f', ...ids]);
    const networks = (
      await dockerAt(env, host, ['network', 'ls', '-q', '--filter', `label=io.heal.stack=${STACK}`])
    )
      .split('\n')
      .filter(Boolean);
    if (networks.length > 0) await dockerAt(env, host, ['network', 'rm', ...networks]);
  }
}

beforeAll(async () => {
  env = await testbed('env').then((text) => JSON.parse(text) as TestbedEnv);
  await removeStack();
  root = mkdtempSync(join(tmpdir(), 'heal-split-'));
  const h1 = env.hosts.find((host) => host.name === 'h1')!;
  relay = await startRelay(h1.address);
  // The relayed daemon knows h1's key under the relay's address, as ssh would record it.
  const keys = readFileSync(env.knownHosts, 'utf8');
  const h1Keys = keys
    .split('\n')
    .filter((line) => line.split(' ')[0] === h1.address)
    .map((line) => line.replace(h1.address, `[127.0.0.1]:${relay.port}`));
  for (const side of ['straight', 'relayed', 'relayed-ssh']) mkdirSync(join(root, side));
  writeFileSync(join(root, 'relayed-ssh', 'known_hosts'), `${keys}\n${h1Keys.join('\n')}\n`);
  writeFileSync(join(root, 'straight', 'stack.yml'), spec(h1.ssh, env.knownHosts));
  writeFileSync(
    join(root, 'relayed', 'stack.yml'),
    spec(`root@127.0.0.1:${relay.port}`, join(root, 'relayed-ssh', 'known_hosts')),
  );
  const bedSsh = ['--allow-ssh', dirname(env.identityFile)];
  straight = startWatch(
    join(root, 'straight'),
    ['-f', 'stack.yml', '--log-level', 'debug', ...bedSsh],
    await freePort(),
    {},
  );
  relayed = startWatch(
    join(root, 'relayed'),
    ['-f', 'stack.yml', '--log-level', 'debug', ...bedSsh, '--allow-ssh', join(root, 'relayed-ssh')],
    await freePort(),
    {},
  );
}, 120_000);

afterAll(async () => {
  killStartedWatches();
  await relay?.close();
  await removeStack();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('two daemons with split views of the fleet', () => {
  it('converge on one stack, taking turns', async () => {
    await until('6 replicas, each slot once', 90_000, async () => {
      const problems = censusProblems(await replicasOnAll(env, HOSTS, STACK), { web: 6 });
      return problems.length === 0 ? true : undefined;
    });
  }, 120_000);

  it('never both act while h1 is silent for one of them only, and end with each slot once', async () => {
    relay.cut();
    // The relayed daemon declares h1 down and moves its replicas; the other sees them twice and
    // keeps the newer ones. Each must have acted in that time.
    await until('the relayed daemon to move h1’s replicas', 60_000, async () =>
      logged(relayed, 'host down: its replicas move', { host: 'h1' }).length > 0 &&
      logged(relayed, 'action done', { kind: 'create' }).length > 0
        ? true
        : undefined,
    );
    await until('every slot once, none on h1', 60_000, async () => {
      const containers = await replicasOnAll(env, HOSTS, STACK);
      const problems = censusProblems(containers, { web: 6 });
      return problems.length === 0 && containers.every((item) => item.host !== 'h1') ? true : undefined;
    });
    relay.mend();
    await until('every slot once with h1 back for both', 60_000, async () => {
      const problems = censusProblems(await replicasOnAll(env, HOSTS, STACK), { web: 6 });
      return problems.length === 0 && logged(relayed, 'host up', { host: 'h1' }).length > 0
        ? true
        : undefined;
    });

    const left = applyWindows(straight);
    const right = applyWindows(relayed);
    expect(left.length).toBeGreaterThan(0);
    expect(right.length).toBeGreaterThan(0);
    expect(overlaps(left, right)).toEqual([]);
    // The lease never named both at once on the host they both see (h2): each took it whole.
    expect(logged(straight, 'lock lost')).toEqual([]);
    expect(logged(relayed, 'lock lost')).toEqual([]);
  }, 240_000);
});
