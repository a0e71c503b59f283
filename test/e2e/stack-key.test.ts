/**
 * The stack key on the test bed: a stack with an env_file secret gets a key volume on every host
 * from its first apply; what `heal plan --json` and `heal ps --json` print carries only hashes
 * keyed by it (never the key, never an unkeyed hash); a changed secret value still replaces the
 * service; `heal down --volumes` takes the key away. Read back from the engines themselves.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyedConfigHash } from '../../src/spec/keyed-hash.js';
import { loadStack } from '../../src/spec/load.js';
import { bedSpecHead, dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, containersOnAll, envOf, heal, killStartedHeals, type Run } from './helpers.js';

const STACK = 'e2ekey';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const OWNED = `label=io.heal.stack=${STACK}`;

let env: TestbedEnv;
let work: string;

function writeSpec(password: string): void {
  writeFileSync(
    join(work, 'stack.yml'),
    [
      ...bedSpecHead(env, STACK),
      'services:',
      '  api:',
      `    image: ${env.images.web1}`,
      '    env_file: api.env',
      // monitor 1s, not Swarm's 5s: each rollout here waits out its last window, and no check needs it.
      '    deploy: { replicas: 2, update_config: { monitor: 1s }, rollback_config: { monitor: 1s } }',
      '',
    ].join('\n'),
  );
  writeFileSync(join(work, 'api.env'), `DB_PASSWORD=${password}\n`);
}

const run = (...args: string[]): Promise<Run> => heal(work, ...args);

/** Each host's stack key volumes, as `name key`. */
async function keyVolumes(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const host of HOSTS) {
    const listed = await dockerOn(
      host,
      'volume',
      'ls',
      '--filter',
      OWNED,
      '--filter',
      'label=io.heal.key',
      '--format',
      '{{.Name}} {{.Label "io.heal.key"}}',
    );
    out[host] = listed.split('\n').filter(Boolean).sort();
  }
  return out;
}

