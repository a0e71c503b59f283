import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readConditions, trackConditions, type HostCondition } from '../../src/planner/conditions.js';
import type { Observed } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import type { Stack } from '../../src/spec/types.js';
import { CONDITIONS_DEFAULTS } from '../../src/spec/normalize-conditions.js';
import { changes, fleetStack, perHost, T0, T1 } from './plan-helpers.js';
import {
  applyPlan,
  emptyWorld,
  foreignContainer,
  ownedIds,
  touchedIds,
  withContainers,
  withHost,
} from './simulate.js';

/* Host availability and conditions: cordon (pause), drain one host at a time, start-first. */

const HOSTS = [
  'h1: { docker: unix:///h1.sock }',
  'h2: { docker: unix:///h2.sock }',
  'h3: { docker: unix:///h3.sock }',
];
const WEB6 = '  web: { image: nginx:1, deploy: { replicas: 6 } }\n';

function hosts(overrides: Record<string, string> = {}): string[] {
  return HOSTS.map((line) => {
    const name = line.slice(0, 2);
    return overrides[name] ? `${name}: { docker: unix:///${name}.sock, ${overrides[name]} }` : line;
  });
}

/** 6 replicas, 2 per host. */
function spread(stack: Stack): Observed {
  const empty = emptyWorld(stack);
  return applyPlan(empty, plan(stack, empty, { now: T0 }), T0);
}

/** Plans and applies until nothing is left to do (at most `rounds`), each at a later time. */
function converge(stack: Stack, world: Observed, options: Parameters<typeof plan>[2], rounds = 20): Observed {
  for (let round = 0; round < rounds; round += 1) {
    const now = options.now + round * 1000;
    const made = plan(stack, world, { ...options, now });
    if (made.actions.length === 0) return world;
    world = applyPlan(world, made, now);
  }
  throw new Error('did not converge');
}

const pressure = (type: 'MemoryPressure' | 'DiskPressure', since: number): HostCondition => ({
  type,
  message: 'memory available 40Mi < 100Mi',
  since,
  clearedAt: null,
});

describe('availability by hand', () => {
  it('pause places nothing new on the host and leaves what runs there', async () => {
    const stack = await fleetStack(hosts(), `${WEB6}`);
    const world = spread(stack);
    const paused = await fleetStack(hosts({ h2: 'availability: pause' }), `${WEB6.replace('6 }', '9 }')}`);
    const made = plan(paused, world, { now: T1 });
    expect(changes(made).filter((line) => line.includes(' h2 '))).toEqual([]);
    expect(changes(made)).toHaveLength(3);
    expect(made.standings).toEqual([
      expect.objectContaining({
        host: 'h2',
        availability: 'pause',
        reason: 'availability: pause in the spec',
      }),
    ]);
    expect(perHost(applyPlan(world, made, T1))).toEqual({ h1: 4, h2: 2, h3: 3 });
  });

  it('drain moves one replica per service per plan, start-first, until the host is empty', async () => {
    const stack = await fleetStack(hosts({ h2: 'availability: drain' }), `${WEB6}`);
    let world = spread(await fleetStack(hosts(), `${WEB6}`));
    const first = plan(stack, world, { now: T1 });
    expect(changes(first)).toEqual(['0 create h1 web/2 app-web-2', '1 remove h2 web/2 app-web-2']);
    expect(first.actions.find((action) => action.kind === 'remove')).toMatchObject({
      after: { host: 'h1', name: 'app-web-2' },
      reason:
        'drain h2 (availability: drain in the spec): slot 2 moves to h1, removed once it is healthy there',
    });
    world = converge(stack, world, { now: T1 });
    expect(perHost(world)).toEqual({ h1: 3, h3: 3 });
  });

  it('an operator mark drains like the spec, and past its deadline what is left leaves stop-first', async () => {
    const stack = await fleetStack(hosts(), `${WEB6}`);
    const world = spread(stack);
    const marked = withHost(world, 'h3', {
      availabilityMark: {
        name: 'app_heal-availability',
        availability: 'drain',
        since: T0,
        deadline: T0 + 1000,
      },
    });
    const late = plan(stack, marked, { now: T1 });
    const remove = late.actions.find((action) => action.kind === 'remove')!;
    expect(remove).not.toHaveProperty('after');
    expect(remove.reason).toContain("the drain's deadline passed");
    expect(perHost(converge(stack, marked, { now: T1 }))).toEqual({ h1: 3, h2: 3 });
  });

  it('refuses a drain the other hosts cannot take, and reports it', async () => {
    const services =
      '  web: { image: nginx:1, deploy: { replicas: 6, placement: { max_replicas_per_node: 2 } } }\n';
    const stack = await fleetStack(hosts({ h2: 'availability: drain' }), `${services}`);
    const world = spread(await fleetStack(hosts(), `${services}`));
    const made = plan(stack, world, { now: T1 });
    expect(made.actions).toEqual([]);
    expect(made.warnings).toContainEqual(
      expect.stringContaining('drain of h2 refused: the other hosts cannot take web.'),
    );
  });

  it('drains one host at a time: the one whose drain began first', async () => {
    const stack = await fleetStack(hosts({ h3: 'availability: drain' }), `${WEB6}`);
    const world = withHost(spread(await fleetStack(hosts(), WEB6)), 'h2', {
      availabilityMark: { name: 'app_heal-availability', availability: 'drain', since: T0, deadline: null },
    });
    const made = plan(stack, world, { now: T1 });
    // The spec's drain counts from the start (0): h3 drains, h2 waits, cordoned.
    expect(changes(made).every((line) => !line.includes('remove h2'))).toBe(true);
    expect(made.warnings).toContain('h2 waits to drain: h3 drains first (one host at a time)');
    const after = converge(stack, world, { now: T1 });
    expect(perHost(after)).toEqual({ h1: 6 });
  });

  it('never touches what heal does not own on a drained host', async () => {
    const stack = await fleetStack(hosts({ h2: 'availability: drain' }), `${WEB6}`);
    const base = spread(await fleetStack(hosts(), `${WEB6}`));
    const world = withContainers(base, [foreignContainer('h2', 'theirs')]);
    const owned = ownedIds(world, 'app');
    for (const id of touchedIds(plan(stack, world, { now: T1 }))) expect(owned.has(id)).toBe(true);
  });
});

