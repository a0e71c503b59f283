/**
 * examples/blog end to end: the walkthrough of its README, step by step, on the test bed. The
 * example file is used as it is, under another stack name so it cannot meet the demo's blog.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
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

/** Image → healthy replicas, and how many containers the stack has, read from the engines. */
async function census(): Promise<{ healthy: Record<string, number>; containers: number }> {
  const healthy: Record<string, number> = {};
  let containers = 0;
  for (const host of HOSTS) {
    const lines = (await dockerOn(host, 'ps', '-a', '--filter', OWNED, '--format', '{{.Image}}\t{{.Status}}'))
      .split('\n')
      .filter(Boolean);
    containers += lines.length;
    for (const line of lines) {
      const [image = '', status = ''] = line.split('\t');
      if (/\(healthy\)/.test(status)) healthy[image] = (healthy[image] ?? 0) + 1;
    }
  }
  return { healthy, containers };
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
    expect((await census()).healthy).toEqual({ [env.images.web1]: 3 });
  });

  it('heal scale web=12 --apply edits the file and runs 12', async () => {
    const scaled = await run('scale', 'web=12', '--apply');
    expect(scaled.code).toBe(0);
    expect(readFileSync(spec, 'utf8')).toMatch(/replicas: 12 # heal scale web=N edits this line/);
    expect(await census()).toEqual({ healthy: { [env.images.web1]: 12 }, containers: 12 });
  });

  it('plans v2 as 4 batches of 3, 10 s apart, and rolls it out never below 9 healthy', async () => {
    edit('/web:v1', '/web:v2');
    const planned = await run('plan');
    expect(planned.stdout).toMatch(
      /rolling update to v1:\w+: 12 slot\(s\) in 4 batch\(es\) of 3, 10s apart, stop-first, on failure rollback, monitor 10s/,
    );

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
    expect(lowest).toBe(9);
    expect(await census()).toEqual({ healthy: { [env.images.web2]: 12 }, containers: 12 });
  }, 180_000);

  it('rolls a bad version back after its first batch, and holds it', async () => {
    edit('/web:v2', '/sick:v1');
    const applied = await run('apply', '--yes');
    expect(applied.code).toBe(1);
    expect(applied.stdout).toMatch(
      /web: rollout failed, rolling back: \d of 12 replacement\(s\) failed: .*unhealthy/,
    );
    expect(applied.stdout).toContain('Rolled back web to the previous config');
    expect(applied.stdout).toMatch(/skipped: .*the rollout of web stopped \(rolled-back\)/);
    // The batches that were skipped are not waited for: no 10 s delay before them.
    expect(applied.stdout).toMatch(/update batch 4 of 4: 3 action\(s\)\n/);
    expect(applied.stdout).not.toMatch(/update batch [234] of 4: 3 action\(s\) after/);
    expect(await census()).toEqual({ healthy: { [env.images.web2]: 12 }, containers: 12 });
    const planned = await run('plan');
    expect(planned.stdout).toContain(
      "No changes, but the hosts do not run the spec's config of web (rolled-back)",
    );
  }, 180_000);
});
