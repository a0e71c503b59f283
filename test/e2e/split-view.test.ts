/**
 * Two daemons that see the fleet differently never both act on one stack. One reaches h1 straight;
 * the other through a relay the test cuts, so that h1 falls silent for that daemon alone (it sees
 * h1 down and moves its replicas; the other sees every host up). With the lock on "the first
 * host each heal reaches", they locked on different hosts and acted at once; with a lease on a
 * majority, they take turns. Judged from their own logs: no action of one falls in a window
 * where the other was applying.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testbed, type TestbedEnv } from '../testbed.js';
import { applyWindows, overlaps, relayedKnownHosts, startRelay, type Relay } from './split-helpers.js';
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
  for (const side of ['straight', 'relayed', 'relayed-ssh']) mkdirSync(join(root, side));
  writeFileSync(
    join(root, 'relayed-ssh', 'known_hosts'),
    relayedKnownHosts(readFileSync(env.knownHosts, 'utf8'), h1.address, relay.port),
  );
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
