/**
 * `heal plan`, `heal apply`, `heal scale`, `heal status` and `heal ps` end to end: the built CLI,
 * a spec naming the test bed's three hosts, real sshd and dockerd. The tests run in order on one
 * stack, each starting from where the one before left the hosts; every outcome is read back from
 * the engines themselves (their container lists, what port 8080 serves).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, testbed, type TestbedEnv } from '../testbed.js';
import {
  containersOn,
  containersOnAll,
  envOf,
  heal,
  killStartedHeals,
  page,
  startHeal,
  waitFor,
  type EngineContainer,
  type Run,
} from './helpers.js';

const STACK = 'e2eplan';
const OTHER = 'e2eotherplan';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const OWNED = `label=io.heal.stack=${STACK}`;

let env: TestbedEnv;
let work: string;
/** Images each host had before this file ran: the ones it pulls are removed after. */
const imagesBefore = new Map<string, Set<string>>();
/** What this file puts on the hosts that heal must never touch, as the engines reported it at first. */
let strangers: { host: string; name: string; id: string; startedAt: string }[] = [];

type Shape = {
  web: number;
  webImage: string;
  worker: number;
  role: string;
  workerHealthcheck: boolean;
  pinned: boolean;
  /** `services: {}` */
  empty: boolean;
};

let shape: Shape;

/** The spec, with comments `heal scale` must keep. */
function specText(s: Shape): string {
  const head = [
    '# heal end-to-end: plan and apply on the three hosts of the test bed',
    `name: ${STACK}`,
    'x-heal:',
    `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
    '  hosts:',
    ...env.hosts.map((host) => `    ${host.name}: { ssh: ${host.ssh} } # ${host.name}'s sshd`),
  ];
  if (s.empty) return [...head, 'services: {} # every service renamed away', ''].join('\n');
  const health = (interval: string): string =>
    `    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: ${interval} }`;
  return [
    ...head,
    'services:',
    '  # the front: one replica per host, each publishing 8080',
    '  web:',
    `    image: ${s.webImage}`,
    '    ports: [{ target: 8080, published: 8080, mode: host }]',
    health('1s'),
    '    deploy:',
    `      replicas: ${s.web}`,
    // monitor 1s, not Swarm's 5s: every rollout here waits out its last window, and no check needs it.
    '      update_config: { parallelism: 1, delay: 3s, monitor: 1s } # a rolling update takes a few seconds',
    '  # background workers: no port, spread over every host',
    '  worker:',
    `    image: ${env.images.web1}`,
    '    environment:',
    `      ROLE: ${s.role} # in the config hash: changing it replaces the workers`,
    ...(s.workerHealthcheck ? [health('2s')] : []),
    '    deploy:',
    `      replicas: ${s.worker} # heal scale edits this number, and only it`,
    '      update_config: { parallelism: 0, monitor: 1s } # every worker in one batch',
    ...(s.pinned
      ? [
          '  # pinned to one host',
          '  pinned:',
          `    image: ${env.images.web1}`,
          '    deploy:',
          '      replicas: 2',
          "      placement: { constraints: ['node.hostname == h2'] }",
        ]
      : []),
    '',
  ].join('\n');
}

function writeSpec(changes: Partial<Shape> = {}): void {
  shape = { ...shape, ...changes };
  writeFileSync(join(work, 'stack.yml'), specText(shape));
}

const run = (...args: string[]): Promise<Run> => heal(work, ...args);

/** Every container of the stack on the engines. */
function owned(): Promise<EngineContainer[]> {
  return containersOnAll(HOSTS, OWNED);
}

/** `service.slot` → container id; a slot found twice maps to both ids, so it never equals one. */
function idsBySlot(containers: readonly EngineContainer[], service?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const container of containers) {
    if (service !== undefined && container.service !== service) continue;
    const key = `${container.service}.${container.slot}`;
    out[key] = out[key] === undefined ? container.id : `${out[key]},${container.id}`;
  }
  return out;
}

