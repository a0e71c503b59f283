import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serviceSpecLabel } from '../../src/planner/create.js';
import { LABEL } from '../../src/planner/labels.js';
import type { Observed, RolloutMark } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import type { Plan } from '../../src/planner/plan-types.js';
import type { Stack } from '../../src/spec/types.js';
import { changes, deployed, stackOf, T1, T2 } from './plan-helpers.js';
import { applyPlan, planSteps, withHost } from './simulate.js';

const WEB = (image: string) => `
services:
  web:
    image: ${image}
    deploy:
      replicas: 6
      update_config: { parallelism: 2, failure_action: rollback, monitor: 3s }
      rollback_config: { parallelism: 3 }
`;

/** The world after `plan` ran up to and including its phase `last` (heal stopped there). */
function appliedThrough(world: Observed, made: Plan, last: number, now: number): Observed {
  return applyPlan(world, { ...made, actions: made.actions.filter((action) => action.phase <= last) }, now);
}

function mark(stack: Stack, state: RolloutMark['state'], host = 'h1'): RolloutMark {
  const configHash = stack.services.web!.configHash;
  return {
    name: `app_heal-${state}_web_x`,
    host,
    service: 'web',
    configHash,
    state,
    reason: '2 of 6 failed',
  };
}

function marked(world: Observed, ...marks: RolloutMark[]): Observed {
  let out = world;
  for (const item of marks) out = withHost(out, item.host, { marks: [item] });
  return out;
}

/** Config hashes of the web containers, counted. */
function hashes(world: Observed): Record<string, number> {
  const out: Record<string, number> = {};
  for (const container of world.hosts.flatMap((host) => host.containers))
    out[container.configHash ?? '?'] = (out[container.configHash ?? '?'] ?? 0) + 1;
  return out;
}

async function versions(): Promise<{ v1: Stack; v2: Stack; v3: Stack }> {
  return {
    v1: await stackOf(WEB('nginx:1')),
    v2: await stackOf(WEB('nginx:2')),
    v3: await stackOf(WEB('nginx:3')),
  };
}

/** v1 deployed, then the first batch of the update to v2 applied. */
async function halfway(): Promise<{ v1: Stack; v2: Stack; v3: Stack; world: Observed }> {
  const stacks = await versions();
  const update = plan(stacks.v2, deployed(stacks.v1), { now: T1 });
  const firstBatch = update.phases.find((phase) => phase.label === 'update batch 1 of 3')!;
  return { ...stacks, world: appliedThrough(deployed(stacks.v1), update, firstBatch.index, T1) };
}

