/**
 * The routing mesh under load on the test bed (issue 16's list beyond test/e2e/mesh.test.ts). One
 * stack serves every check: web (`80:8080`) and api (`81:8080`), two services on the same target
 * port, each behind its own proxy on every host. A bounded load generator (test/load) runs on
 * every host's published ports during each change:
 * api rolls out stop-first (6 replicas in 2 batches of 3, slow requests in flight); web scales
 * 6 → 12 → 6; a proxy is killed; a host is killed. The counts are the smallest that keep each
 * check's point: two per host of each service (a host's loss takes both services' replicas), more
 * than one batch (the first batch drains with slow requests in flight while the rest still serve),
 * and a scale that doubles and halves web behind every proxy.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServersState, type CurrentServer } from '../../src/mesh/servers-state.js';
import { proxySocketOnHost } from '../../src/mesh/names.js';
import { runLoad, sendOne, startLoad, type LoadRun } from '../load/load.js';
import type { RequestRecord } from '../load/summary.js';
import { bedSpecHead, dockerOn, ensureTestbed, sshOn, testbed, type TestbedEnv } from '../testbed.js';
import {
  cleanStack,
  containersOnAll,
  heal,
  killStartedHeals,
  startHeal,
  waitFor,
  type Run,
} from './helpers.js';

const STACK = 'e2emeshload';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const PORTS = { web: 80, api: 81 } as const;
const TIMEOUT_MS = 2_000;
/** The window README and bench state for a host switched off (≤ 3 s), doubled: the bound asserted. */
const HOST_LOSS_BOUND_MS = 6_000;
/** api's replicas: two per host, rolled out in two batches of 3. */
const API = 6;
/** web's scale under load: 6 → SCALED → 6. */
const SCALED = 12;

let env: TestbedEnv;
let work: string;
let spec: string;

const run = (...args: string[]): Promise<Run> => heal(work, ...args, '-f', spec);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function specText(web: number, apiImage: string): string {
  const health =
    "healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }";
  return [
    ...bedSpecHead(env, STACK, [`  mesh: { image: ${env.images.proxy}, drain_timeout: 15s }`]),
    'services:',
    '  web:',
    `    image: ${env.images.web1}`,
    `    ports: ["${PORTS.web}:8080"]`,
    `    ${health}`,
    '    deploy:',
    `      replicas: ${web}`,
    '  api:',
    `    image: ${apiImage}`,
    `    ports: ["${PORTS.api}:8080"]`,
    `    ${health}`,
    '    stop_grace_period: 2s',
    '    deploy:',
    `      replicas: ${API}`,
    '      update_config: { parallelism: 3, delay: 0s, monitor: 1s, order: stop-first }',
    '',
  ].join('\n');
}

const url = (host: string, port: number, path = '/host'): string =>
  `http://${env.hosts.find((h) => h.name === host)!.address}:${port}${path}`;

/** A steady, bounded load: `/host` on each port of each host named, 30 requests a second. */
function load(hosts: readonly string[], maxDurationMs = 90_000): LoadRun {
  return startLoad({
    targets: hosts.flatMap((host) => [url(host, PORTS.web), url(host, PORTS.api)]),
    concurrency: 4,
    ratePerSecond: 30,
    maxRequests: 4_000,
    maxDurationMs,
    timeoutMs: TIMEOUT_MS,
    keepBodies: true,
  });
}

/** A failed request, short enough to read in an assertion's message. */
const failures = (records: readonly RequestRecord[]): string[] =>
  records
    .filter((record) => !record.ok)
    .map(
      (record) =>
        `${new Date(record.startedAt).toISOString()} ${record.target} ${record.reason} ${record.error ?? ''}`,
    );

/** The running replicas (no proxy) of a service: container ids by host. */
async function replicas(
  service: string,
): Promise<{ id: string; host: string; name: string; service: string }[]> {
  const all = await containersOnAll(HOSTS, `label=io.heal.service=${service}`);
  return all.filter((c) => c.stack === STACK && c.slot !== null && c.state === 'running');
}

/** `show servers state` of a host's proxy of a service, through its runtime socket on the host. */
async function proxyServers(host: string, service: string): Promise<CurrentServer[]> {
  const script =
    'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]);' +
    " s.sendall(b'show servers state\\n'); sys.stdout.write(s.makefile().read())";
  return parseServersState(await sshOn(host, `python3 -c "${script}" ${proxySocketOnHost(STACK, service)}`));
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-meshload-'));
  spec = join(work, 'stack.yml');
  await cleanStack(HOSTS, STACK);
}, 120_000);