/** Per service, how many containers run on each host. */
function spread(containers: readonly EngineContainer[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const container of containers) {
    const hosts = (out[container.service] ??= {});
    hosts[container.host] = (hosts[container.host] ?? 0) + 1;
  }
  return out;
}

async function pages(): Promise<(string | null)[]> {
  return Promise.all(env.hosts.map((host) => page(host.address)));
}

type PlanJson = {
  actions: { kind: string; host: string; service: string | null; slot: number | null; phase: number }[];
  refused: string | null;
  unplaced: unknown[];
};

async function planJson(): Promise<PlanJson> {
  const planned = await run('plan', '--json');
  expect(planned.stderr).toBe('');
  expect(planned.code).toBe(0);
  return JSON.parse(planned.stdout) as PlanJson;
}

async function expectConverged(): Promise<void> {
  const again = await run('plan', '--detailed-exitcode');
  expect(again.stdout).toContain('No changes. The hosts match the spec.');
  expect(again.code).toBe(0);
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-plan-'));
  // What an earlier run cut short may have left.
  await cleanHosts();
  shape = {
    web: 3,
    webImage: env.images.web1,
    worker: 6,
    role: 'worker',
    workerHealthcheck: false,
    pinned: true,
    empty: false,
  };
  for (const host of HOSTS) {
    const images = await dockerOn(host, 'images', '--format', '{{.Repository}}:{{.Tag}}');
    imagesBefore.set(host, new Set(images.split('\n').filter(Boolean)));
  }
  // On every host: a container no heal owns (heal's service and slot labels but no stack), and
  // one of another heal stack with the same service name, its network and its volume.
  for (const host of HOSTS) {
    await dockerOn(
      host,
      'run',
      '-d',
      '--restart',
      'always',
      '--name',
      `${STACK}-stranger`,
      '--label',
      'io.heal.service=worker',
      '--label',
      'io.heal.slot=1',
      env.images.web1,
    );
    await dockerOn(host, 'network', 'create', '--label', `io.heal.stack=${OTHER}`, `${OTHER}_default`);
    await dockerOn(host, 'volume', 'create', '--label', `io.heal.stack=${OTHER}`, `${OTHER}_data`);
    await dockerOn(
      host,
      'run',
      '-d',
      '--restart',
      'always',
      '--name',
      `${OTHER}-worker-1`,
      '--network',
      `${OTHER}_default`,
      '-v',
      `${OTHER}_data:/data`,
      '--label',
      `io.heal.stack=${OTHER}`,
      '--label',
      'io.heal.service=worker',
      '--label',
      'io.heal.slot=1',
      env.images.web1,
    );
  }
  strangers = [];
  for (const host of HOSTS) {
    for (const name of [`${STACK}-stranger`, `${OTHER}-worker-1`]) {
      const [id = '', startedAt = ''] = (
        await dockerOn(host, 'inspect', '--format', '{{.Id}} {{.State.StartedAt}}', name)
      )
        .trim()
        .split(' ');
      strangers.push({ host, name, id, startedAt });
    }
  }
});

