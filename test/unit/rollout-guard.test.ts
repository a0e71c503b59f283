import { describe, expect, it } from 'vitest';
import type { HostClient } from '../../src/executor/host-client.js';
import { RolloutGuard, type RolloutResult } from '../../src/executor/rollout-guard.js';
import { plan } from '../../src/planner/plan.js';
import type { Action } from '../../src/planner/plan-types.js';
import { deployed, stackOf, T1 } from './plan-helpers.js';

/**
 * The failure arithmetic of a rollout, on a plan made by the planner. The hosts are stand-ins that
 * record the marks written: the real engines are in test/e2e/rollout.test.ts.
 */
async function rollout(updateConfig: string, disturbed = false) {
  const spec = (image: string) => `
services:
  web:
    image: ${image}
    deploy:
      replicas: 12
      update_config: ${updateConfig}
`;
  const v1 = await stackOf(spec('nginx:1'));
  const v2 = await stackOf(spec('nginx:2'));
  const made = plan(v2, deployed(v1), { now: T1 });
  const marks: unknown[] = [];
  const client = {
    host: v2.heal.hosts.h1,
    call: (_operation: string, run: (docker: never) => Promise<unknown>) =>
      run({ createVolume: async (body: unknown) => void marks.push(body) } as never),
  } as unknown as HostClient;
  const halts: RolloutResult[] = [];
  const guard = new RolloutGuard(
    made,
    v2,
    async () => ({ client }),
    (_service, result) => halts.push(result),
    () => disturbed,
  );
  const replaces = made.actions.filter(
    (action): action is Extract<Action, { kind: 'replace' }> => action.kind === 'replace',
  );
  return { guard, replaces, marks, halts };
}