/** The api containers: id, host, config hash label and DB_PASSWORD as the engine holds them. */
async function replicas(): Promise<{ id: string; host: string; hash: string; password: string }[]> {
  const out = [];
  for (const container of await containersOnAll(HOSTS, OWNED)) {
    const hash = await dockerOn(
      container.host,
      'inspect',
      '--format',
      '{{index .Config.Labels "io.heal.config-hash"}}',
      container.id,
    );
    const password = (await envOf(container.host, container.id)).find((entry) =>
      entry.startsWith('DB_PASSWORD='),
    );
    out.push({ id: container.id, host: container.host, hash: hash.trim(), password: password ?? '' });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** What heal printed holds no key and no unkeyed hash (api has secrets: every hash of it is v2). */
function expectNoOracle(printed: string, key: string | null): void {
  if (key !== null) expect(printed).not.toContain(key);
  expect(printed).not.toMatch(/v1:[0-9a-f]{12}/);
  expect(printed).not.toContain('summer2024');
  expect(printed).not.toContain('autumn2024');
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-key-'));
  await cleanStack(HOSTS, STACK);
});

afterAll(async () => {
  killStartedHeals();
  await cleanStack(HOSTS, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the stack key on three hosts', () => {
  let key = '';

  it('is given to every host by the first apply, and no plan saved to a file holds it', async () => {
    writeSpec('summer2024');
    const planned = await run('plan', '--json');
    expect(planned.code).toBe(0);
    expectNoOracle(planned.stdout, null);
    expect(planned.stdout.match(/"io\.heal\.key": "\*\*secret\*\*"/g)).toHaveLength(3);

    const saved = await run('plan', '-o', join(work, 'saved.json'));
    expect(saved.code).toBe(1);
    expect(saved.stderr).toContain('not saved: this plan gives the hosts the stack key');
    expect(existsSync(join(work, 'saved.json'))).toBe(false);

    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const volumes = await keyVolumes();
    const [line] = volumes.h1!;
    expect(line).toMatch(new RegExp(`^${STACK}_heal-key_[0-9a-f]{12} [0-9a-f]{64}$`));
    expect(volumes).toEqual({ h1: [line], h2: [line], h3: [line] });
    key = line!.split(' ')[1]!;
    expectNoOracle(applied.stdout, key);
  });

  it('keys the hash the replicas carry; plan, ps and status print no key and no unkeyed hash', async () => {
    const stack = await loadStack({ file: 'stack.yml', cwd: work, environment: {} });
    const keyed = keyedConfigHash(stack.services.api!, stack, key);
    expect(keyed).toMatch(/^v2:[0-9a-f]{64}$/);
    const running = await replicas();
    expect(running.map((replica) => [replica.hash, replica.password])).toEqual(
      Array(2).fill([keyed, 'DB_PASSWORD=summer2024']),
    );

    const ps = await run('ps', '--json');
    expect(ps.code).toBe(0);
    expect((JSON.parse(ps.stdout) as { configHash: string }[]).map((row) => row.configHash)).toEqual([
      keyed,
      keyed,
    ]);
    expectNoOracle(ps.stdout, key);
    const planned = await run('plan', '--json');
    expect(planned.code).toBe(0);
    expect((JSON.parse(planned.stdout) as { actions: unknown[] }).actions).toEqual([]);
    expectNoOracle(planned.stdout, key);
    const status = await run('status', '--json');
    expect((JSON.parse(status.stdout) as { dirty: number }[]).map((row) => row.dirty)).toEqual([0]);
    // heal config prints the public hash: not what the replicas carry, and no secret digest.
    const config = await run('config', '--json');
    const publicHash = (JSON.parse(config.stdout) as { services: { api: Record<string, string> } }).services
      .api['x-heal-config-hash'];
    expect(publicHash).toMatch(/^v1:/);
    expect(publicHash).not.toBe(keyed);
  });

  it('replaces the service when its secret value changes, under the same key', async () => {
    const before = await replicas();
    writeSpec('autumn2024');
    const planned = await run('plan', '--json');
    const plan = JSON.parse(planned.stdout) as {
      actions: { kind: string; service: string | null }[];
      rollouts: { to: string }[];
    };
    expect(
      plan.actions.filter((action) => action.kind === 'replace').map((action) => action.service),
    ).toEqual(['api', 'api']);
    expect(plan.rollouts.map((rollout) => rollout.to)).toEqual([expect.stringMatching(/^v2:/)]);
    expectNoOracle(planned.stdout, key);

    const applied = await run('apply', '--yes');
    expect(applied.code).toBe(0);
    const after = await replicas();
    expect(after.map((replica) => replica.password)).toEqual(Array(2).fill('DB_PASSWORD=autumn2024'));
    expect(after.some((replica) => before.some((old) => old.id === replica.id))).toBe(false);
    expect(Object.values(await keyVolumes()).flat()).toEqual(Array(3).fill(expect.stringContaining(key)));
    expect((await run('plan', '--detailed-exitcode')).code).toBe(0);
  });

  it('rolls the service back by hand to the keyed config it ran before, and forward again', async () => {
    const rolled = await run('rollback', 'api', '--yes');
    expect(rolled.stderr).toBe('');
    expect(rolled.code).toBe(0);
    expectNoOracle(rolled.stdout, key);
    writeSpec('summer2024');
    const stack = await loadStack({ file: 'stack.yml', cwd: work, environment: {} });
    const before = keyedConfigHash(stack.services.api!, stack, key);
    expect((await replicas()).map((replica) => replica.hash)).toEqual([before, before]);
    // The spec back at that config: the mark is stale, nothing is replaced.
    const forward = await run('apply', '--yes');
    expect(forward.code).toBe(0);
    expect(forward.stdout).toContain('0 to replace');
  });

  it('stays through --prune-volumes and saved plans, and goes with heal down --volumes', async () => {
    const pruned = await run('apply', '--yes', '--prune-volumes');
    expect(pruned.code).toBe(0);
    expect(Object.values(await keyVolumes()).flat()).toHaveLength(3);
    const saved = await run('plan', '-o', join(work, 'saved.json'));
    expect(saved.code).toBe(0);
    expect((await run('apply', '--yes', join(work, 'saved.json'))).code).toBe(0);

    expect((await run('down', '--yes')).code).toBe(0);
    expect(Object.values(await keyVolumes()).flat()).toHaveLength(3);
    const down = await run('down', '--yes', '--volumes');
    expect(down.code).toBe(0);
    expect(await keyVolumes()).toEqual({ h1: [], h2: [], h3: [] });
  });
});
