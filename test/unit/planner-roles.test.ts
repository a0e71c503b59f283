import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Observed } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import { unmetRequirement } from '../../src/planner/engine-api.js';
import type { HostRole, Stack } from '../../src/spec/types.js';
import { fleetStack, perHost, T0 } from './plan-helpers.js';
import { applyPlan, emptyWorld, withHost } from './simulate.js';

/*
 * Swarm's `node.role` over heal hosts' `role` (manager unless marked worker), and services whose
 * create body needs a newer engine than some hosts run: examples, then invariants over random fleets.
 */

/** `roles`: one entry per host h1, h2, ...; null leaves the role unwritten. */
async function fleet(roles: readonly (HostRole | null)[], services: string): Promise<Stack> {
  return fleetStack(
    roles.map(
      (role, index) =>
        `h${index + 1}: { ssh: 10.0.0.${index + 11}${role === null ? '' : `, role: ${role}`} }`,
    ),
    services,
  );
}

function deploy(stack: Stack, world: Observed = emptyWorld(stack)): { world: Observed; unplaced: string[] } {
  const result = plan(stack, world, { now: T0 });
  return {
    world: applyPlan(world, result, T0),
    unplaced: result.unplaced.map((item) => `${item.service}/${item.slot}: ${item.reason}`),
  };
}

const pinned = (role: string, op = '==', replicas = 3): string =>
  [
    '  web:',
    '    image: nginx',
    `    deploy: { replicas: ${replicas}, placement: { constraints: ["node.role ${op} ${role}"] } }`,
  ].join('\n');

describe('node.role', () => {
  it('places a stack pinned to managers on every host while no host is marked', async () => {
    const stack = await fleet([null, null, null], pinned('manager'));
    expect(perHost(deploy(stack).world, 'web')).toEqual({ h1: 1, h2: 1, h3: 1 });
  });

  it('keeps manager-pinned replicas off workers, and worker-pinned ones on them', async () => {
    const stack = await fleet(
      ['manager', null, 'worker'],
      `${pinned('manager', '==', 4)}\n${pinned('worker').replace('web:', 'job:')}`,
    );
    const { world } = deploy(stack);
    expect(perHost(world, 'web')).toEqual({ h1: 2, h2: 2 });
    expect(perHost(world, 'job')).toEqual({ h3: 3 });
  });

  it('runs a global service pinned to workers once per worker', async () => {
    const stack = await fleet(
      ['worker', 'manager', 'worker'],
      '  agent:\n    image: agent\n    deploy: { mode: global, placement: { constraints: ["node.role != manager"] } }',
    );
    expect(perHost(deploy(stack).world, 'agent')).toEqual({ h1: 1, h3: 1 });
  });

  it('says why when no host has the role', async () => {
    const stack = await fleet([null, null], pinned('worker', '==', 1));
    expect(deploy(stack).unplaced).toEqual([
      'web/1: no eligible host: 2 hosts do not match node.role == worker',
    ]);
  });

  it('never places a replica on a host of the wrong role, over random fleets', async () => {
    const role = fc.constantFrom<HostRole | null>('manager', 'worker', null);
    await fc.assert(
      fc.asyncProperty(
        fc.array(role, { minLength: 1, maxLength: 5 }),
        fc.constantFrom('manager', 'worker'),
        fc.constantFrom('==', '!='),
        fc.integer({ min: 1, max: 6 }),
        async (roles, wanted, op, replicas) => {
          const stack = await fleet(roles, pinned(wanted, op, replicas));
          const { world, unplaced } = deploy(stack);
          const matches = (index: number): boolean =>
            ((roles[index] ?? 'manager') === wanted) === (op === '==');
          const counts = perHost(world, 'web');
          for (const host of Object.keys(counts)) expect(matches(Number(host.slice(1)) - 1)).toBe(true);
          const placed = Object.values(counts).reduce((sum, count) => sum + count, 0);
          const anyHost = roles.some((_, index) => matches(index));
          expect(placed).toBe(anyHost ? replicas : 0);
          expect(unplaced.length).toBe(anyHost ? 0 : replicas);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('engine requirements', () => {
  const subpath = [
    '  web:',
    '    image: nginx',
    '    volumes: [{ type: volume, source: data, target: /etc/app, volume: { subpath: app } }]',
    'volumes: { data: {} }',
  ].join('\n');

  it('refuses to place a volume subpath on Docker 20.10, which would mount the whole volume', async () => {
    const stack = await fleet([null, null], subpath);
    const { world, unplaced } = deploy(stack);
    expect(perHost(world, 'web')).toEqual({});
    expect(unplaced).toEqual([
      'web/1: no eligible host: 2 hosts run an older engine: a volume subpath needs Docker 26.0 or later (API 1.45)',
    ]);
  });

  it('places it on the hosts whose engine reads it', async () => {
    const stack = await fleet([null, null], subpath);
    const base = emptyWorld(stack);
    const h2 = base.hosts[1]!;
    const world = withHost(base, 'h2', { engine: { ...h2.engine!, version: '26.1.4' } });
    const result = plan(stack, world, { now: T0 });
    expect(result.unplaced).toEqual([]);
    const create = result.actions.find((action) => action.kind === 'create');
    expect(create?.host).toBe('h2');
    expect(create?.kind === 'create' && create.create.body.HostConfig.Mounts).toEqual([
      { Type: 'volume', Source: 'app_data', Target: '/etc/app', VolumeOptions: { Subpath: 'app' } },
    ]);
  });

  it('reads releases by their major number; an unknown release is not held against a host', () => {
    const needs = [{ feature: 'x', docker: 25, api: '1.44' }];
    expect(unmetRequirement('25.0.0', needs)).toBeNull();
    expect(unmetRequirement('28.3.1', needs)).toBeNull();
    expect(unmetRequirement('24.0.9', needs)).toEqual(needs[0]);
    expect(unmetRequirement('20.10.24', needs)).toEqual(needs[0]);
    expect(unmetRequirement('4.9.3', needs)).toEqual(needs[0]);
    expect(unmetRequirement('', needs)).toBeNull();
    expect(unmetRequirement('20.10.24', [])).toBeNull();
  });

  it('sends start_interval only when it is not the engine default, and then needs Docker 25', async () => {
    const service = (interval: string): string =>
      `  web:\n    image: nginx\n    healthcheck: { test: [CMD, true], start_interval: ${interval} }`;
    const same = await fleet([null], service('5s'));
    expect(deploy(same).unplaced).toEqual([]);
    const other = await fleet([null], service('1s'));
    expect(deploy(other).unplaced).toEqual([
      'web/1: no eligible host: 1 host runs an older engine: healthcheck.start_interval needs Docker 25.0 or later (API 1.44)',
    ]);
  });
});
