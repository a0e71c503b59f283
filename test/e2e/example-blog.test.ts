/**
 * examples/blog end to end: the walkthrough of its README, step by step, on the test bed. The
 * example file is used as it is, under another stack name so it cannot meet the demo's blog.
 * Its port 80 goes through the routing mesh: every host answers it, from replicas on every host,
 * and the rolling update and the rollback fail no request sent to it (a bounded load).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { runLoad, startLoad, type LoadRun } from '../load/load.js';
import { cleanStack, heal, killStartedHeals, startHeal, type Run } from './helpers.js';

const STACK = 'e2eblog';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const OWNED = `label=io.heal.stack=${STACK}`;
const EXAMPLE = new URL('../../examples/blog/stack.yml', import.meta.url);

let env: TestbedEnv;
let work: string;
let spec: string;

const run = (...args: string[]): Promise<Run> => heal(work, ...args, '-f', spec);

/** The README's `sed -i 's|FROM|TO|'` on the copy of the example. */
function edit(from: string, to: string): void {
  const text = readFileSync(spec, 'utf8');
  expect(text).toContain(from);
  writeFileSync(spec, text.replace(from, to));
}

/**
 * Image → healthy replicas, how many replica containers the stack has (a slot each), and its mesh
 * proxies per host (running), read from the engines.
 */
async function census(): Promise<{ healthy: Record<string, number>; containers: number; proxies: string }> {
  const healthy: Record<string, number> = {};
  let containers = 0;
  const proxies: string[] = [];
  for (const host of HOSTS) {
    const lines = (
      await dockerOn(
        host,
        'ps',
        '-a',
        '--filter',
        OWNED,
        '--format',
        '{{.Image}}\t{{.Status}}\t{{.Label "io.heal.slot"}}\t{{.Label "io.heal.role"}}',
      )
    )
      .split('\n')
      .filter(Boolean);
    for (const line of lines) {
      const [image = '', status = '', slot = '', role = ''] = line.split('\t');
      if (role === 'mesh-proxy') {
        if (status.startsWith('Up')) proxies.push(host);
        continue;
      }
      if (slot === '') continue;
      containers += 1;
      if (/\(healthy\)/.test(status)) healthy[image] = (healthy[image] ?? 0) + 1;
    }
  }
  return { healthy, containers, proxies: proxies.join(' ') };
}

/** GET /host on every host's port 80, round-robin, a new connection each: bounded in count and time. */
const port80 = (maxRequests: number, ratePerSecond?: number) => ({
  targets: env.hosts.map((host) => `http://${host.address}:80/host`),
  concurrency: 2,
  maxRequests,
  maxDurationMs: 200_000,
  timeoutMs: 3000,
  keepBodies: true,
  ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
});

/** Every request of a run that failed, as `target: reason error`, for an assertion that names them. */
async function failures(load: LoadRun): Promise<string[]> {
  const result = await load.stop();
  return result.records
    .filter((record) => !record.ok)
    .map((r) => `${r.target}: ${r.reason} ${r.error ?? r.status}`);
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-blog-'));
  spec = join(work, 'stack.yml');
  const example = readFileSync(EXAMPLE, 'utf8');
  expect(example).toMatch(/^name: blog$/m);
  writeFileSync(spec, example.replace(/^name: blog$/m, `name: ${STACK}`));
  await cleanStack(HOSTS, STACK);
});