describe('plan: rolling updates', () => {
  it('describes the rollout by update_config: slots, batches and policy', async () => {
    const { v1, v2 } = await versions();
    const update = plan(v2, deployed(v1), { now: T1 });
    expect(update.rollouts).toEqual([
      {
        service: 'web',
        kind: 'update',
        to: v2.services.web!.configHash,
        slots: 6,
        batches: 3,
        parallelism: 2,
        delay: 0,
        order: 'stop-first',
        failureAction: 'rollback',
        monitor: 3000,
        maxFailureRatio: 0,
        settling: [],
      },
    ]);
    expect(update.actions.filter((action) => action.kind === 'replace' && action.update)).toHaveLength(6);
  });

  it('names the replicas still starting that its first batch must wait for (heal stopped mid-batch)', async () => {
    const { v2, world } = await halfway();
    const newHash = v2.services.web!.configHash;
    // The first batch's new containers run but have not passed a healthcheck yet.
    const starting: Observed = {
      hosts: world.hosts.map((host) => ({
        ...host,
        containers: host.containers.map((container) =>
          container.configHash === newHash ? { ...container, health: 'starting' as const } : container,
        ),
      })),
    };
    const resumed = plan(v2, starting, { now: T2 });
    const fresh = starting.hosts
      .flatMap((host) => host.containers)
      .filter((container) => container.configHash === newHash);
    expect(resumed.rollouts[0]!.settling).toEqual(
      fresh
        .map((container) => ({
          id: container.id,
          name: container.name,
          host: container.host,
          configHash: newHash,
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(resumed.rollouts[0]!.slots).toBe(4);
    // Healthy, they hold nothing up.
    expect(plan(v2, world, { now: T2 }).rollouts[0]!.settling).toEqual([]);
  });

  it('records on each new container the config its slot ran before', async () => {
    const { v1, v2, world } = await halfway();
    const updated = world.hosts
      .flatMap((host) => host.containers)
      .filter((container) => container.configHash === v2.services.web!.configHash);
    expect(updated).toHaveLength(2);
    for (const container of updated) {
      expect(container.labels[LABEL.previousConfigHash]).toBe(v1.services.web!.configHash);
      expect(container.labels[LABEL.previousSpec]).toBe(serviceSpecLabel(v1.services.web!));
    }
  });

  it('a replica restarted in place is not part of any rollout', async () => {
    const { v1 } = await versions();
    const world = deployed(v1);
    const [first] = world.hosts.flatMap((host) => host.containers);
    const sick = withHost(world, first!.host, {
      containers: world.hosts
        .find((host) => host.name === first!.host)!
        .containers.map((container) =>
          container === first ? { ...container, health: 'unhealthy' as const } : container,
        ),
    });
    const healed = plan(v1, sick, { now: T1 });
    expect(healed.rollouts).toEqual([]);
    expect(healed.actions.filter((action) => action.kind === 'replace' && !action.update)).toHaveLength(1);
  });
});

describe('plan: a rolled-back config', () => {
  it('returns the updated slots to the previous config by rollback_config, and then holds', async () => {
    const { v1, v2, world } = await halfway();
    const back = plan(v2, marked(world, mark(v2, 'rolled-back')), { now: T2 });
    expect(changes(back)).toHaveLength(2);
    expect(back.actions.filter((action) => action.kind === 'replace').map((action) => action.reason)).toEqual(
      [
        expect.stringMatching(/^rolling back to v1:\w+: image$/),
        expect.stringMatching(/^rolling back to v1:\w+: image$/),
      ],
    );
    expect(back.rollouts).toEqual([
      expect.objectContaining({
        kind: 'rollback',
        to: v1.services.web!.configHash,
        slots: 2,
        parallelism: 3,
      }),
    ]);
    expect(back.held).toEqual([mark(v2, 'rolled-back')]);
    expect(back.warnings).toContainEqual(
      expect.stringMatching(/^web: v1:\w+ was rolled back \(2 of 6 failed\)/),
    );

    const after = applyPlan(marked(world, mark(v2, 'rolled-back')), back, T2);
    expect(hashes(after)).toEqual({ [v1.services.web!.configHash]: 6 });
    // Converged on the previous config: nothing more to do, and the plan still says why.
    const again = plan(v2, after, { now: T2 + 1 });
    expect(again.actions).toEqual([]);
    expect(again.held).toHaveLength(1);
  });

  it('brings back every slot of a finished rollout (heal rollback): the previous config is on the labels', async () => {
    const { v1, v2 } = await versions();
    const finished = applyPlan(deployed(v1), plan(v2, deployed(v1), { now: T1 }), T1);
    expect(hashes(finished)).toEqual({ [v2.services.web!.configHash]: 6 });
    const back = plan(v2, marked(finished, mark(v2, 'rolled-back', 'h3')), { now: T2 });
    expect(back.rollouts).toEqual([expect.objectContaining({ kind: 'rollback', slots: 6, batches: 2 })]);
    expect(hashes(applyPlan(finished, back, T2))).toEqual({ [v1.services.web!.configHash]: 6 });
  });

  it('places a missing slot with the previous config while rolled back', async () => {
    const { v1, v2 } = await versions();
    const v1World = deployed(v1);
    const gone = withHost(v1World, 'h2', { containers: [] });
    const missing = v1World.hosts.find((host) => host.name === 'h2')!.containers.length;
    const back = plan(v2, marked(gone, mark(v2, 'rolled-back')), { now: T1 });
    const creates = back.actions.filter((action) => action.kind === 'create');
    expect(creates).toHaveLength(missing);
    for (const create of creates)
      if (create.kind === 'create')
        expect(create.create.body.Labels[LABEL.configHash]).toBe(v1.services.web!.configHash);
  });

  it('leaves the service as it is when no container records a previous config', async () => {
    const { v2 } = await versions();
    const fresh = deployed(v2);
    const back = plan(v2, marked(fresh, mark(v2, 'rolled-back')), { now: T1 });
    expect(back.actions).toEqual([]);
    expect(back.warnings).toContainEqual(
      expect.stringMatching(/no container records a previous config; left as it is/),
    );
  });
});

describe('plan: a paused rollout', () => {
  it('replaces nothing for its config, restarts what crashed, and places a missing slot by the spec', async () => {
    const { v2, world } = await halfway();
    const paused = marked(world, mark(v2, 'paused'));
    expect(plan(v2, paused, { now: T2 }).actions).toEqual([]);

    const h3 = paused.hosts.find((host) => host.name === 'h3')!;
    const [lost, crashed, ...rest] = h3.containers;
    const broken = withHost(paused, 'h3', {
      containers: [{ ...crashed!, state: 'exited', exitCode: 1, finishedAt: T1 }, ...rest],
    });
    const healed = plan(v2, broken, { now: T2 });
    expect(changes(healed)).toHaveLength(2);
    expect(changes(healed)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^\\d+ start h3 web/${crashed!.slot} `)),
        expect.stringMatching(new RegExp(`^\\d+ create h\\d web/${lost!.slot} `)),
      ]),
    );
    const created = healed.actions.find((action) => action.kind === 'create');
    expect(created?.kind === 'create' && created.create.body.Labels[LABEL.configHash]).toBe(
      v2.services.web!.configHash,
    );
    expect(healed.warnings).toContainEqual(expect.stringMatching(/^web: the rollout of v1:\w+ is paused/));
  });
});

describe('plan: marks the spec has moved past', () => {
  it('are removed, and the new config rolls out as an update', async () => {
    const { v2, v3, world } = await halfway();
    const moved = plan(v3, marked(world, mark(v2, 'rolled-back', 'h2')), { now: T2 });
    expect(moved.held).toEqual([]);
    expect(moved.actions).toContainEqual(
      expect.objectContaining({ kind: 'remove-volume', host: 'h2', volume: 'app_heal-rolled-back_web_x' }),
    );
    expect(moved.rollouts).toEqual([
      expect.objectContaining({ kind: 'update', to: v3.services.web!.configHash }),
    ]);
  });
});

describe('plan: a mark written wherever heal stopped', () => {
  /**
   * heal killed at any step of the update to v2 (`steps` of the simulator), a mark then written on
   * one host: the next plan, applied, converges in one go, and a rolled-back service ends with
   * every slot once on v1, a paused one with nothing left to do and no slot lost.
   */
  it('converges in one plan for any point of an interrupted update', async () => {
    const { v1, v2 } = await versions();
    const base = deployed(v1);
    const update = plan(v2, base, { now: T1 });
    const hashes1 = v1.services.web!.configHash;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: planSteps(update) }),
        fc.constantFrom<RolloutMark['state']>('rolled-back', 'paused'),
        fc.constantFrom('h1', 'h2', 'h3'),
        async (steps, state, host) => {
          const stopped = marked(applyPlan(base, update, T1, steps), mark(v2, state, host));
          const next = plan(v2, stopped, { now: T2 });
          expect(next.refused).toBeNull();
          const after = applyPlan(stopped, next, T2);
          expect(plan(v2, after, { now: T2 + 1 }).actions).toEqual([]);
          const containers = after.hosts.flatMap((item) => item.containers);
          expect(new Set(containers.map((container) => container.slot))).toEqual(new Set([1, 2, 3, 4, 5, 6]));
          expect(containers).toHaveLength(6);
          if (state === 'rolled-back') expect(hashes(after)).toEqual({ [hashes1]: 6 });
          // A paused rollout replaces nothing for its config: no slot moved further than heal had got.
          if (state === 'paused')
            expect(next.actions.filter((action) => action.kind === 'replace' && action.update)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