describe('RolloutGuard', () => {
  it('counts a new container that stopped within monitor, unless its engine went away since it started', async () => {
    for (const disturbed of [false, true]) {
      const { guard, replaces, halts } = await rollout(
        '{ parallelism: 3, failure_action: rollback, monitor: 10s }',
        disturbed,
      );
      const client = {
        host: { name: 'h1' },
        // No `kill` event: it stopped by itself.
        call: async (operation: string) =>
          operation.startsWith('events') ? '' : { State: { Running: false, ExitCode: 0 } },
      };
      guard.updated(replaces[0]!, client as unknown as HostClient, 'c1');
      await guard.check();
      expect(halts.map((halt) => halt.result)).toEqual(disturbed ? [] : ['rolled-back']);
    }
  });

  it('lets failures up to max_failure_ratio pass, and rolls back on the one past it', async () => {
    const { guard, replaces, marks, halts } = await rollout(
      '{ parallelism: 3, failure_action: rollback, max_failure_ratio: 0.25 }',
    );
    for (const action of replaces.slice(0, 3)) await guard.failed(action, 'unhealthy');
    expect(halts).toEqual([]);
    expect(guard.skipReason(replaces[11]!)).toBeNull();
    await guard.failed(replaces[3]!, 'unhealthy');
    expect(halts.map((halt) => halt.result)).toEqual(['rolled-back']);
    expect(guard.skipReason(replaces[11]!)).toMatch(
      /^the rollout of web stopped \(rolled-back\): h\d: unhealthy$/,
    );
    // One mark per host of the spec, naming the config that failed.
    expect(marks).toHaveLength(3);
    expect(marks[0]).toMatchObject({
      Labels: { 'io.heal.rollout': 'rolled-back', 'io.heal.service': 'web' },
    });
    expect(guard.results()).toEqual([
      expect.objectContaining({
        result: 'rolled-back',
        failures: 4,
        slots: 12,
        reason: expect.stringMatching(/^4 of 12 replacement\(s\) failed \(max_failure_ratio 0\.25\)/),
      }),
    ]);
  });

  it('pauses on the first failure by default, and writes a paused mark', async () => {
    const { guard, replaces, marks, halts } = await rollout('{ parallelism: 3 }');
    await guard.failed(replaces[0]!, 'exited with code 1');
    expect(halts.map((halt) => halt.result)).toEqual(['paused']);
    expect(marks[0]).toMatchObject({ Labels: { 'io.heal.rollout': 'paused' } });
  });

  it('with continue, counts every failure and never stops a batch', async () => {
    const { guard, replaces, marks, halts } = await rollout('{ parallelism: 3, failure_action: continue }');
    for (const action of replaces.slice(0, 5)) await guard.failed(action, 'unhealthy');
    // Said once, at the first failure.
    expect(halts).toEqual([expect.objectContaining({ result: 'continued', failures: 1 })]);
    expect(replaces.map((action) => guard.skipReason(action))).toEqual(replaces.map(() => null));
    expect(marks).toEqual([]);
    expect(guard.results()).toEqual([expect.objectContaining({ result: 'continued', failures: 5 })]);
  });

  it('calls a rollout with every slot updated done, and one with slots left incomplete', async () => {
    const { guard, replaces } = await rollout('{ parallelism: 3 }');
    for (const action of replaces.slice(0, 11)) guard.updated(action, {} as HostClient, 'id');
    expect(guard.results()).toEqual([expect.objectContaining({ result: 'incomplete', updated: 11 })]);
    guard.updated(replaces[11]!, {} as HostClient, 'id');
    expect(guard.results()).toEqual([expect.objectContaining({ result: 'done', updated: 12 })]);
  });

  describe('watch, after the last batch', () => {
    /**
     * A host whose engine answers each inspect with the next state, the last one for ever, and a
     * query of the container's `kill` events with `events` (none by default).
     */
    const engine = (states: object[], onLook: (looks: number) => void = () => undefined, events = '') => {
      let looks = 0;
      const client = {
        host: { name: 'h1' },
        call: async (operation: string) => {
          if (operation.startsWith('events')) return events;
          looks += 1;
          onLook(looks);
          return states[Math.min(looks, states.length) - 1];
        },
      };
      return { client: client as unknown as HostClient, looks: () => looks };
    };
    const running = { State: { Running: true, Health: { Status: 'healthy' } }, RestartCount: 0 };

    it('counts a new container that exits within monitor after the last batch, and stops watching', async () => {
      const { guard, replaces, halts } = await rollout(
        '{ parallelism: 12, failure_action: rollback, monitor: 1h }',
      );
      const host = engine([running, running, { State: { Running: false, ExitCode: 1 }, RestartCount: 0 }]);
      guard.updated(replaces[0]!, host.client, 'c1');
      expect(guard.windows()).toEqual([expect.objectContaining({ service: 'web', monitor: 3_600_000 })]);
      await guard.watch();
      expect(host.looks()).toBe(3);
      expect(halts.map((halt) => halt.result)).toEqual(['rolled-back']);
      expect(guard.results()[0]?.reason).toMatch(
        /^1 of 12 replacement\(s\) failed: h1: \S+ exited with code 1 within monitor$/,
      );
      expect(guard.windows()).toEqual([]);
    });

    it('counts one that a restart policy started again', async () => {
      const { guard, replaces, halts } = await rollout('{ failure_action: pause, monitor: 1h }');
      const host = engine([{ ...running, RestartCount: 1 }]);
      guard.updated(replaces[0]!, host.client, 'c1');
      await guard.watch();
      expect(halts.map((halt) => halt.result)).toEqual(['paused']);
      expect(guard.results()[0]?.reason).toMatch(/exited and was restarted within monitor$/);
    });

    it('does not count one that someone stopped or removed (a kill event), and stops watching it', async () => {
      const { guard, replaces, halts } = await rollout(
        '{ parallelism: 12, failure_action: rollback, monitor: 1h }',
      );
      const kill = '{"Type":"container","Action":"kill","Actor":{"Attributes":{"signal":"15"}}}\n';
      const host = engine(
        [running, { State: { Running: false, ExitCode: 143 }, RestartCount: 0 }],
        () => undefined,
        kill,
      );
      guard.updated(replaces[0]!, host.client, 'c1');
      await guard.watch();
      expect(host.looks()).toBe(2);
      expect(halts).toEqual([]);
      expect(guard.results()[0]).toMatchObject({ failures: 0 });
    });

    it('ends a healthy rollout once its last window has passed, done', async () => {
      const { guard, replaces } = await rollout('{ parallelism: 12, monitor: 1s }');
      const host = engine([running]);
      for (const action of replaces) guard.updated(action, host.client, action.create.query.name);
      await guard.watch();
      expect(host.looks()).toBeGreaterThanOrEqual(replaces.length);
      expect(guard.results()).toEqual([
        expect.objectContaining({ result: 'done', updated: 12, failures: 0 }),
      ]);
    });

    it('returns at once when heal stops, and calls the rollout incomplete', async () => {
      const { guard, replaces } = await rollout('{ parallelism: 12, monitor: 1h }');
      const stop = new AbortController();
      const host = engine([running], () => stop.abort());
      for (const action of replaces) guard.updated(action, host.client, action.create.query.name);
      await guard.watch(stop.signal);
      expect(guard.results()).toEqual([
        expect.objectContaining({
          result: 'incomplete',
          updated: 12,
          reason: 'heal stopped before update_config.monitor (3600s) had passed',
        }),
      ]);
    });

    it('has nothing to watch without monitor', async () => {
      const { guard, replaces } = await rollout('{ parallelism: 12, monitor: 0s }');
      guard.updated(replaces[0]!, engine([running]).client, 'c1');
      expect(guard.windows()).toEqual([]);
    });
  });
});
