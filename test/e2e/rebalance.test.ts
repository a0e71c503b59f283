/**
 * `x-heal.watch.rebalance: true`: a host that comes back gets its share again, one slot at a
 * time, each new replica running before the one it replaces goes, so the service never has fewer
 * replicas running than it asks for. Without it (the default, as Swarm) moved replicas stay.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bedSpecHead, ensureTestbed, testbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, heal } from './helpers.js';
import {
  censusProblems,
  freePort,
  killStartedWatches,
  replicasOnAll,
  startWatch,
  until,
  type Replica,
  type Watch,
} from './watch-helpers.js';

const STACK = 'e2erebalance';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const REPLICAS = 6;

let env: TestbedEnv;
let work: string;
let daemon: Watch;

function perHost(replicas: readonly Replica[]): Record<string, number> {
  const counts: Record<string, number> = { h1: 0, h2: 0, h3: 0 };
  for (const replica of replicas) if (replica.state === 'running') counts[replica.host]! += 1;
  return counts;
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  await cleanStack([...HOSTS], STACK);
  work = mkdtempSync(join(tmpdir(), 'heal-rebalance-'));
  writeFileSync(
    join(work, 'stack.yml'),
    [
      ...bedSpecHead(env, STACK, ['  watch: { interval: 5s, host_down_after: 3s, rebalance: true }']),
      'services:',
      '  web:',
      `    image: ${env.images.web1}`,
      `    deploy: { replicas: ${REPLICAS} }`,
      '',
    ].join('\n'),
  );
}, 180_000);

afterAll(async () => {
  killStartedWatches();
  await testbed('up', '3');
  await cleanStack([...HOSTS], STACK);
  if (work) rmSync(work, { recursive: true, force: true });
}, 300_000);

describe('rebalance', () => {
  it('spreads the replicas back over a host that returns, one at a time, never below the count', async () => {
    await testbed('kill', 'h3');
    daemon = startWatch(
      work,
      ['-f', 'stack.yml', '--allow-ssh', dirname(env.identityFile)],
      await freePort(),
      {},
    );
    await until('6 replicas on h1 and h2 while h3 is down', 90_000, async () => {
      const replicas = await replicasOnAll(env, ['h1', 'h2'], STACK);
      return censusProblems(replicas, { web: REPLICAS }).length === 0 ? true : undefined;
    });

    await testbed('revive', 'h3');
    const seen: Record<string, number>[] = [];
    await until(
      '2 replicas on each host',
      120_000,
      async () => {
        const replicas = await replicasOnAll(env, HOSTS, STACK);
        const counts = perHost(replicas);
        seen.push(counts);
        return counts.h1 === 2 &&
          counts.h2 === 2 &&
          counts.h3 === 2 &&
          censusProblems(replicas, { web: REPLICAS }).length === 0
          ? true
          : undefined;
      },
      250,
    );
    // Never fewer running than asked for: a move creates first and removes once that one runs.
    const totals = seen.map((counts) => Object.values(counts).reduce((sum, count) => sum + count, 0));
    expect(Math.min(...totals)).toBeGreaterThanOrEqual(REPLICAS);
    // One slot at a time: h3 never gained two in one step.
    const h3 = seen.map((counts) => counts.h3!);
    for (let index = 1; index < h3.length; index += 1)
      expect(h3[index]! - h3[index - 1]!).toBeLessThanOrEqual(1);
    expect(
      daemon
        .lines()
        .filter((line) => line.msg === 'action done' && line.kind === 'create')
        .filter((line) => String(line.reason ?? '').includes('rebalance')).length,
    ).toBe(2);
  }, 300_000);

  it('heal apply carries a drain through, round after round, until the host is empty', async () => {
    killStartedWatches();
    const drained = await heal(work, 'hosts', 'drain', 'h3', '-f', 'stack.yml');
    expect(drained.stderr).toBe('');
    expect(drained.code).toBe(0);
    try {
      // One replica per round (max_parallel 1), so h3's two take two rounds of one apply.
      const applied = await heal(work, 'apply', '--yes', '-f', 'stack.yml');
      expect(applied.stderr).toBe('');
      expect(applied.code).toBe(0);
      expect(applied.stdout).toContain('The drain of h3 goes on (round 2)');
      const replicas = await replicasOnAll(env, HOSTS, STACK);
      expect(perHost(replicas)).toEqual({ h1: 3, h2: 3, h3: 0 });
      expect(censusProblems(replicas, { web: REPLICAS })).toEqual([]);
      // Nothing left to move; what the next plan does is clean up the stack's network on h3.
      const again = await heal(work, 'plan', '--json', '-f', 'stack.yml');
      const left = (JSON.parse(again.stdout) as { actions: { kind: string; host: string }[] }).actions;
      expect(left.map((action) => `${action.kind} ${action.host}`)).toEqual(
        left.length === 0 ? [] : ['remove-network h3'],
      );
    } finally {
      await heal(work, 'hosts', 'activate', 'h3', '-f', 'stack.yml');
    }
  }, 180_000);
});
