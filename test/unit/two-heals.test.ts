/**
 * Two heals with different views of the fleet, interleaving look, plan and apply in any order the
 * scheduler picks, against the simulator: while one of them applies, nobody else changes the
 * world. Each heal takes the lease the daemon takes (a majority of in-memory hosts, see
 * lease-hosts.ts), plans on what it sees (the hosts it cannot reach are unreachable) and applies
 * its plan one step at a time, yielding between steps, and stops once its lease is lost.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acquireLease, LockHeldError, type Lock } from '../../src/executor/lock.js';
import type { Observed } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import type { Stack } from '../../src/spec/types.js';
import { fleet, scheduledStores, type Host } from './lease-hosts.js';
import { stackOf, T0 } from './plan-helpers.js';
import { applyPlan, emptyWorld, planSteps } from './simulate.js';

const HOSTS = ['h1', 'h2', 'h3'];
const ROUNDS = 3;

type Shared = { world: Observed; acting: string | null; applied: number };

/** The world as a heal that cannot reach `silent` sees it. */
function seenBy(world: Observed, silent: readonly string[]): Observed {
  return {
    hosts: world.hosts.map((host) =>
      silent.includes(host.name)
        ? {
            ...host,
            reachable: false,
            error: 'connect ETIMEDOUT',
            engine: null,
            containers: [],
            totalContainers: null,
          }
        : host,
    ),
  };
}

async function heal(
  name: string,
  silent: readonly string[],
  context: { stack: Stack; hosts: readonly Host[]; shared: Shared; s: fc.Scheduler },
): Promise<void> {
  const { stack, hosts, shared, s } = context;
  for (let round = 0; round < ROUNDS; round += 1) {
    let lock: Lock;
    try {
      lock = await acquireLease(stack.name, scheduledStores(hosts, silent, s), {
        command: name,
        ttlMs: 30_000,
        waitMs: 0,
        skip: new Set(silent),
      });
    } catch (error) {
      if (!(error instanceof LockHeldError)) throw error;
      await s.schedule(Promise.resolve(`${name} waits`));
      continue;
    }
    try {
      const start = shared.world;
      const made = plan(stack, seenBy(start, silent), { now: T0 + round });
      let mine = start;
      for (let step = 1; step <= planSteps(made) && !lock.lost(); step += 1) {
        await s.schedule(Promise.resolve(`${name} step ${step}`));
        // Nobody else acted since this heal looked, and nobody acts beside it.
        expect(shared.acting).toBeNull();
        expect(shared.world).toBe(mine);
        shared.acting = name;
        mine = applyPlan(start, made, T0 + round, step);
        shared.world = mine;
        shared.applied += 1;
        shared.acting = null;
      }
    } finally {
      await lock.release();
    }
  }
}

describe('two heals with different views of the fleet', () => {
  it('never change the world while the other applies, whatever order their calls land in', async () => {
    const stack = await stackOf('services:\n  web:\n    image: nginx:1\n    deploy: { replicas: 6 }\n');
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.subarray(HOSTS, { maxLength: 1 }),
        fc.subarray(HOSTS, { maxLength: 1 }),
        async (s, leftSilent, rightSilent) => {
          const hosts = fleet(...HOSTS);
          const shared: Shared = { world: emptyWorld(stack), acting: null, applied: 0 };
          const context = { stack, hosts, shared, s };
          const both = Promise.all([heal('left', leftSilent, context), heal('right', rightSilent, context)]);
          await s.waitFor(both);
          await s.waitIdle();
          expect(shared.applied).toBeGreaterThan(0);
          expect(hosts.map((host) => host.lease)).toEqual([null, null, null]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
