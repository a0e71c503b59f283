import { describe, expect, it } from 'vitest';
import type { CreateSpec } from '../../src/planner/plan-types.js';
import { plan } from '../../src/planner/plan.js';
import { statusRows } from '../../src/planner/status.js';
import { applyPlan, emptyWorld, ownedContainer } from './simulate.js';
import { brief, changes, settled, stackOf, T0 } from './plan-helpers.js';

const WEB3 = `
services:
  web:
    image: nginx:1
    deploy: { replicas: 3 }
`;

describe('a replica paused by hand', () => {
  it('is unpaused at once, whatever the restart backoff, and the plan after is empty', async () => {
    const stack = await stackOf(WEB3);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, state: 'paused' }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 3 }),
    ]);
    const result = plan(stack, world, { now: T0, notBefore: { 'web.1': Number.POSITIVE_INFINITY } });
    expect(brief(result)).toEqual(['0 unpause h1 web/1 app-web-1']);
    expect(result.actions[0]?.reason).toBe('paused by hand; heal runs it');
    expect(result.summary.web).toMatchObject({ start: 1, unchanged: 2 });
    expect(brief(plan(stack, applyPlan(world, result, T0), { now: T0 }))).toEqual([]);
  });

  it('of an outdated config is replaced like any other outdated replica', async () => {
    const stack = await stackOf(WEB3);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, state: 'paused', configHash: 'old' }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 3 }),
    ]);
    expect(changes(plan(stack, world, { now: T0 }))).toEqual([
      '0 replace h1 web/1 app-web-1 -> app-web-1 stop-first',
    ]);
  });
});

const MIGRATION = (condition: string) => `
services:
  migrate:
    image: app:1
    command: ["sh", "-c", "exit 0"]
    deploy: { restart_policy: { condition: ${condition} } }
  web:
    image: app:1
    depends_on: { migrate: { condition: service_completed_successfully } }
    deploy: { replicas: 2 }
`;

describe('a one-off job', () => {
  it('runs before what waits for it: the job is created first, and its create waits for its exit 0', async () => {
    const stack = await stackOf(MIGRATION('none'));
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(changes(result)).toEqual([
      '1 create h1 migrate/1 app-migrate-1',
      '2 create h2 web/1 app-web-1',
      '2 create h3 web/2 app-web-2',
    ]);
    const creates = result.actions.flatMap((action) => (action.kind === 'create' ? [action.create] : []));
    expect(creates.map((create: CreateSpec) => create.exitZero)).toEqual(['awaited', 'failure', 'failure']);
    expect(result.unplaced).toEqual([]);
  });

  it('that exited 0 is done: not restarted, counted done in status, and its dependents are created', async () => {
    for (const condition of ['none', 'on-failure']) {
      const stack = await stackOf(MIGRATION(condition));
      const world = settled(stack, [
        ownedContainer(stack, { host: 'h1', service: 'migrate', slot: 1, state: 'exited', exitCode: 0 }),
      ]);
      const result = plan(stack, world, { now: T0 });
      expect(changes(result)).toEqual(['0 create h2 web/1 app-web-1', '0 create h3 web/2 app-web-2']);
      expect(result.summary.migrate).toMatchObject({ unchanged: 1, start: 0, replace: 0 });
      const [job] = statusRows(stack, world);
      expect(job).toMatchObject({ service: 'migrate', running: 0, completed: 1 });
    }
  });

  it('that is still running holds its dependents back, and says so', async () => {
    const stack = await stackOf(MIGRATION('none'));
    const world = settled(stack, [ownedContainer(stack, { host: 'h1', service: 'migrate', slot: 1 })]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual([]);
    expect(result.unplaced).toEqual(
      [1, 2].map((slot) => ({
        service: 'web',
        slot,
        reason: 'waits for migrate to complete successfully (depends_on: service_completed_successfully)',
      })),
    );
  });

  it('that failed under condition none holds its dependents back until the spec changes', async () => {
    const stack = await stackOf(MIGRATION('none'));
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'migrate', slot: 1, state: 'exited', exitCode: 3 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual([]);
    expect(result.unplaced.map((item) => item.service)).toEqual(['web', 'web']);
  });

  it('that failed under on-failure is started again first, and its dependents follow in the same plan', async () => {
    const stack = await stackOf(MIGRATION('on-failure'));
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'migrate', slot: 1, state: 'exited', exitCode: 3 }),
    ]);
    expect(changes(plan(stack, world, { now: T0 }))).toEqual([
      '0 start h1 migrate/1 app-migrate-1',
      '1 create h2 web/1 app-web-1',
      '1 create h3 web/2 app-web-2',
    ]);
  });

  it('of an older config runs again (replaced), and what waits for it waits for that run', async () => {
    const stack = await stackOf(MIGRATION('none'));
    const world = settled(stack, [
      ownedContainer(stack, {
        host: 'h1',
        service: 'migrate',
        slot: 1,
        state: 'exited',
        exitCode: 0,
        configHash: 'old',
      }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual(['0 replace h1 migrate/1 app-migrate-1 -> app-migrate-1 stop-first']);
    expect(result.unplaced.map((item) => item.service)).toEqual(['web', 'web']);
  });

  it('under restart_policy any is no job: an exit 0 is restarted', async () => {
    const stack = await stackOf(MIGRATION('any'));
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'migrate', slot: 1, state: 'exited', exitCode: 0 }),
    ]);
    expect(changes(plan(stack, world, { now: T0 }))[0]).toBe('0 start h1 migrate/1 app-migrate-1');
    expect(statusRows(stack, world)[0]).toMatchObject({ completed: 0 });
  });
});
