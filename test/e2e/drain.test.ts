/**
 * Host conditions and drains on the test bed (issue 19): one daemon, one stack of 3 web replicas
 * behind the routing mesh, a bounded load through every host's published port during each drain.
 * A host given memory pressure (a fake /proc/meminfo in its mount namespace only) is cordoned,
 * then drained start-first, and takes work again once the pressure is gone (rebalance on); the
 * same for a drain from the CLI (`heal hosts drain`, then `activate`) and one in the spec. A drain
 * the other hosts cannot take is refused and reported. A host whose dockerd stalls in bursts
 * (SIGSTOP 3 s, SIGCONT 2 s) is EngineSlow: drained the same way. Grace periods are shortened in
 * the spec, and host_down_after is lengthened so that a 3 s stall is slow, not silent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, startLoad, type LoadRun } from '../load/load.js';
import type { RequestRecord } from '../load/summary.js';
import { ensureTestbed, testbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, heal } from './helpers.js';
import {
  freePort,
  killStartedWatches,
  metric,
  metricsOf,
  replicasOnAll,
  startWatch,
  statusOf,
  until,
  type Watch,
} from './watch-helpers.js';

const STACK = 'e2edrain';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const PORT = 82;

let env: TestbedEnv;
let work: string;
let daemon: Watch;

function specText(extra: { h1?: string; maxPerNode?: number } = {}): string {
  return [
    `name: ${STACK}`,
    'x-heal:',
    `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
    `  mesh: { image: ${env.images.proxy}, drain_timeout: 2s }`,
    '  hosts:',
    ...env.hosts.map(
      (host) =>
        `    ${host.name}: { ssh: ${host.ssh}${host.name === 'h1' && extra.h1 ? `, availability: ${extra.h1}` : ''} }`,
    ),
    '  watch: { interval: 2s, rebalance: true, host_down_after: 10s }',
    '  conditions:',
    '    { grace: 2s, drain_after: 8s, recover: 4s, memory_available: 100Mi,',
    '      engine_slow: { latency: 1s, readings: 2, window: 12s } }',
    'services:',
    '  web:',
    `    image: ${env.images.web1}`,
    `    ports: ["${PORT}:8080"]`,
    "    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }",
    '    stop_grace_period: 2s',
    '    deploy:',
    '      replicas: 3',
    ...(extra.maxPerNode ? [`      placement: { max_replicas_per_node: ${extra.maxPerNode} }`] : []),
    '',
  ].join('\n');
}

/** Running replicas (no proxy) per host. */
async function perHost(): Promise<Record<string, number>> {
  const counts: Record<string, number> = { h1: 0, h2: 0, h3: 0 };
  for (const replica of await replicasOnAll(env, HOSTS, STACK))
    if (replica.state === 'running' && replica.service === 'web' && replica.slot !== '')
      counts[replica.host]! += 1;
  return counts;
}

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** `/host` through every host's published port, bounded in count and time. */
function load(): LoadRun {
  return startLoad({
    targets: env.hosts.map((host) => `http://${host.address}:${PORT}/host`),
    concurrency: 3,
    ratePerSecond: 20,
    maxRequests: 3_000,
    maxDurationMs: 120_000,
    timeoutMs: 2_000,
  });
}

const failures = (records: readonly RequestRecord[]): string[] =>
  records
    .filter((record) => !record.ok)
    .map((record) => `${record.target} ${record.reason} ${record.error ?? ''}`);

/** Waits until `host` runs no replica and the others run all 3, under load: no request fails. */
async function drainsUnderLoad(host: string, start: () => Promise<void>): Promise<void> {
  const traffic = load();
  const seen: number[] = [];
  try {
    await start();
    await until(
      `${host} empty, 3 replicas elsewhere`,
      90_000,
      async () => {
        const counts = await perHost();
        seen.push(total(counts));
        return counts[host] === 0 && total(counts) === 3 ? true : undefined;
      },
      250,
    );
  } finally {
    const result = await traffic.stop();
    expect(failures(result.records)).toEqual([]);
    expect(result.records.length).toBeGreaterThan(20);
  }
  // Start-first: never fewer than 3 running.
  expect(Math.min(...seen)).toBeGreaterThanOrEqual(3);
}

async function takesWorkAgain(host: string): Promise<void> {
  // Generous: in the full suite one run outlasted 90 s here (passed in 26 s alone); the cause is
  // not known yet (a reconcile failed on the full disk and backed off?).
  await until(
    `${host} runs a replica again`,
    180_000,
    async () => {
      const counts = await perHost();
      return counts[host] === 1 && total(counts) === 3 ? true : undefined;
    },
    250,
  );
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  await cleanStack([...HOSTS], STACK);
  // h1's engine data root on a small filesystem of its own, before anything runs there.
  await testbed('small-disk', 'h1', '400');
  work = mkdtempSync(join(tmpdir(), 'heal-drain-'));
  writeFileSync(join(work, 'stack.yml'), specText());
  daemon = startWatch(
    work,
    ['-f', 'stack.yml', '--allow-ssh', dirname(env.identityFile)],
    await freePort(),
    {},
  );
  await until('1 replica on each host', 120_000, async () => {
    const counts = await perHost();
    return counts.h1 === 1 && counts.h2 === 1 && counts.h3 === 1 ? true : undefined;
  });
  // The mesh answers on every host before any load is measured.
  await until(
    'the mesh answers on every host',
    60_000,
    async () => {
      const probe = await runLoad({
        targets: env.hosts.map((host) => `http://${host.address}:${PORT}/host`),
        concurrency: 1,
        maxRequests: 6,
        maxDurationMs: 10_000,
        timeoutMs: 2_000,
      });
      return probe.records.every((record) => record.ok) ? true : undefined;
    },
    500,
  );
}, 180_000);

