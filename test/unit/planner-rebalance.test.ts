import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Observed } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import type { Plan } from '../../src/planner/plan-types.js';
import type { Stack } from '../../src/spec/types.js';
import { changes, perHost, stackOf, T0, T1, T2 } from './plan-helpers.js';
import { applyPlan, emptyWorld, withHost } from './simulate.js';

/* x-heal.watch.rebalance: moves back to a returned host, one slot per service per plan. */

const WEB6 = 'services:\n  web: { image: nginx:1, deploy: { replicas: 6 } }\n';

/** 6 replicas deployed while h3 was away (3 on h1, 3 on h2), then h3 back, empty. */
function returned(stack: Stack): Observed {
  const away = emptyWorld(stack, ['h3']);
  const world = applyPlan(away, plan(stack, away, { now: T0 }), T0);
  return withHost(world, 'h3', emptyWorld(stack).hosts[2]!);
}

/** The running, healthy replicas of `service` the plan's actions never take below: what runs after each phase. */
function lowest(world: Observed, result: Plan): number {
  let low = Infinity;
  const phases = [...new Set(result.actions.map((action) => action.phase))].sort((a, b) => a - b);
  for (const [index] of phases.entries()) {
    const partial = { ...result, actions: result.actions.filter((action) => action.phase <= phases[index]!) };
    const after = applyPlan(world, partial, T1);
    low = Math.min(
      low,
      Object.values(perHost(after)).reduce((sum, count) => sum + count, 0),
    );
  }
  return low;
}

describe('rebalance', () => {
  it('is off by default: a returned host stays empty, as in Swarm', async () => {
    const stack = await stackOf(WEB6);
    const world = returned(stack);
    expect(perHost(world)).toEqual({ h1: 3, h2: 3 });
    expect(plan(stack, world, { now: T1 }).actions).toEqual([]);
  });

  it('moves one slot per plan to the returned host, new replica first, until the spread is even', async () => {
    const stack = await stackOf(WEB6);
    let world = returned(stack);
    const first = plan(stack, world, { now: T1, rebalance: true });
    expect(changes(first)).toEqual(['1 create h3 web/6 app-web-6', '2 remove h2 web/6 app-web-6']);
    const remove = first.actions.find((action) => action.kind === 'remove')!;
    expect(remove).toMatchObject({
      after: { host: 'h3', name: 'app-web-6' },
      reason: 'rebalance: slot 6 moves to h3, removed once it is healthy there',
    });
    expect(first.actions.find((action) => action.kind === 'create')!.reason).toBe(
      'rebalance: slot 6 moves from h2 (3 replicas of web) to h3 (0)',
    );
    expect(lowest(world, first)).toBe(6);
    world = applyPlan(world, first, T1);
    expect(perHost(world)).toEqual({ h1: 3, h2: 2, h3: 1 });

    const second = plan(stack, world, { now: T2, rebalance: true });
    expect(changes(second)).toEqual(['0 create h3 web/5 app-web-5', '1 remove h1 web/5 app-web-5']);
    world = applyPlan(world, second, T2);
    expect(perHost(world)).toEqual({ h1: 2, h2: 2, h3: 2 });
    expect(plan(stack, world, { now: T2 + 1, rebalance: true }).actions).toEqual([]);
  });

  it('waits while a replica of the service is not running healthy', async () => {
    const stack = await stackOf(
      'services:\n  web:\n    image: nginx:1\n    healthcheck: { test: ["CMD", "true"] }\n    deploy: { replicas: 6 }\n',
    );
    const world = returned(stack);
    const h1 = world.hosts[0]!;
    const starting = withHost(world, 'h1', {
      containers: h1.containers.map((container, index) =>
        index === 0 ? { ...container, health: 'starting' as const } : container,
      ),
    });
    expect(plan(stack, starting, { now: T1, rebalance: true }).actions).toEqual([]);
    expect(changes(plan(stack, world, { now: T1, rebalance: true }))).toHaveLength(2);
  });

  it('waits while anything else is to be done for the service, or a host is suspect', async () => {
    const stack = await stackOf(WEB6);
    const world = returned(stack);
    // A rollout: the new config first, in batches; rebalance waits for it to finish.
    const changed = await stackOf('services:\n  web: { image: nginx:2, deploy: { replicas: 6 } }\n');
    const rollout = plan(changed, world, { now: T1, rebalance: true });
    expect(rollout.actions.every((action) => action.kind !== 'remove')).toBe(true);
    expect(rollout.actions.filter((action) => action.kind === 'replace')).toHaveLength(6);
    const suspect = withHost(world, 'h3', { reachable: false, containers: [], totalContainers: null });
    expect(plan(stack, suspect, { now: T1, rebalance: true, suspect: ['h3'] }).actions).toEqual([]);
  });

  it('spreads back by placement.preferences, and keeps the constraints', async () => {
    // h1 and h2 are zone a, h3 zone b: an even spread is 3 in a, 3 in b.
    const stack = await stackOf(
      'services:\n  web:\n    image: nginx:1\n    deploy: { replicas: 6, placement: { preferences: [{ spread: node.labels.zone }] } }\n',
    );
    let world = returned(stack);
    for (let step = 0; step < 5; step += 1) {
      const next = plan(stack, world, { now: T1 + step, rebalance: true });
      if (next.actions.length === 0) break;
      expect(next.actions.filter((action) => action.kind === 'create')).toHaveLength(1);
      world = applyPlan(world, next, T1 + step);
    }
    expect(perHost(world)).toEqual({ h1: 2, h2: 1, h3: 3 });

    const pinned = await stackOf(
      'services:\n  web:\n    image: nginx:1\n    deploy: { replicas: 6, placement: { constraints: [node.labels.zone == a] } }\n',
    );
    expect(plan(pinned, returned(pinned), { now: T1, rebalance: true }).actions).toEqual([]);
  });

  it('reaches an even spread and stays there, never below the replicas it started with', async () => {
    const stack = await stackOf(
      'services:\n  web: { image: nginx:1, deploy: { replicas: 7 } }\n  api: { image: nginx:1, deploy: { replicas: 2 } }\n',
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('h1', 'h2', 'h3'), fc.constantFrom('h1', 'h2', 'h3'), async (a, b) => {
        const away = emptyWorld(stack, [...new Set([a, b])]);
        let world = applyPlan(away, plan(stack, away, { now: T0 }), T0);
        for (const name of [a, b])
          world = withHost(
            world,
            name,
            emptyWorld(stack).hosts.find((host) => host.name === name)!,
          );
        let moves = 0;
        for (let step = 1; step <= 10; step += 1) {
          const next = plan(stack, world, { now: T0 + step, rebalance: true });
          if (next.actions.length === 0) break;
          expect(lowest(world, next)).toBeGreaterThanOrEqual(7);
          moves += 1;
          world = applyPlan(world, next, T0 + step);
        }
        expect(moves).toBeLessThan(10);
        const counts = Object.values(perHost(world));
        expect(counts).toHaveLength(3);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(Object.values(perHost(world, 'api')).reduce((sum, count) => sum + count, 0)).toBe(2);
      }),
    );
  }, 60_000);
});
