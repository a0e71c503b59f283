/**
 * Rolling updates and rollback end to end: 6 replicas on the test bed's three hosts, the built
 * CLI, real sshd and dockerd. The tests run in order on one stack, each from where the one before
 * left it. While a rollout runs, the engines are polled directly (not through heal) for how many
 * replicas are healthy.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bedSpecHead, dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import {
  cleanStack,
  containersOnAll,
  heal,
  killStartedHeals,
  startHeal,
  waitFor,
  type Run,
} from './helpers.js';

const STACK = 'e2eroll';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const OWNED = `label=io.heal.stack=${STACK}`;
/**
 * Replicas and update parallelism of the first stack: 6 in batches of 2 keep every rule a rollout
 * of 12 in batches of 3 shows (examples/blog's test runs that one), in half the time.
 */
const N = 6;
const P = 2;
const BATCHES = N / P;

let env: TestbedEnv;
let work: string;

type Shape = {
  image: string;
  order: 'stop-first' | 'start-first';
  failureAction: 'pause' | 'rollback' | 'continue';
  /** In the config hash: a new value makes a new config of the same image. */
  attempt: number;
  /** Without one, a new replica is done as soon as it runs: only `monitor` sees it fail. */
  healthcheck?: boolean;
  /**
   * update_config.monitor and rollback_config.monitor: 1s unless a check needs the window (a
   * healthy rollout waits out its last batch's window, Swarm's 5s default, for nothing here).
   */
  monitor?: string;
};

function writeSpec(shape: Shape): void {
  const text = [
    ...bedSpecHead(env, STACK),
    'services:',
    '  web:',
    `    image: ${shape.image}`,
    `    environment: { ATTEMPT: "${shape.attempt}" }`,
    shape.healthcheck === false
      ? '    healthcheck: { disable: true }'
      : "    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }",
    '    deploy:',
    `      replicas: ${N}`,
    `      update_config: { parallelism: ${P}, delay: 0s, order: ${shape.order}, failure_action: ${shape.failureAction}, monitor: ${shape.monitor ?? '1s'} }`,
    `      rollback_config: { parallelism: ${P}, monitor: 1s }`,
    '',
  ].join('\n');
  writeFileSync(join(work, 'stack.yml'), text);
}

const run = (...args: string[]): Promise<Run> => heal(work, ...args);

type Replica = { id: string; host: string; image: string; state: string; health: string };

/** Every container of the stack, read from the engines. */
async function replicas(): Promise<Replica[]> {
  const format = '{{.ID}}\t{{.Image}}\t{{.State}}\t{{.Status}}';
  const lists = await Promise.all(
    HOSTS.map(async (host) =>
      (await dockerOn(host, 'ps', '-a', '--no-trunc', '--filter', OWNED, '--format', format))
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [id = '', image = '', state = '', status = ''] = line.split('\t');
          const health = /\(healthy\)/.test(status)
            ? 'healthy'
            : /\(unhealthy\)/.test(status)
              ? 'unhealthy'
              : 'starting';
          return { id, host, image, state, health };
        }),
    ),
  );
  return lists.flat();
}