afterAll(async () => {
  killStartedWatches();
  if (env) await testbed('relieve-memory', 'h2').catch(() => undefined);
  if (env) await testbed('unstall-engine', 'h3').catch(() => undefined);
  if (env) await testbed('big-disk', 'h1').catch(() => undefined);
  if (env) await ensureTestbed(3);
  if (env) await cleanStack([...HOSTS], STACK);
  if (work) rmSync(work, { recursive: true, force: true });
}, 180_000);

describe('host conditions and drains', () => {
  it('MemoryPressure cordons, then drains the host start-first; it takes work again once clear', async () => {
    await drainsUnderLoad('h2', () => testbed('press-memory', 'h2', '40').then(() => undefined));
    const lines = daemon.lines();
    expect(lines.some((line) => line.msg === 'host cordoned' && line.host === 'h2')).toBe(true);
    expect(
      lines.some(
        (line) => line.msg === 'host draining' && String(line.reason).startsWith('MemoryPressure for'),
      ),
    ).toBe(true);
    const hosts = await heal(work, 'hosts', '--json', '-f', 'stack.yml');
    const h2 = (JSON.parse(hosts.stdout) as { name: string; conditions: { type: string }[] }[]).find(
      (row) => row.name === 'h2',
    );
    expect(h2?.conditions.map((item) => item.type)).toEqual(['MemoryPressure']);
    const status = (await statusOf(daemon.port)) as unknown as {
      availability: { host: string; availability: string; conditions: { type: string }[] }[];
    };
    expect(status.availability.find((item) => item.host === 'h2')).toMatchObject({
      availability: 'drain',
      conditions: [expect.objectContaining({ type: 'MemoryPressure' })],
    });
    const metrics = await metricsOf(daemon.port);
    expect(metric(metrics, 'heal_host_condition', { host: 'h2', condition: 'MemoryPressure' })).toBe(1);
    expect(metric(metrics, 'heal_host_condition', { host: 'h1', condition: 'MemoryPressure' })).toBe(0);
    await testbed('relieve-memory', 'h2');
    await takesWorkAgain('h2');
  }, 240_000);

  it('EngineSlow (dockerd stalls in bursts) cordons, then drains the host; it takes work again once clear', async () => {
    await drainsUnderLoad('h3', () => testbed('stall-engine', 'h3', '3', '2').then(() => undefined));
    expect(
      daemon
        .lines()
        .some((line) => line.msg === 'host draining' && String(line.reason).startsWith('EngineSlow for')),
    ).toBe(true);
    const status = (await statusOf(daemon.port)) as unknown as {
      availability: { host: string; conditions: { type: string; message: string }[] }[];
    };
    const slow = status.availability.find((item) => item.host === 'h3')?.conditions ?? [];
    expect(slow.map((item) => item.type)).toEqual(['EngineSlow']);
    expect(slow[0]!.message).toMatch(/^engine answered \d+ of the last \d+ pings slower than 1s \(max /);
    expect(
      metric(await metricsOf(daemon.port), 'heal_host_condition', { host: 'h3', condition: 'EngineSlow' }),
    ).toBe(1);
    await testbed('unstall-engine', 'h3');
    await takesWorkAgain('h3');
    expect(
      metric(await metricsOf(daemon.port), 'heal_host_condition', { host: 'h3', condition: 'EngineSlow' }),
    ).toBe(0);
  }, 240_000);

  it('DiskPressure on the data root cordons, then drains the host; it takes work again once clear', async () => {
    await drainsUnderLoad('h1', () => testbed('fill-disk', 'h1', '5').then(() => undefined));
    expect(daemon.lines().some((line) => line.msg === 'host cordoned' && line.host === 'h1')).toBe(true);
    expect(
      daemon
        .lines()
        .some((line) => line.msg === 'host draining' && String(line.reason).startsWith('DiskPressure for')),
    ).toBe(true);
    await testbed('unfill-disk', 'h1');
    await takesWorkAgain('h1');
  }, 330_000);

  it('heal hosts drain moves the replicas off, recorded on the host; activate gives it work again', async () => {
    await drainsUnderLoad('h3', async () => {
      const drained = await heal(work, 'hosts', 'drain', 'h3', '-f', 'stack.yml');
      expect(drained.stderr).toBe('');
      expect(drained.stdout).toContain('h3: drain');
    });
    const listed = await heal(work, 'hosts', '-f', 'stack.yml');
    expect(listed.stdout).toMatch(/h3\s+\S+\s+yes\s+drain/);
    const activated = await heal(work, 'hosts', 'activate', 'h3', '-f', 'stack.yml');
    expect(activated.code).toBe(0);
    await takesWorkAgain('h3');
  }, 240_000);

  it('availability: drain in the spec drains; a drain the others cannot take is refused and reported', async () => {
    const refused = specText({ h1: 'drain', maxPerNode: 1 });
    writeFileSync(join(work, 'refused.yml'), refused);
    const planned = await heal(work, 'plan', '-f', 'refused.yml');
    expect(planned.stdout).toContain('drain of h1 refused: the other hosts cannot take web.');
    expect(planned.stdout).toContain('h1 is cordoned, waiting to drain');
    await drainsUnderLoad('h1', async () =>
      writeFileSync(join(work, 'stack.yml'), specText({ h1: 'drain' })),
    );
  }, 240_000);
});