describe('conditions', () => {
  it('read with Kubernetes thresholds', () => {
    const probe = {
      memory: { available: 40 * 1024 * 1024, total: 8 * 1024 ** 3 },
      disk: {
        path: '/var/lib/docker',
        available: 5 * 1024 ** 3,
        total: 100 * 1024 ** 3,
        inodesFree: 100,
        inodes: 10_000,
      },
      error: null,
    };
    expect(readConditions(probe, CONDITIONS_DEFAULTS)).toEqual([
      { type: 'MemoryPressure', message: 'memory available 40Mi < 100Mi' },
      {
        type: 'DiskPressure',
        message:
          '/var/lib/docker has 5Gi free < 10% of 100Gi; /var/lib/docker has 100 inodes free < 5% of 10000',
      },
    ]);
    expect(
      readConditions(
        { ...probe, memory: { available: 2 * 1024 ** 3, total: 8 * 1024 ** 3 }, disk: null },
        CONDITIONS_DEFAULTS,
      ),
    ).toEqual([]);
  });

  it('cordon after grace, drain after drain_after, work again after recover', async () => {
    const stack = await fleetStack(hosts(), `${WEB6}`);
    const world = spread(stack);
    const grace = CONDITIONS_DEFAULTS.grace;
    const held = (ms: number) => ({ h2: [pressure('MemoryPressure', T1 - ms)] });
    expect(plan(stack, world, { now: T1, conditions: held(grace - 1) }).standings).toBeUndefined();
    const cordoned = plan(stack, world, { now: T1, conditions: held(grace) });
    expect(cordoned.standings).toEqual([expect.objectContaining({ host: 'h2', availability: 'pause' })]);
    expect(cordoned.actions).toEqual([]);
    const drained = plan(stack, world, { now: T1, conditions: held(CONDITIONS_DEFAULTS.drainAfter) });
    expect(drained.standings).toEqual([
      expect.objectContaining({ host: 'h2', availability: 'drain', draining: true }),
    ]);
    expect(changes(drained)).toEqual(['0 create h1 web/2 app-web-2', '1 remove h2 web/2 app-web-2']);
    const clear = { h2: [{ ...pressure('MemoryPressure', T0), clearedAt: T1 - 1000 }] };
    expect(plan(stack, world, { now: T1, conditions: clear }).standings).toEqual([
      expect.objectContaining({ host: 'h2', availability: 'pause' }),
    ]);
    const over = { h2: [{ ...pressure('MemoryPressure', T0), clearedAt: T1 - CONDITIONS_DEFAULTS.recover }] };
    expect(plan(stack, world, { now: T1, conditions: over }).standings).toBeUndefined();
  });

  it('tracked across readings: since kept while it holds, forgotten once clear for recover', () => {
    const reading = [{ type: 'MemoryPressure' as const, message: 'x' }];
    let tracked = trackConditions([], reading, 1000, 5000);
    tracked = trackConditions(tracked, reading, 2000, 5000);
    expect(tracked).toEqual([{ type: 'MemoryPressure', message: 'x', since: 1000, clearedAt: null }]);
    tracked = trackConditions(tracked, null, 3000, 5000);
    expect(tracked[0]!.clearedAt).toBeNull();
    tracked = trackConditions(tracked, [], 4000, 5000);
    expect(tracked[0]!.clearedAt).toBe(4000);
    expect(trackConditions(tracked, reading, 5000, 5000)[0]!.since).toBe(1000);
    expect(trackConditions(tracked, [], 9000, 5000)).toEqual([]);
  });

  it('property: whatever hosts are drained or paused, one drains at a time, nothing foreign is touched, and it converges', async () => {
    const stack = await fleetStack(hosts(), `${WEB6}  api: { image: nginx:1, deploy: { replicas: 3 } }\n`);
    const base = spread(stack);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('active', 'pause', 'drain'), { minLength: 3, maxLength: 3 }),
        async (levels) => {
          let world: Observed = withContainers(base, [foreignContainer('h1', 'theirs')]);
          levels.forEach((level, index) => {
            if (level !== 'active')
              world = withHost(world, `h${index + 1}`, {
                availabilityMark: { name: 'm', availability: level, since: T0 + index, deadline: null },
              });
          });
          for (let round = 0; round < 20; round += 1) {
            const made = plan(stack, world, { now: T1 + round });
            const removedFrom = new Set(
              made.actions.flatMap((action) =>
                action.kind === 'remove' && action.reason.startsWith('drain') ? [action.host] : [],
              ),
            );
            expect(removedFrom.size).toBeLessThanOrEqual(1);
            const owned = ownedIds(world, 'app');
            for (const id of touchedIds(made)) expect(owned.has(id)).toBe(true);
            if (made.actions.length === 0) return;
            world = applyPlan(world, made, T1 + round);
          }
          throw new Error('did not converge');
        },
      ),
      { numRuns: 20 },
    );
  });
});