afterAll(async () => {
  killStartedHeals();
  if (env) await cleanStack(HOSTS, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples/blog, as its README walks it', () => {
  it('applies 3 healthy replicas of v1', async () => {
    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(await census()).toEqual({ healthy: { [env.images.web1]: 3 }, containers: 3, proxies: 'h1 h2 h3' });
    // Port 80 answers on every host, from the 3 replicas (one per host) whichever host is asked.
    const served = await runLoad(port80(12));
    expect(served.failed).toBe(0);
    expect(Object.values(served.byTarget).map((target) => target.sent)).toEqual([4, 4, 4]);
    expect(served.distinctBodies).toBe(3);
  });

  it('heal scale web=12 --apply edits the file and runs 12', async () => {
    const scaled = await run('scale', 'web=12', '--apply');
    expect(scaled.code).toBe(0);
    expect(readFileSync(spec, 'utf8')).toMatch(/replicas: 12 # heal scale web=N edits this line/);
    expect(await census()).toEqual({
      healthy: { [env.images.web1]: 12 },
      containers: 12,
      proxies: 'h1 h2 h3',
    });
    // 36 requests, 12 to each host's port 80: at least 10 of the 12 replicas answer.
    const served = await runLoad(port80(36));
    expect(served.failed).toBe(0);
    expect(served.distinctBodies).toBeGreaterThanOrEqual(10);
  });

  it('plans v2 as 4 batches of 3, 10 s apart, and rolls it out never below 9 healthy', async () => {
    edit('/web:v1', '/web:v2');
    const planned = await run('plan');
    expect(planned.stdout).toMatch(
      /rolling update to v1:\w+: 12 slot\(s\) in 4 batch\(es\) of 3, 10s apart, stop-first, on failure rollback, monitor 10s/,
    );

    const load = startLoad(port80(4000, 10));
    const started = startHeal(work, ['apply', '--yes', '-f', spec]);
    let lowest = Number.POSITIVE_INFINITY;
    while (started.running()) {
      const { healthy } = await census();
      const count = Object.values(healthy).reduce((a, b) => a + b, 0);
      if (started.running()) lowest = Math.min(lowest, count);
    }
    const applied = await started.done;
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/phase \d+ update batch 2 of 4: 3 action\(s\) after 10\.0s/);
    expect(applied.stdout).toMatch(/web: 6 of 12 slots updated and healthy/);
    // Three delays of 10 s between four batches.
    expect(applied.ms).toBeGreaterThanOrEqual(30_000);
    // Each old replica left every proxy (drained) before it stopped: port 80 failed no request.
    expect(load.sample().sent).toBeGreaterThan(200);
    expect(await failures(load)).toEqual([]);
    // A batch's 3 replacements drain and stop each at its own pace: the census may see 9 or a few more.
    expect(lowest).toBeGreaterThanOrEqual(9);
    expect(lowest).toBeLessThan(12);
    expect(await census()).toEqual({
      healthy: { [env.images.web2]: 12 },
      containers: 12,
      proxies: 'h1 h2 h3',
    });
  }, 180_000);

  it('rolls a bad version back after its first batch, and holds it', async () => {
    edit('/web:v2', '/sick:v1');
    const load = startLoad(port80(4000, 10));
    const applied = await run('apply', '--yes');
    // The bad replicas never turned healthy, so no proxy ever sent them a request.
    expect(load.sample().sent).toBeGreaterThan(50);
    expect(await failures(load)).toEqual([]);
    expect(applied.code).toBe(1);
    expect(applied.stdout).toMatch(
      /web: rollout failed, rolling back: \d of 12 replacement\(s\) failed: .*unhealthy/,
    );
    expect(applied.stdout).toContain('Rolled back web to the previous config');
    expect(applied.stdout).toMatch(/skipped: .*the rollout of web stopped \(rolled-back\)/);
    // The batches that were skipped are not waited for: no 10 s delay before them.
    expect(applied.stdout).toMatch(/update batch 4 of 4: 3 action\(s\)\n/);
    expect(applied.stdout).not.toMatch(/update batch [234] of 4: 3 action\(s\) after/);
    expect(await census()).toEqual({
      healthy: { [env.images.web2]: 12 },
      containers: 12,
      proxies: 'h1 h2 h3',
    });
    const planned = await run('plan');
    expect(planned.stdout).toContain(
      "No changes, but the hosts do not run the spec's config of web (rolled-back)",
    );
  }, 180_000);
});