afterAll(async () => {
  killStartedHeals();
  await cleanHosts();
  for (const host of HOSTS) {
    const images = (await dockerOn(host, 'images', '--format', '{{.Repository}}:{{.Tag}}'))
      .split('\n')
      .filter(Boolean);
    for (const image of images.filter((item) => !imagesBefore.get(host)?.has(item)))
      await dockerOn(host, 'rmi', image).catch(() => undefined);
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Removes what this file puts on the hosts, heal's or its own; one host failing does not stop the others. */
async function cleanHosts(): Promise<void> {
  const lines = (text: string): string[] => text.split('\n').filter(Boolean);
  const failures: string[] = [];
  for (const host of HOSTS) {
    try {
      // Filters of one kind are OR-ed but of different kinds AND-ed: list each kind on its own.
      const ids = new Set([
        ...lines(await dockerOn(host, 'ps', '-aq', '--filter', OWNED)),
        ...lines(await dockerOn(host, 'ps', '-aq', '--filter', `label=io.heal.stack=${OTHER}`)),
        ...lines(await dockerOn(host, 'ps', '-aq', '--filter', `name=^${STACK}-stranger$`)),
      ]);
      if (ids.size > 0) await dockerOn(host, 'rm', '-f', '-v', ...ids);
      for (const stack of [STACK, OTHER]) {
        const filter = `label=io.heal.stack=${stack}`;
        const networks = lines(await dockerOn(host, 'network', 'ls', '-q', '--filter', filter));
        if (networks.length > 0) await dockerOn(host, 'network', 'rm', ...networks);
        const volumes = lines(await dockerOn(host, 'volume', 'ls', '-q', '--filter', filter));
        if (volumes.length > 0) await dockerOn(host, 'volume', 'rm', '-f', ...volumes);
      }
      const lock = lines(await dockerOn(host, 'ps', '-aq', '--filter', `name=^heal-lock-${STACK}$`));
      if (lock.length > 0) await dockerOn(host, 'rm', '-f', ...lock);
    } catch (error) {
      failures.push(`${host}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) throw new Error(`could not clean up:\n${failures.join('\n')}`);
}

describe('heal apply on three hosts', () => {
  it('refuses to apply without --yes and without a terminal, and changes nothing', async () => {
    writeSpec();
    const refused = await run('apply');
    expect(refused.stderr).toBe('refusing to apply without a terminal to confirm on: pass --yes\n');
    expect(refused.stdout).toBe('');
    expect(refused.code).toBe(64);
    expect(await owned()).toEqual([]);
    for (const host of HOSTS) {
      expect(await dockerOn(host, 'network', 'ls', '-q', '--filter', `name=${STACK}`)).toBe('');
    }
  });

  it('applies three services spread as specified, with the port served by every host', async () => {
    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('Plan: 11 to create, 0 to replace, 0 to start, 0 to remove.');
    expect(applied.stdout).toMatch(/^Apply complete: \d+ done, 0 failed, 0 skipped in [\d.]+s\.$/m);
    expect(applied.code).toBe(0);

    const containers = await owned();
    expect(containers.every((container) => container.state === 'running')).toBe(true);
    expect(spread(containers)).toEqual({
      pinned: { h2: 2 },
      web: { h1: 1, h2: 1, h3: 1 },
      worker: { h1: 2, h2: 2, h3: 2 },
    });
    expect(containers.map((container) => container.name).sort()).toEqual(
      [
        ...[1, 2].map((slot) => `${STACK}-pinned-${slot}`),
        ...[1, 2, 3].map((slot) => `${STACK}-web-${slot}`),
        ...[1, 2, 3, 4, 5, 6].map((slot) => `${STACK}-worker-${slot}`),
      ].sort(),
    );
    expect(await pages()).toEqual(['web v1', 'web v1', 'web v1']);
    for (const host of HOSTS) {
      expect(await dockerOn(host, 'network', 'ls', '--format', '{{.Name}}', '--filter', OWNED)).toBe(
        `${STACK}_default\n`,
      );
    }

    const status = await run('status', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([
      {
        service: 'pinned',
        mode: 'replicated',
        desired: 2,
        running: 2,
        healthy: 2,
        dirty: 0,
        completed: 0,
        hosts: { h2: 2 },
        image: env.images.web1,
        rollout: null,
      },
      {
        service: 'web',
        mode: 'replicated',
        desired: 3,
        running: 3,
        healthy: 3,
        dirty: 0,
        completed: 0,
        hosts: { h1: 1, h2: 1, h3: 1 },
        image: env.images.web1,
        rollout: null,
      },
      {
        service: 'worker',
        mode: 'replicated',
        desired: 6,
        running: 6,
        healthy: 6,
        dirty: 0,
        completed: 0,
        hosts: { h1: 2, h2: 2, h3: 2 },
        image: env.images.web1,
        rollout: null,
      },
    ]);

    // ps lists exactly what the engines hold, each with the config hash the spec gives its service.
    const config = JSON.parse((await run('config', '--json')).stdout) as {
      services: Record<string, { 'x-heal-config-hash': string }>;
    };
    const ps = await run('ps', '--json');
    expect(ps.code).toBe(0);
    const rows = JSON.parse(ps.stdout) as {
      service: string;
      slot: number;
      host: string;
      id: string;
      name: string;
      state: string;
      health: string;
      configHash: string;
    }[];
    expect(rows.map((row) => [row.service, row.slot, row.host, row.id, row.name, row.state])).toEqual(
      [...containers]
        .sort((a, b) => a.service.localeCompare(b.service) || (a.slot ?? 0) - (b.slot ?? 0))
        .map((item) => [item.service, item.slot, item.host, item.id.slice(0, 12), item.name, 'running']),
    );
    for (const row of rows) {
      expect(row.configHash).toBe(config.services[row.service]?.['x-heal-config-hash']);
      expect(row.health).toBe(row.service === 'web' ? 'healthy' : 'none');
    }
  });

  it('plans no changes right after', async () => {
    await expectConverged();
    const planned = await planJson();
    expect(planned.actions).toEqual([]);
    expect(planned.refused).toBeNull();
  });

  it('scales 6 → 12 → 3 with heal scale --apply, keeping the spec file comments and the kept slots', async () => {
    const before = await owned();
    const others = idsBySlot(before.filter((container) => container.service !== 'worker'));

    const up = await run('scale', 'worker=12', '--apply');
    expect(up.stderr).toBe('');
    expect(up.stdout).toMatch(/^worker: 6 → 12 replicas in stack.yml\n/);
    expect(up.stdout).toContain('Plan: 6 to create, 0 to replace, 0 to start, 0 to remove.');
    expect(up.code).toBe(0);
    // Byte for byte the spec written, with only the number changed: comments and layout kept.
    expect(readFileSync(join(work, 'stack.yml'), 'utf8')).toBe(specText({ ...shape, worker: 12 }));
    shape.worker = 12;
    const twelve = await owned();
    expect(twelve.every((container) => container.state === 'running')).toBe(true);
    expect(spread(twelve).worker).toEqual({ h1: 4, h2: 4, h3: 4 });
    expect(idsBySlot(twelve, 'worker')).toMatchObject(idsBySlot(before, 'worker'));
    await expectConverged();

    const down = await run('scale', 'worker=3', '--apply');
    expect(down.stderr).toBe('');
    expect(down.stdout).toMatch(/^worker: 12 → 3 replicas in stack.yml\n/);
    expect(down.stdout).toContain('Plan: 0 to create, 0 to replace, 0 to start, 9 to remove.');
    expect(down.code).toBe(0);
    expect(readFileSync(join(work, 'stack.yml'), 'utf8')).toBe(specText({ ...shape, worker: 3 }));
    shape.worker = 3;
    const three = await owned();
    const workers = idsBySlot(three, 'worker');
    expect(Object.keys(workers).sort()).toEqual(['worker.1', 'worker.2', 'worker.3']);
    expect(workers).toEqual(
      Object.fromEntries(Object.entries(idsBySlot(before, 'worker')).filter(([key]) => key in workers)),
    );
    expect(spread(three).worker).toEqual({ h1: 1, h2: 1, h3: 1 });
    expect(idsBySlot(three.filter((container) => container.service !== 'worker'))).toEqual(others);
    await expectConverged();
  });

  it("replaces only the workers when their environment changes; the other services' containers stay", async () => {
    const before = await owned();
    writeSpec({ role: 'changed' });
    const planned = await planJson();
    expect(planned.actions.map((action) => [action.kind, action.service, action.slot])).toEqual([
      ['replace', 'worker', 1],
      ['replace', 'worker', 2],
      ['replace', 'worker', 3],
    ]);

    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/^Apply complete: 3 done, 0 failed, 0 skipped/m);
    expect(applied.code).toBe(0);

    const after = await owned();
    expect(after.every((container) => container.state === 'running')).toBe(true);
    expect(idsBySlot(after.filter((container) => container.service !== 'worker'))).toEqual(
      idsBySlot(before.filter((container) => container.service !== 'worker')),
    );
    const workers = after.filter((container) => container.service === 'worker');
    expect(workers.map((container) => container.slot).sort()).toEqual([1, 2, 3]);
    for (const worker of workers) {
      expect(Object.values(idsBySlot(before, 'worker'))).not.toContain(worker.id);
      expect(await envOf(worker.host, worker.id)).toContain('ROLE=changed');
    }
    expect(spread(after).worker).toEqual({ h1: 1, h2: 1, h3: 1 });
    await expectConverged();
  });

  it('prunes a service removed from the spec, and only it', async () => {
    const before = await owned();
    writeSpec({ pinned: false });
    const planned = await planJson();
    expect(planned.actions.map((action) => [action.kind, action.service, action.slot, action.host])).toEqual([
      ['remove', 'pinned', 1, 'h2'],
      ['remove', 'pinned', 2, 'h2'],
    ]);
    const applied = await run('apply', '--yes');
    expect(applied.code).toBe(0);
    const after = await owned();
    expect(after.filter((container) => container.service === 'pinned')).toEqual([]);
    expect(idsBySlot(after)).toEqual(idsBySlot(before.filter((container) => container.service !== 'pinned')));
    await expectConverged();
  });

  it('holds the stack lock during a rolling update: a second apply fails naming the holder, a waiting one runs after', async () => {
    const before = await owned();
    writeSpec({ webImage: env.images.web2 });
    const first = startHeal(work, ['apply', '--yes']);
    await waitFor('the stack lock on every host', 20_000, async () => {
      const held = await Promise.all(
        HOSTS.map((host) =>
          dockerOn(host, 'ps', '-a', '--format', '{{.Names}}', '--filter', `name=^heal-lock-${STACK}$`),
        ),
      );
      return held.every((names) => names === `heal-lock-${STACK}\n`) ? true : undefined;
    });

    const refused = await run('apply', '--yes', '--lock-wait', '0s');
    const machine = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(refused.stderr).toMatch(
      new RegExp(
        `^stack ${STACK} is locked by heal apply \\(pid ${first.pid} on ${machine}\\) since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z; if that heal is gone, its lease lapses 30 s after its last renewal. Retry later or pass --lock-wait 2m to wait for it\\n$`,
      ),
    );
    expect(refused.stdout).toBe('');
    expect(refused.code).toBe(1);

    const waiting = startHeal(work, ['apply', '--yes', '--lock-wait', '60s']);
    const firstStillRunning = first.running();

    // While the update rolls, at most one host (parallelism 1) does not serve, and v1 and v2
    // are both served for a while.
    let worstDown = 0;
    let mixed = false;
    while (first.running()) {
      const served = await pages();
      worstDown = Math.max(worstDown, served.filter((text) => text === null).length);
      if (served.includes('web v1') && served.includes('web v2')) mixed = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const applied = await first.done;
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/phase \d+ update batch 2 of \d+: 1 action\(s\) after 3\.0s/);
    expect(applied.stdout).toMatch(/^Apply complete: \d+ done, 0 failed, 0 skipped/m);
    expect(applied.code).toBe(0);
    expect(worstDown).toBeLessThanOrEqual(1);
    expect(mixed).toBe(true);

    const after = await waiting.done;
    expect(firstStillRunning).toBe(true);
    expect(after.stderr).toBe('');
    expect(after.stdout).toContain('No changes. The hosts match the spec.');
    expect(after.code).toBe(0);
    expect(after.endedAt).toBeGreaterThan(applied.endedAt);

    expect(await pages()).toEqual(['web v2', 'web v2', 'web v2']);
    const containers = await owned();
    expect(spread(containers).web).toEqual({ h1: 1, h2: 1, h3: 1 });
    expect(idsBySlot(containers, 'worker')).toEqual(idsBySlot(before, 'worker'));
    for (const web of containers.filter((container) => container.service === 'web'))
      expect(Object.values(idsBySlot(before, 'web'))).not.toContain(web.id);
    for (const host of HOSTS)
      expect(await dockerOn(host, 'ps', '-aq', '--filter', `name=^heal-lock-${STACK}$`)).toBe('');
    await expectConverged();
  }, 120_000);

  it('refuses a saved plan once the spec or the hosts changed, and applies a fresh one', async () => {
    const before = await owned();
    writeSpec({ role: 'saved' });
    const saved = await run('plan', '-o', 'plan.json');
    expect(saved.code).toBe(0);
    expect(saved.stdout).toContain('Plan: 0 to create, 3 to replace, 0 to start, 0 to remove.');

    const stale =
      'plan.json: the plan is stale: the spec or the hosts changed since it was made; run heal plan again\n';
    writeSpec({ role: 'edited' });
    const edited = await run('apply', '--yes', 'plan.json');
    expect(edited.stderr).toBe(stale);
    expect(edited.code).toBe(1);
    writeSpec({ role: 'saved' });
    expect(idsBySlot(await owned())).toEqual(idsBySlot(before));

    const stopped = before.find((container) => container.service === 'worker' && container.host === 'h1')!;
    await dockerOn('h1', 'stop', stopped.id);

    const changed = await run('apply', '--yes', 'plan.json');
    expect(changed.stderr).toBe(stale);
    expect(changed.code).toBe(1);
    const untouched = await owned();
    expect(idsBySlot(untouched)).toEqual(idsBySlot(before));
    expect(untouched.find((container) => container.id === stopped.id)?.state).toBe('exited');
    for (const worker of untouched.filter((container) => container.service === 'worker'))
      expect(await envOf(worker.host, worker.id)).toContain('ROLE=changed');

    const fresh = await run('plan', '-o', 'fresh.json');
    expect(fresh.code).toBe(0);
    // A plan saved by a heal from before rollouts were planned: refused, nothing touched.
    const older = JSON.parse(readFileSync(join(work, 'fresh.json'), 'utf8')) as {
      plan: Record<string, unknown>;
    };
    delete older.plan.rollouts;
    writeFileSync(join(work, 'older.json'), JSON.stringify(older));
    const refused = await run('apply', '--yes', 'older.json');
    expect(refused.stderr).toBe(
      'older.json: saved by an older heal, without its rollouts; run heal plan -o again\n',
    );
    expect(refused.code).toBe(64);
    const applied = await run('apply', '--yes', 'fresh.json');
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/^Apply complete: 3 done, 0 failed, 0 skipped/m);
    expect(applied.code).toBe(0);
    const after = await owned();
    expect(after.every((container) => container.state === 'running')).toBe(true);
    for (const worker of after.filter((container) => container.service === 'worker')) {
      expect(Object.values(idsBySlot(before, 'worker'))).not.toContain(worker.id);
      expect(await envOf(worker.host, worker.id)).toContain('ROLE=saved');
    }
    await expectConverged();
  });

  it('finishes h1 and h2 when h3 dies during an apply, then converges once h3 is back', async () => {
    const before = await owned();
    writeSpec({ role: 'down', workerHealthcheck: true });
    const applying = startHeal(work, ['apply', '--yes']);
    let applied: Run;
    try {
      await waitFor('the replacement on h3 to start', 30_000, async () =>
        /^ {2}h3 +replace +worker\.\d .* \.\.\.$/m.test(applying.stdout()) ? true : undefined,
      );
      await testbed('kill', 'h3');
      applied = await applying.done;
    } finally {
      await testbed('revive', 'h3');
    }
    expect(applied.stdout).toMatch(/^Apply incomplete: 2 done, 1 failed, 0 skipped in [\d.]+s\.$/m);
    expect(applied.stdout).toMatch(
      /^ {2}failed: h3 worker\.\d e2eplan-worker-\d → e2eplan-worker-\d \(stop-first\): host h3 unreachable/m,
    );
    expect(applied.stdout).toContain('Run heal apply again to finish once the cause is fixed.');
    expect(applied.code).toBe(1);

    // h1 and h2 finished: each runs one new worker, healthy, made from the new spec.
    for (const host of ['h1', 'h2']) {
      const workers = (await containersOn(host, OWNED)).filter((container) => container.service === 'worker');
      expect(workers.map((container) => container.state)).toEqual(['running']);
      expect(Object.values(idsBySlot(before, 'worker'))).not.toContain(workers[0]!.id);
      expect(await envOf(host, workers[0]!.id)).toContain('ROLE=down');
    }

    const again = await run('apply', '--yes');
    expect(again.stderr).toBe('');
    expect(again.stdout).toMatch(/^Apply complete: \d+ done, 0 failed, 0 skipped/m);
    expect(again.code).toBe(0);
    await expectConverged();

    const after = await owned();
    expect(after.every((container) => container.state === 'running')).toBe(true);
    expect(spread(after)).toEqual({ web: { h1: 1, h2: 1, h3: 1 }, worker: { h1: 1, h2: 1, h3: 1 } });
    // The web replicas were never replaced: h3's, stopped by the crash, was started again.
    expect(idsBySlot(after, 'web')).toEqual(idsBySlot(before, 'web'));
    for (const worker of after.filter((container) => container.service === 'worker'))
      expect(await envOf(worker.host, worker.id)).toContain('ROLE=down');
    expect(await pages()).toEqual(['web v2', 'web v2', 'web v2']);
  }, 180_000);

  it('refuses a plan that removes every container unless --allow-empty', async () => {
    const before = await owned();
    expect(before).toHaveLength(6);
    const refusal = `Refused: this plan would remove all 6 containers of stack ${STACK}; is the spec the right one? Pass --allow-empty to do it anyway\n`;

    writeSpec({ web: 0, worker: 0 });
    const zero = await run('plan', '--detailed-exitcode');
    expect(zero.stdout).toBe(refusal);
    expect(zero.code).toBe(1);
    const zeroApply = await run('apply', '--yes');
    expect(zeroApply.stdout).toBe(refusal);
    expect(zeroApply.code).toBe(1);

    writeSpec({ empty: true });
    const emptyApply = await run('apply', '--yes');
    expect(emptyApply.stdout).toBe(refusal);
    expect(emptyApply.code).toBe(1);
    expect(idsBySlot(await owned())).toEqual(idsBySlot(before));
    expect(await pages()).toEqual(['web v2', 'web v2', 'web v2']);

    const allowed = await run('apply', '--yes', '--allow-empty');
    expect(allowed.stderr).toBe('');
    expect(allowed.stdout).toContain('Plan: 0 to create, 0 to replace, 0 to start, 6 to remove.');
    expect(allowed.stdout).toMatch(/^Apply complete: \d+ done, 0 failed, 0 skipped/m);
    expect(allowed.code).toBe(0);
    expect(await owned()).toEqual([]);
    for (const host of HOSTS) expect(await dockerOn(host, 'network', 'ls', '-q', '--filter', OWNED)).toBe('');
    expect(await pages()).toEqual([null, null, null]);
    expect(JSON.parse((await run('ps', '--json')).stdout)).toEqual([]);
    await expectConverged();
  });

  it("never touched a container it does not own, nor another stack's", async () => {
    for (const stranger of strangers) {
      const [id, state, startedAt] = (
        await dockerOn(
          stranger.host,
          'inspect',
          '--format',
          '{{.Id}} {{.State.Status}} {{.State.StartedAt}}',
          stranger.name,
        )
      )
        .trim()
        .split(' ');
      expect({ host: stranger.host, name: stranger.name, id, state }).toEqual({
        host: stranger.host,
        name: stranger.name,
        id: stranger.id,
        state: 'running',
      });
      // h3 was switched off and rebooted: Docker restarted its containers (restart: always).
      if (stranger.host !== 'h3') expect(startedAt).toBe(stranger.startedAt);
    }
    for (const host of HOSTS) {
      expect(
        await dockerOn(host, 'network', 'ls', '--format', '{{.Name}}', '--filter', `name=${OTHER}`),
      ).toBe(`${OTHER}_default\n`);
      expect(await dockerOn(host, 'volume', 'ls', '--format', '{{.Name}}', '--filter', `name=${OTHER}`)).toBe(
        `${OTHER}_data\n`,
      );
    }
  });
});