afterAll(async () => {
  killStartedHeals();
  // A host killed by a failed check comes back first: the bed stays as it was found.
  if (env) await ensureTestbed(3);
  if (env) await cleanStack(HOSTS, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
}, 180_000);

describe('the routing mesh under load', () => {
  it('serves two services on the same target port, each on its own port and by its own name', async () => {
    writeFileSync(spec, specText(6, env.images.web1));
    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const web = new Set((await replicas('web')).map((c) => c.id.slice(0, 12)));
    const api = new Set((await replicas('api')).map((c) => c.id.slice(0, 12)));
    expect([web.size, api.size]).toEqual([6, API]);
    // 12 requests to each port of each host, one at a time: each port answers from its own service.
    const probe = await runLoad({
      targets: HOSTS.flatMap((host) => [url(host, PORTS.web), url(host, PORTS.api)]),
      concurrency: 1,
      maxRequests: 72,
      maxDurationMs: 30_000,
      timeoutMs: TIMEOUT_MS,
      keepBodies: true,
    });
    expect(failures(probe.records)).toEqual([]);
    const served = (port: number): Set<string> =>
      new Set(probe.records.filter((r) => r.target.includes(`:${port}/`)).map((r) => r.body!));
    expect([...served(PORTS.web)].filter((body) => !web.has(body))).toEqual([]);
    expect([...served(PORTS.api)].filter((body) => !api.has(body))).toEqual([]);
    expect([served(PORTS.web).size, served(PORTS.api).size]).toEqual([6, API]);
    // By name, from a web replica: web:8080 and api:8080 are two proxies, not one address.
    const [from] = await replicas('web');
    const byName = async (name: string): Promise<string> => {
      const request = `printf 'GET /host HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${name} 8080`;
      return (await dockerOn(from!.host, 'exec', from!.id, 'sh', '-c', request))
        .trim()
        .split('\n')
        .at(-1)!
        .trim();
    };
    expect(web.has(await byName('web'))).toBe(true);
    expect(api.has(await byName('api'))).toBe(true);
    console.log(`deploy of ${6 + API} replicas and 6 proxies: ${applied.ms} ms`);
  }, 150_000);

  it(`rolls ${API} replicas of api out stop-first under load: no failed request, slow requests in flight complete`, async () => {
    const old = new Map((await replicas('api')).map((c) => [c.id.slice(0, 12), c.name]));
    const traffic = load(HOSTS, 180_000);
    await sleep(1_000);
    writeFileSync(spec, specText(6, env.images.web2));
    const applying = startHeal(work, ['apply', '--yes', '-f', spec]);
    // Once the plan is printed (its actions start at once), API slow requests (12 s, under the 15 s
    // drain_timeout) on each host's port 81: each proxy's round-robin puts one on every api
    // replica, so the first batch's replicas are drained and stopped with a slow request in flight.
    let slow: Promise<RequestRecord[]> | undefined;
    // When each old replica's replace began: the apply's plain progress line for it.
    const replacedAt = new Map<string, number>();
    while (applying.running()) {
      const lines = applying.stdout().split('\n');
      if (!slow && lines.some((line) => line.startsWith('Plan: ')))
        slow = Promise.all(
          HOSTS.flatMap((host) =>
            Array.from({ length: API }, () =>
              sendOne(url(host, PORTS.api, '/cgi-bin/slow?12'), 30_000, true),
            ),
          ),
        );
      const started = lines.filter((line) => / replace .* \.\.\.$/.test(line));
      for (const [id, name] of old)
        if (!replacedAt.has(id) && started.some((line) => line.includes(` ${name} → `)))
          replacedAt.set(id, Date.now());
      await sleep(20);
    }
    const applied = await applying.done;
    expect(applied.stderr).toBe('');
    expect(applied.code, applied.stdout).toBe(0);
    const apiNow = await replicas('api');
    const result = await traffic.stop();
    expect(slow, applied.stdout).toBeDefined();
    const slowDone = await slow!;
    expect(failures(result.records)).toEqual([]);
    expect(result.sent).toBeGreaterThan(100);
    expect(apiNow.filter((c) => old.has(c.id.slice(0, 12)))).toEqual([]);
    expect(apiNow.length).toBe(API);
    expect(slowDone.filter((r) => !r.ok).map((r) => `${r.target} ${r.reason} ${r.error}`)).toEqual([]);
    // Slow requests whose replica's replacement (drain, stop) began while they were in flight.
    const replica = (r: RequestRecord): string => /on (\w+)/.exec(r.body ?? '')?.[1] ?? '';
    const across = slowDone.filter(
      (r) => (replacedAt.get(replica(r)) ?? Infinity) < r.startedAt + r.durationMs,
    );
    expect(across.length, JSON.stringify(slowDone.map(replica))).toBeGreaterThan(0);
    console.log(
      `api rolled out stop-first in ${applied.ms} ms: ${result.sent} requests, ${result.failed} failed; ${across.length} of ${slowDone.length} slow requests across their replica's replacement, all completed`,
    );
  }, 240_000);

  it(`scales web 6 → ${SCALED} → 6 under load with no failed request`, async () => {
    const traffic = load(HOSTS, 240_000);
    const counts: number[] = [];
    const times: number[] = [];
    for (const wanted of [SCALED, 6]) {
      const scaled = await heal(work, 'scale', `web=${wanted}`, '--apply', '-f', spec);
      expect(scaled.code, scaled.stdout + scaled.stderr).toBe(0);
      times.push(scaled.ms);
      counts.push((await replicas('web')).length);
    }
    const result = await traffic.stop();
    expect(counts).toEqual([SCALED, 6]);
    expect(failures(result.records)).toEqual([]);
    expect(result.sent).toBeGreaterThan(100);
    console.log(
      `web 6 → ${SCALED} → 6 (${times.join(' ms, ')} ms): ${result.sent} requests, ${result.failed} failed`,
    );
  }, 300_000);

  it('re-creates a killed proxy with every member', async () => {
    const proxy = `${STACK}-web-mesh`;
    const traffic = load(HOSTS);
    await sleep(1_000);
    const killedAt = Date.now();
    await dockerOn('h2', 'kill', proxy);
    const planned = await run('plan', '--json');
    expect(planned.code).toBe(0);
    const actions = (
      JSON.parse(planned.stdout) as { actions: { kind: string; host: string; service?: string }[] }
    ).actions;
    expect(actions.map((a) => [a.kind, a.host, a.service])).toEqual([['create-proxy', 'h2', 'web']]);
    const applied = await run('apply', '--yes');
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await sleep(1_000);
    const result = await traffic.stop();
    // Only h2's port 80 failed, and only until the apply had re-created its proxy.
    const failed = result.records.filter((r) => !r.ok);
    expect(failed.filter((r) => r.target !== url('h2', PORTS.web))).toEqual([]);
    expect(failed.filter((r) => r.startedAt < killedAt || r.startedAt > applied.endedAt)).toEqual([]);
    // Its members: every replica of web, up (the proxy's own checks, bounded wait).
    const members = (await replicas('web')).map((c) => c.id.slice(0, 12)).sort();
    const up = await waitFor('h2 proxy members up', 15_000, async () => {
      const servers = await proxyServers('h2', 'web');
      return servers.length === members.length && servers.every((s) => s.operational === 'up')
        ? servers
        : undefined;
    });
    expect(up.map((s) => s.server.slice(-12)).sort()).toEqual(members);
    const again = await run('plan', '--json');
    expect((JSON.parse(again.stdout) as { actions: unknown[] }).actions).toEqual([]);
    console.log(
      `proxy killed on h2: ${failed.length} of ${result.sent} requests failed, all to h2:80 before the apply ended`,
    );
  }, 120_000);

  it('loses a host under load: failures only within the stated window, its replicas taken out', async () => {
    const onH3 = (await Promise.all(['web', 'api'].map(replicas))).flat().filter((c) => c.host === 'h3');
    const services = [...new Set(onH3.map((c) => c.service))].sort();
    expect(services).toEqual(['api', 'web']);
    const survivors = ['h1', 'h2'];
    const traffic = load(survivors);
    try {
      await sleep(2_000);
      const from = Date.now();
      await testbed('kill', 'h3');
      const killedAt = Date.now();
      await sleep(HOST_LOSS_BOUND_MS + 2_000);
      const result = await traffic.stop();
      const failed = result.records.filter((r) => !r.ok);
      const window = result.failureWindow;
      console.log(
        `h3 killed (the kill took ${killedAt - from} ms): ${failed.length} of ${result.sent} failed, window ${window?.ms ?? 0} ms, first ${window ? window.first - from : '-'} ms after the kill began`,
      );
      expect(failed.filter((r) => r.startedAt < from || r.startedAt > killedAt + HOST_LOSS_BOUND_MS)).toEqual(
        [],
      );
      expect(window?.ms ?? 0).toBeLessThanOrEqual(HOST_LOSS_BOUND_MS);
      expect(result.sent).toBeGreaterThan(200);
      // Every proxy left holds h3's replicas, each down: out of the balancing.
      for (const host of survivors)
        for (const service of services) {
          const servers = (await proxyServers(host, service)).filter((s) => s.server.startsWith('h3-'));
          const ids = onH3.filter((c) => c.service === service).map((c) => c.id.slice(0, 12));
          expect(
            servers.map((s) => [s.server.slice(-12), s.operational]).sort(),
            `${host} ${service}`,
          ).toEqual(ids.map((id) => [id, 'down']).sort());
        }
    } finally {
      await traffic.stop();
      await testbed('revive', 'h3');
    }
    expect(await testbed('status')).toMatch(/h3 running/);
  }, 180_000);
});