/** Healthy replicas right now, counted on the engines as fast as they answer. */
async function healthyNow(): Promise<number> {
  const counts = await Promise.all(
    HOSTS.map(
      async (host) =>
        (await dockerOn(host, 'ps', '-q', '--filter', OWNED, '--filter', 'health=healthy'))
          .split('\n')
          .filter(Boolean).length,
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Runs `heal apply --yes` while polling the healthy count; returns the run and the lowest count seen. */
async function applyWatched(): Promise<{ run: Run; lowest: number; samples: number }> {
  const started = startHeal(work, ['apply', '--yes']);
  let lowest = Number.POSITIVE_INFINITY;
  let samples = 0;
  while (started.running()) {
    const count = await healthyNow();
    if (started.running()) {
      lowest = Math.min(lowest, count);
      samples += 1;
    }
    // Three docker CLIs a sample: a pause keeps them from taking a core of the 2 the apply needs
    // (a replica is down for over a second, healthchecks 1 s apart: 4 samples a second see it).
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return { run: await started.done, lowest, samples };
}

/** Image → number of running healthy replicas. */
function byImage(list: readonly Replica[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const replica of list)
    if (replica.state === 'running' && replica.health === 'healthy')
      out[replica.image] = (out[replica.image] ?? 0) + 1;
  return out;
}

/** Rollout marks on each host: volume names. */
async function marks(): Promise<string[]> {
  const all = await Promise.all(
    HOSTS.map((host) =>
      dockerOn(host, 'volume', 'ls', '-q', '--filter', OWNED, '--filter', 'label=io.heal.rollout'),
    ),
  );
  return all.flatMap((text) => text.split('\n').filter(Boolean)).sort();
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-roll-'));
  await cleanStack(HOSTS, STACK);
});

afterAll(async () => {
  killStartedHeals();
  if (env) await cleanStack(HOSTS, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe(`rolling updates on ${N} replicas`, () => {
  it(`deploys ${N} replicas of v1`, async () => {
    writeSpec({ image: env.images.web1, order: 'stop-first', failureAction: 'rollback', attempt: 1 });
    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(byImage(await replicas())).toEqual({ [env.images.web1]: N });
  });

  it('heal rollback refuses when nothing records a previous config, and changes nothing', async () => {
    // A first deploy: no replica has run any other config.
    const refused = await run('rollback', 'web', '--yes');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/nothing to roll back to: web: .*no container records a previous config/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(await marks()).toEqual([]);
  });

  it(`updates v1 to v2 in batches of ${P}, never fewer than ${N - P} healthy`, async () => {
    writeSpec({ image: env.images.web2, order: 'stop-first', failureAction: 'rollback', attempt: 1 });
    const planned = await run('plan');
    expect(planned.stdout).toMatch(
      new RegExp(`rolling update to v1:\\w+: ${N} slot\\(s\\) in ${BATCHES} batch\\(es\\) of ${P}`),
    );
    expect(planned.stdout).toContain(`update batch ${BATCHES} of ${BATCHES}`);

    const { run: applied, lowest, samples } = await applyWatched();
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`web: ${P} of ${N} slots updated and healthy`);
    expect(applied.stdout).toContain(`web: rollout done, ${N} of ${N} slots updated`);
    expect(samples).toBeGreaterThan(5);
    expect(lowest).toBeGreaterThanOrEqual(N - P);
    // The batches did take replicas down: the floor was reached, not avoided by accident.
    expect(lowest).toBeLessThan(N);
    const after = await replicas();
    expect(after).toHaveLength(N);
    expect(byImage(after)).toEqual({ [env.images.web2]: N });
  });

  it(`start-first keeps all ${N} serving throughout`, async () => {
    writeSpec({ image: env.images.web1, order: 'start-first', failureAction: 'rollback', attempt: 1 });
    const { run: applied, lowest, samples } = await applyWatched();
    expect(applied.code).toBe(0);
    expect(samples).toBeGreaterThan(5);
    expect(lowest).toBeGreaterThanOrEqual(N);
    const after = await replicas();
    expect(after).toHaveLength(N);
    expect(byImage(after)).toEqual({ [env.images.web1]: N });
  });

  it('a version that never turns healthy is rolled back, says so, and is not tried again', async () => {
    writeSpec({ image: env.images.sick, order: 'stop-first', failureAction: 'rollback', attempt: 1 });
    const { run: applied, lowest } = await applyWatched();
    expect(applied.code).toBe(1);
    expect(applied.stdout).toMatch(
      new RegExp(`web: rollout failed, rolling back: \\d of ${N} replacement\\(s\\) failed`),
    );
    expect(applied.stdout).toMatch(/unhealthy/);
    expect(applied.stdout).toContain('Rolled back web to the previous config');
    expect(lowest).toBeGreaterThanOrEqual(N - P);
    const after = await replicas();
    expect(after).toHaveLength(N);
    expect(byImage(after)).toEqual({ [env.images.web1]: N });
    expect((await marks()).length).toBe(3);

    // Held: the plan changes nothing and says why; apply does nothing and does not call it success.
    const planned = await run('plan', '--detailed-exitcode');
    expect(planned.stdout).toMatch(/web: v1:\w+ was rolled back \(.*unhealthy.*\)/);
    expect(planned.stdout).toContain(
      "No changes, but the hosts do not run the spec's config of web (rolled-back)",
    );
    expect(planned.code).toBe(0);
    const again = await run('apply', '--yes');
    expect(again.code).toBe(1);
    const status = JSON.parse((await run('status', '--json')).stdout) as {
      rollout: { state: string } | null;
    }[];
    expect(status[0]?.rollout?.state).toBe('rolled-back');
    const table = await run('status');
    expect(table.stdout).toMatch(/^SERVICE .* ROLLOUT$/m);
    expect(table.stdout).toMatch(
      new RegExp(`^web .* rolled-back: \\d of ${N} replacement\\(s\\) failed: `, 'm'),
    );
  });

  it('with failure_action pause, stops where it failed, and heal rollback returns it by hand', async () => {
    writeSpec({ image: env.images.sick, order: 'stop-first', failureAction: 'pause', attempt: 2 });
    const applied = await run('apply', '--yes');
    expect(applied.code).toBe(1);
    expect(applied.stdout).toMatch(new RegExp(`web: rollout paused: \\d of ${N} replacement\\(s\\) failed`));
    expect(applied.stdout).toMatch(/skipped: .*the rollout of web stopped \(paused\)/);
    const paused = await replicas();
    expect(paused).toHaveLength(N);
    expect(paused.filter((replica) => replica.image === env.images.sick)).toHaveLength(P);
    expect(byImage(paused)).toEqual({ [env.images.web1]: N - P });
    // The rolled-back mark of the last attempt is gone; this one's pause mark is there.
    expect((await marks()).every((name) => name.includes('_heal-paused_web_'))).toBe(true);

    // Held: no replica of the old config is replaced; the failed ones are healed as any replica.
    const held = await run('plan', '--json');
    const heldPlan = JSON.parse(held.stdout) as { warnings: string[]; rollouts: unknown[] };
    expect(heldPlan.warnings).toContainEqual(expect.stringMatching(/^web: the rollout of v1:\w+ is paused/));
    expect(heldPlan.rollouts).toEqual([]);

    const back = await run('rollback', 'web', '--yes');
    expect(back.stderr).toBe('');
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(new RegExp(`rollback to v1:\\w+: ${P} slot\\(s\\)`));
    const after = await replicas();
    expect(after).toHaveLength(N);
    expect(byImage(after)).toEqual({ [env.images.web1]: N });
  });

  it(`heal killed mid-rollout resumes, never has more than ${P} down, and finishes with no mix`, async () => {
    writeSpec({ image: env.images.web2, order: 'stop-first', failureAction: 'rollback', attempt: 3 });
    const first = startHeal(work, ['apply', '--yes']);
    let lowest = Number.POSITIVE_INFINITY;
    await waitFor('the second batch to start', 60_000, async () => {
      lowest = Math.min(lowest, await healthyNow());
      return new RegExp(`phase \\d+ update batch 2 of ${BATCHES}:`).test(first.stdout()) ? true : undefined;
    });
    process.kill(first.pid, 'SIGKILL');
    const killed = await first.done;
    expect(killed.code).toBe(-1);
    const mixed = await replicas();
    expect(new Set(mixed.map((replica) => replica.image)).size).toBe(2);

    const { run: resumed, lowest: lowestAfter } = await applyWatched();
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(Math.min(lowest, lowestAfter)).toBeGreaterThanOrEqual(N - P);
    const after = await replicas();
    expect(after).toHaveLength(N);
    expect(byImage(after)).toEqual({ [env.images.web2]: N });
    const converged = await run('plan', '--detailed-exitcode');
    expect(converged.code).toBe(0);
  });

  it('a tag that does not exist fails before any replica is stopped, and is rolled back as a failed rollout', async () => {
    const before = await replicas();
    writeSpec({
      image: env.images.web2.replace(/:v2$/, ':v404'),
      order: 'stop-first',
      failureAction: 'rollback',
      attempt: 3,
    });
    const applied = await run('apply', '--yes');
    expect(applied.code).toBe(1);
    expect(applied.stdout).toMatch(/pull .*:v404.*FAILED|failed: .*pull .*v404/);
    expect(applied.stdout).toMatch(/could not be pulled on h\d: its registry has no such image/);
    // A definite "no such image" is a failed rollout: failure_action takes the service back, so
    // that heal goes on healing the config that runs instead of retrying a pull that cannot work.
    expect(applied.stdout).toContain('Rolled back web to the previous config');
    const after = await replicas();
    expect(after.map((replica) => replica.id).sort()).toEqual(before.map((replica) => replica.id).sort());
    expect(byImage(after)).toEqual({ [env.images.web2]: N });
    expect(await containersOnAll(HOSTS, OWNED)).toHaveLength(N);
    const planned = await run('plan');
    expect(planned.stdout).toContain(
      "No changes, but the hosts do not run the spec's config of web (rolled-back)",
    );
  });

  it('a replica that exits within monitor of starting counts as a failure', async () => {
    writeSpec({
      image: env.images.crash,
      order: 'stop-first',
      failureAction: 'rollback',
      attempt: 4,
      healthcheck: false,
      // The image exits 1 s after it starts: well within the window on a loaded machine.
      monitor: '5s',
    });
    const applied = await run('apply', '--yes');
    expect(applied.code).toBe(1);
    // Each new replica ran (so its batch was done), and exited a second later.
    expect(applied.stdout).toMatch(
      new RegExp(
        `rolling back: \\d of ${N} replacement\\(s\\) failed: h\\d: \\S+ exited with code 1 within monitor`,
      ),
    );
    expect(applied.stdout).toContain('Rolled back web to the previous config');
    const after = await replicas();
    expect(after).toHaveLength(N);
    expect(byImage(after)).toEqual({ [env.images.web2]: N });
  });

  it('failure_action continue takes every batch through, failures and all, and says so', async () => {
    writeSpec({ image: env.images.sick, order: 'stop-first', failureAction: 'continue', attempt: 5 });
    const applied = await run('apply', '--yes');
    expect(applied.code).toBe(1);
    expect(applied.stdout).toContain(
      `web: rollout goes on (failure_action continue): 1 of ${N} replacement(s) failed`,
    );
    expect(applied.stdout).toMatch(
      new RegExp(`phase \\d+ update batch ${BATCHES} of ${BATCHES}: ${P} action\\(s\\)`),
    );
    expect(applied.stdout).not.toMatch(/skipped: /);
    const after = await replicas();
    expect(after).toHaveLength(N);
    expect(after.every((replica) => replica.image === env.images.sick)).toBe(true);
    expect(await marks()).toEqual([]);
  });

  it('heal down removes the stack from every host: containers, networks, marks and the lock', async () => {
    // A paused rollout first, so that there is a mark to remove too.
    writeSpec({ image: env.images.web1, order: 'stop-first', failureAction: 'pause', attempt: 6 });
    expect((await run('apply', '--yes')).code).toBe(0);
    writeSpec({ image: env.images.sick, order: 'stop-first', failureAction: 'pause', attempt: 7 });
    expect((await run('apply', '--yes')).code).toBe(1);
    expect(await marks()).toHaveLength(3);

    const down = await run('down', '--yes');
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/- web\.\d+ e2eroll-web-\d+ +on h\d: heal down/);
    expect(await replicas()).toEqual([]);
    expect(await marks()).toEqual([]);
    for (const host of HOSTS) {
      expect(await dockerOn(host, 'network', 'ls', '-q', '--filter', OWNED)).toBe('');
      expect(await dockerOn(host, 'ps', '-aq', '--filter', `name=^heal-lock-${STACK}$`)).toBe('');
    }
    const again = await run('down', '--yes');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes');
  });
});

/**
 * update_config.monitor on the last batch, and start-first with a container_name: a second stack
 * of 3 replicas rolled out in one batch, and a single replica with a fixed name.
 */
describe('monitor watches the last batch; start-first keeps a container_name', () => {
  const ONE = 'e2eroll1';
  const OWNED_ONE = `label=io.heal.stack=${ONE}`;
  let dir: string;

  const check =
    "    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }";
  const write = (web: string, front: string, monitor = '5s'): void => {
    const text = [
      ...bedSpecHead(env, ONE),
      'services:',
      '  web:',
      `    image: ${web}`,
      check,
      '    deploy:',
      '      replicas: 3',
      `      update_config: { parallelism: 3, delay: 0s, failure_action: rollback, monitor: ${monitor} }`,
      '  front:',
      `    image: ${front}`,
      `    container_name: ${ONE}-front`,
      check,
      '    deploy:',
      '      replicas: 1',
      '      update_config: { order: start-first, monitor: 2s }',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'stack.yml'), text);
  };

  /** name → image of every container of the stack, running or not. */
  const containers = async (): Promise<{ name: string; image: string; state: string }[]> => {
    const lists = await Promise.all(
      HOSTS.map(async (host) =>
        (
          await dockerOn(
            host,
            'ps',
            '-a',
            '--filter',
            OWNED_ONE,
            '--format',
            '{{.Names}}\t{{.Image}}\t{{.State}}',
          )
        )
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [name = '', image = '', state = ''] = line.split('\t');
            return { name, image, state };
          }),
      ),
    );
    return lists.flat().sort((a, b) => (a.name < b.name ? -1 : 1));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'heal-e2e-roll1-'));
    await cleanStack(HOSTS, ONE);
  });

  afterAll(async () => {
    if (env) await cleanStack(HOSTS, ONE);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('deploys web (3) and front (container_name)', async () => {
    write(env.images.web1, env.images.web1);
    const applied = await heal(dir, 'apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    // A first deploy is no rollout: nothing to watch.
    expect(applied.stdout).not.toMatch(/watching/);
    const list = await containers();
    expect(list.filter((c) => c.image === env.images.web1 && c.state === 'running')).toHaveLength(4);
    expect(list.map((c) => c.name)).toContain(`${ONE}-front`);
  });

  it('a healthy one-batch rollout is watched for monitor, then done', async () => {
    write(env.images.web2, env.images.web1);
    const applied = await heal(dir, 'apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/update batch 1 of 1/);
    expect(applied.stdout).toMatch(/watching web for \d+\.\ds \(update_config\.monitor 5s\)/);
    expect(applied.stdout).toMatch(/web: rollout done, 3 of 3 slots updated/);
    const list = await containers();
    expect(list.filter((c) => c.image === env.images.web2 && c.state === 'running')).toHaveLength(3);
  });

  it('a new replica stopped by hand within monitor is no failure of the version', async () => {
    // A window long enough that the stop lands in it on a busy machine.
    write(env.images.web1, env.images.web1, '15s');
    const applying = startHeal(dir, ['apply', '--yes']);
    await waitFor('the monitor window', 60_000, async () =>
      /watching web for/.test(applying.stdout()) ? true : undefined,
    );
    let stopped = '';
    for (const host of HOSTS) {
      const ids = await dockerOn(
        host,
        'ps',
        '-q',
        '--filter',
        OWNED_ONE,
        '--filter',
        `name=${ONE}-web-`,
        '--filter',
        `ancestor=${env.images.web1}`,
      );
      const id = ids.split('\n').find((line) => line.trim() !== '');
      if (id && !stopped) {
        await dockerOn(host, 'stop', '-t', '1', id.trim());
        stopped = `${host}/${id.trim()}`;
      }
    }
    expect(stopped).not.toBe('');
    const applied = await applying.done;
    expect(applied.stdout).toMatch(/web: rollout done, 3 of 3 slots updated/);
    expect(applied.stdout).not.toMatch(/rolling back/);
    // The stopped replica is drift: the next apply starts it again on the new version.
    const healed = await heal(dir, 'apply', '--yes');
    expect(healed.code).toBe(0);
    const list = await containers();
    expect(list.filter((c) => c.image === env.images.web1 && c.state === 'running')).toHaveLength(4);
  });

  it('a version that crashes after turning healthy, in a one-batch rollout, is rolled back', async () => {
    write(env.images.flaky, env.images.web1);
    const applied = await heal(dir, 'apply', '--yes');
    expect(applied.code).toBe(1);
    // Every new replica passed its health gate: the batch was done, only monitor saw them fail.
    expect(applied.stdout).toMatch(/web: 3 of 3 slots updated and healthy/);
    expect(applied.stdout).toMatch(/watching web for/);
    expect(applied.stdout).toMatch(
      /web: rollout failed, rolling back: 1 of 3 replacement\(s\) failed: h\d: \S+ exited with code 1 within monitor/,
    );
    expect(applied.stdout).toContain('Rolled back web to the previous config');
    const list = await containers();
    expect(list.filter((c) => c.name.startsWith(`${ONE}-web-`))).toEqual(
      [1, 2, 3].map(() => expect.objectContaining({ image: env.images.web1, state: 'running' })),
    );
  });

  it('start-first with a container_name: the new container ends with the fixed name', async () => {
    write(env.images.flaky, env.images.web2);
    const applied = await heal(dir, 'apply', '--yes');
    // web stays rolled back (exit 1); front rolls out.
    expect(applied.stdout).toMatch(
      new RegExp(`front\\.1 ${ONE}-front → ${ONE}-front-[0-9a-z]+ → ${ONE}-front \\(start-first\\)`),
    );
    expect(applied.stdout).toMatch(/front: rollout done, 1 of 1 slots updated/);
    const fronts = (await containers()).filter((c) => c.name.startsWith(`${ONE}-front`));
    expect(fronts).toEqual([{ name: `${ONE}-front`, image: env.images.web2, state: 'running' }]);
    // Converged: the next plan has nothing to do for front.
    const planned = await heal(dir, 'plan', '--json');
    const next = JSON.parse(planned.stdout) as { actions: { service: string | null }[] };
    expect(next.actions.filter((action) => action.service === 'front')).toEqual([]);
  });
});
