import { describe, expect, it } from 'vitest';
import { LABEL } from '../../src/planner/labels.js';
import type { Observed } from '../../src/planner/observed.js';
import { plan, type PlanOptions } from '../../src/planner/plan.js';
import type { Stack } from '../../src/spec/types.js';
import {
  applyPlan,
  emptyWorld,
  foreignContainer,
  ownedContainer,
  withContainers,
  withHost,
} from './simulate.js';
import { brief, changes, deployed, layout, settled, stackOf, T0, T1, T2 } from './plan-helpers.js';

/** Two replicas, each holding host port 80. */
const WEB_ON_PORT_80 = `
services:
  web:
    image: nginx:1
    ports: [{ target: 80, published: 80, mode: host }]
    deploy: { replicas: 2 }
`;

const WEB3 = `
services:
  web:
    image: nginx:1
    deploy: { replicas: 3 }
`;

describe('plan: a fresh deploy', () => {
  it('spreads the slots over the hosts, after the network and the pulls', async () => {
    const stack = await stackOf(WEB3);
    const result = plan(stack, emptyWorld(stack), { now: T0, revision: 'abc123' });

    expect(result.refused).toBeNull();
    expect(brief(result)).toEqual([
      '0 create-network h1 app_default',
      '0 create-network h2 app_default',
      '0 create-network h3 app_default',
      '0 pull h1 nginx:1',
      '0 pull h2 nginx:1',
      '0 pull h3 nginx:1',
      '1 create h1 web/1 app-web-1',
      '1 create h2 web/2 app-web-2',
      '1 create h3 web/3 app-web-3',
    ]);
    expect(result.phases).toEqual([
      { index: 0, label: 'prepare', delayBefore: 0 },
      { index: 1, label: 'create', delayBefore: 0 },
    ]);
    expect(result.summary).toEqual({
      web: { desired: 3, create: 3, replace: 0, remove: 0, start: 0, unchanged: 0 },
    });
    expect(result.unplaced).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it('labels each container with its stack, service, slot, config hash, generation and revision', async () => {
    const stack = await stackOf(WEB3);
    const result = plan(stack, emptyWorld(stack), { now: T0, revision: 'abc123' });
    const create = result.actions.find((action) => action.kind === 'create' && action.slot === 2);

    expect(create).toMatchObject({
      kind: 'create',
      host: 'h2',
      service: 'web',
      slot: 2,
      reason: 'slot 2 of 3 is missing',
      create: { host: 'h2', query: { name: 'app-web-2' }, waitHealthy: true },
    });
    expect(create?.kind === 'create' && create.create.body.Labels).toMatchObject({
      [LABEL.stack]: 'app',
      [LABEL.service]: 'web',
      [LABEL.slot]: '2',
      [LABEL.configHash]: stack.services.web!.configHash,
      [LABEL.generation]: String(T0),
      [LABEL.revision]: 'abc123',
    });
  });

  it('plans nothing once applied', async () => {
    const stack = await stackOf(WEB3);
    const world = deployed(stack);

    expect(layout(world)).toEqual(['h1 web/1 app-web-1', 'h2 web/2 app-web-2', 'h3 web/3 app-web-3']);
    const again = plan(stack, world, { now: T1 });
    expect(again.actions).toEqual([]);
    expect(again.summary.web).toEqual({
      desired: 3,
      create: 0,
      replace: 0,
      remove: 0,
      start: 0,
      unchanged: 3,
    });
  });

  it('puts a new slot on the host with the fewest containers when replicas of the service tie', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    deploy: { replicas: 1 }
`);
    const world = withHost(withHost(emptyWorld(stack), 'h1', { totalContainers: 5 }), 'h2', {
      totalContainers: 2,
    });

    expect(changes(plan(stack, world, { now: T0 }))).toEqual(['1 create h3 web/1 app-web-1']);
  });
});

describe('plan: scaling', () => {
  it('scales 6 → 12 → 3: adds slots 7..12 spread evenly, then removes the highest slots', async () => {
    const six = await stackOf(`
services:
  web:
    image: nginx:1
    deploy: { replicas: 6 }
`);
    const twelve = await stackOf(`
services:
  web:
    image: nginx:1
    deploy: { replicas: 12 }
`);
    const three = await stackOf(WEB3);
    expect(twelve.services.web!.configHash).toBe(six.services.web!.configHash);

    const world6 = deployed(six);
    expect(layout(world6)).toEqual([
      'h1 web/1 app-web-1',
      'h1 web/4 app-web-4',
      'h2 web/2 app-web-2',
      'h2 web/5 app-web-5',
      'h3 web/3 app-web-3',
      'h3 web/6 app-web-6',
    ]);

    const up = plan(twelve, world6, { now: T1 });
    expect(brief(up)).toEqual([
      '0 create h1 web/7 app-web-7',
      '0 create h2 web/8 app-web-8',
      '0 create h3 web/9 app-web-9',
      '0 create h1 web/10 app-web-10',
      '0 create h2 web/11 app-web-11',
      '0 create h3 web/12 app-web-12',
    ]);
    expect(up.summary.web).toEqual({ desired: 12, create: 6, replace: 0, remove: 0, start: 0, unchanged: 6 });
    const world12 = applyPlan(world6, up, T1);

    const down = plan(three, world12, { now: T2 });
    expect(brief(down)).toEqual([
      '0 remove h1 web/4 app-web-4',
      '0 remove h2 web/5 app-web-5',
      '0 remove h3 web/6 app-web-6',
      '0 remove h1 web/7 app-web-7',
      '0 remove h2 web/8 app-web-8',
      '0 remove h3 web/9 app-web-9',
      '0 remove h1 web/10 app-web-10',
      '0 remove h2 web/11 app-web-11',
      '0 remove h3 web/12 app-web-12',
    ]);
    expect(down.phases).toEqual([{ index: 0, label: 'remove', delayBefore: 0 }]);
    expect(down.actions[0]).toMatchObject({
      reason: 'scaled down to 3',
      container: {
        id: 'sim-1700000000000-4',
        name: 'app-web-4',
        host: 'h1',
        stopTimeout: 10,
        stopSignal: null,
      },
    });
    expect(layout(applyPlan(world12, down, T2))).toEqual([
      'h1 web/1 app-web-1',
      'h2 web/2 app-web-2',
      'h3 web/3 app-web-3',
    ]);
  });
});

describe('plan: changes to the spec', () => {
  const TWO = (webEnv: string) => `
services:
  web:
    image: nginx:1
    environment: { MODE: ${webEnv} }
    deploy: { replicas: 3, update_config: { parallelism: 2, delay: 10s } }
  api:
    image: nginx:1
    deploy: { replicas: 2 }
`;

  it('replaces only the service whose environment changed, in batches of its parallelism', async () => {
    const before = await stackOf(TWO('blue'));
    const after = await stackOf(TWO('green'));
    expect(after.services.api!.configHash).toBe(before.services.api!.configHash);
    const world = deployed(before);

    const result = plan(after, world, { now: T1 });
    expect(brief(result)).toEqual([
      '0 replace h3 web/1 app-web-1 -> app-web-1 stop-first',
      '0 replace h1 web/2 app-web-2 -> app-web-2 stop-first',
      '1 replace h2 web/3 app-web-3 -> app-web-3 stop-first',
    ]);
    expect(result.phases).toEqual([
      { index: 0, label: 'update batch 1 of 2', delayBefore: 0 },
      { index: 1, label: 'update batch 2 of 2', delayBefore: 10_000 },
    ]);
    expect(result.actions[0]).toMatchObject({ reason: 'config changed: environment' });
    const replace = result.actions[0]!;
    expect(replace.kind === 'replace' && JSON.parse(replace.change.to).environment).toEqual({
      MODE: 'green',
    });
    expect(replace.kind === 'replace' && JSON.parse(replace.change.from!).environment).toEqual({
      MODE: 'blue',
    });
    expect(result.summary).toEqual({
      api: { desired: 2, create: 0, replace: 0, remove: 0, start: 0, unchanged: 2 },
      web: { desired: 3, create: 0, replace: 3, remove: 0, start: 0, unchanged: 0 },
    });
    expect(plan(after, applyPlan(world, result, T1), { now: T2 }).actions).toEqual([]);
  });

  it('prunes a service that left the spec', async () => {
    const before = await stackOf(TWO('blue'));
    const after = await stackOf(`
services:
  web:
    image: nginx:1
    environment: { MODE: blue }
    deploy: { replicas: 3, update_config: { parallelism: 2, delay: 10s } }
`);
    const world = deployed(before);

    const result = plan(after, world, { now: T1 });
    expect(brief(result)).toEqual(['0 remove h1 api/1 app-api-1', '0 remove h2 api/2 app-api-2']);
    expect(result.actions.map((action) => action.reason)).toEqual([
      'service api is not in the spec',
      'service api is not in the spec',
    ]);
    expect(result.summary.api).toEqual({
      desired: 0,
      create: 0,
      replace: 0,
      remove: 2,
      start: 0,
      unchanged: 0,
    });
  });

  it('never touches a container of another stack or one without labels, even of the same names', async () => {
    const stack = await stackOf(WEB3);
    const world = withContainers(emptyWorld(stack), [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, stack: 'other', name: 'other-web-1' }),
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 9, stack: 'other', name: 'other-web-9' }),
      ownedContainer(stack, {
        host: 'h2',
        service: 'gone',
        slot: 1,
        stack: 'other',
        state: 'exited',
        exitCode: 1,
      }),
      foreignContainer('h3', 'app-web-3'),
      foreignContainer('h3', 'postgres', { [LABEL.service]: 'web', [LABEL.slot]: '1' }),
    ]);

    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual([
      '1 create h1 web/1 app-web-1',
      '1 create h2 web/2 app-web-2',
      // The name is held by a container heal does not own: the new one takes a suffix.
      `1 create h3 web/3 app-web-3-${T0.toString(36)}`,
    ]);
  });
});

describe('plan: placement', () => {
  it('pins slots to the host a node.hostname constraint names', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    deploy:
      replicas: 2
      placement: { constraints: [node.hostname == h2] }
`);
    expect(changes(plan(stack, emptyWorld(stack), { now: T0 }))).toEqual([
      '1 create h2 web/1 app-web-1',
      '1 create h2 web/2 app-web-2',
    ]);
  });

  it('honours node.labels constraints with == and !=', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    deploy:
      replicas: 3
      placement: { constraints: [node.labels.zone == a, node.labels.disk != ssd] }
`);
    expect(changes(plan(stack, emptyWorld(stack), { now: T0 }))).toEqual([
      '1 create h2 web/1 app-web-1',
      '1 create h2 web/2 app-web-2',
      '1 create h2 web/3 app-web-3',
    ]);
  });

  it('reports a slot no host can take, with the constraint it fails', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    deploy:
      replicas: 1
      placement: { constraints: [node.labels.zone == c] }
`);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(result.actions).toEqual([]);
    expect(result.unplaced).toEqual([
      { service: 'web', slot: 1, reason: 'no eligible host: 3 hosts do not match node.labels.zone == c' },
    ]);
  });

  it('runs one replica per host of a published port and reports the 4th as unplaced', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    ports: [{ target: 80, published: 8080, mode: host }]
    deploy: { replicas: 4 }
`);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(changes(result)).toEqual([
      '1 create h1 web/1 app-web-1',
      '1 create h2 web/2 app-web-2',
      '1 create h3 web/3 app-web-3',
    ]);
    expect(result.unplaced).toEqual([
      { service: 'web', slot: 4, reason: 'no eligible host: 3 hosts already publish port 8080' },
    ]);
    expect(result.summary.web).toEqual({
      desired: 4,
      create: 3,
      replace: 0,
      remove: 0,
      start: 0,
      unchanged: 0,
    });
  });

  it('keeps two services off one host port', async () => {
    const stack = await stackOf(`
services:
  a:
    image: nginx:1
    ports: [{ target: 80, published: 80, mode: host }]
    deploy: { replicas: 2 }
  b:
    image: nginx:1
    ports: [{ target: 8080, published: 80, mode: host }]
    deploy: { replicas: 2 }
`);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(changes(result)).toEqual([
      '1 create h1 a/1 app-a-1',
      '1 create h2 a/2 app-a-2',
      '1 create h3 b/1 app-b-1',
    ]);
    expect(result.unplaced).toEqual([
      { service: 'b', slot: 2, reason: 'no eligible host: 3 hosts already publish port 80' },
    ]);
  });

  it('keeps off a host port that a container heal does not own publishes', async () => {
    const stack = await stackOf(WEB_ON_PORT_80);
    const held = withHost(withHost(emptyWorld(stack), 'h1', { foreignPorts: ['0.0.0.0:80/tcp'] }), 'h2', {
      foreignPorts: ['10.0.0.2:80/tcp'],
    });
    const result = plan(stack, held, { now: T0 });
    expect(changes(result)).toEqual(['1 create h3 web/1 app-web-1']);
    expect(result.unplaced).toEqual([
      { service: 'web', slot: 2, reason: 'no eligible host: 3 hosts already publish port 80' },
    ]);
    const other = withHost(emptyWorld(stack), 'h1', { foreignPorts: ['0.0.0.0:8080/tcp'] });
    expect(changes(plan(stack, other, { now: T0 }))).toEqual([
      '1 create h1 web/1 app-web-1',
      '1 create h2 web/2 app-web-2',
    ]);
  });

  it('moves a slot off a host it shares a published port with', async () => {
    const stack = await stackOf(WEB_ON_PORT_80);
    const world = withContainers(emptyWorld(stack), [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1 }),
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 2, state: 'created' }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual(['1 create h2 web/2 app-web-2', '2 remove h1 web/2 app-web-2']);
    expect(result.actions.find((action) => action.kind === 'create')?.reason).toBe(
      'slot 2 moves off h1: it no longer fits the placement',
    );
  });

  it('honours max_replicas_per_node, and reports what it leaves out', async () => {
    const two = await stackOf(`
services:
  web:
    image: nginx:1
    deploy:
      replicas: 5
      placement: { max_replicas_per_node: 2 }
`);
    expect(changes(plan(two, emptyWorld(two), { now: T0 }))).toEqual([
      '1 create h1 web/1 app-web-1',
      '1 create h2 web/2 app-web-2',
      '1 create h3 web/3 app-web-3',
      '1 create h1 web/4 app-web-4',
      '1 create h2 web/5 app-web-5',
    ]);

    const one = await stackOf(`
services:
  web:
    image: nginx:1
    deploy:
      replicas: 4
      placement: { max_replicas_per_node: 1 }
`);
    const result = plan(one, emptyWorld(one), { now: T0 });
    expect(changes(result)).toHaveLength(3);
    expect(result.unplaced).toEqual([
      { service: 'web', slot: 4, reason: 'no eligible host: 3 hosts already run max_replicas_per_node (1)' },
    ]);
  });

  it('moves the slots over max_replicas_per_node off a host, keeping the lower ones in place', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    deploy:
      replicas: 3
      placement: { max_replicas_per_node: 1 }
`);
    const world = withContainers(emptyWorld(stack), [
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 1 }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2 }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 3 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual([
      '1 create h1 web/2 app-web-2',
      '1 create h3 web/3 app-web-3',
      '2 remove h2 web/2 app-web-2',
      '2 remove h2 web/3 app-web-3',
    ]);
    expect(plan(stack, applyPlan(world, result, T0), { now: T1 }).actions).toEqual([]);
  });
});

describe('plan: replicas that no longer fit where they run', () => {
  it('counts the replicas that fit before one that must move picks a host', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    deploy:
      replicas: 2
      placement: { constraints: [node.labels.zone == b], max_replicas_per_node: 1 }
`);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 2 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    // Slot 1 has nowhere to go (h3 holds slot 2): it keeps running where it is, and the plan says so.
    expect(changes(result)).toEqual([]);
    expect(result.warnings).toEqual([
      'slot 1 of web should move off h1 but no eligible host: 1 host does not match node.labels.zone == b; 1 host already runs max_replicas_per_node (1)',
    ]);
  });

  it('gives a host port to the replica that runs with it, not to a stopped one', async () => {
    const stack = await stackOf(`
services:
  api:
    image: nginx:1
    ports: [{ target: 80, published: 80, mode: host }]
    deploy: { replicas: 1 }
  web:
    image: nginx:1
    ports: [{ target: 8080, published: 80, mode: host }]
    deploy: { replicas: 1 }
`);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'api', slot: 1, state: 'exited', exitCode: 1 }),
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual(['0 create h2 api/1 app-api-1', '1 remove h1 api/1 app-api-1']);
    expect(plan(stack, applyPlan(world, result, T0), { now: T1 }).actions).toEqual([]);
  });

  it('removes a stopped replica that can run nowhere, and reports its slot', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    ports: [{ target: 80, published: 80, mode: host }]
    deploy: { replicas: 2, placement: { constraints: [node.labels.zone == a] } }
`);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1 }),
      ownedContainer(stack, {
        host: 'h2',
        service: 'web',
        slot: 2,
        state: 'exited',
        exitCode: 1,
        id: 'late',
      }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 3, name: 'app-web-3' }),
    ]);
    const result = plan(
      await stackOf(`
services:
  web:
    image: nginx:1
    ports: [{ target: 80, published: 80, mode: host }]
    deploy: { replicas: 3, placement: { constraints: [node.labels.zone == a] } }
`),
      world,
      { now: T0 },
    );
    expect(changes(result)).toEqual(['0 remove h2 web/2 app-web-2']);
    expect(result.actions[0]!.reason).toBe(
      'slot 2 cannot run on h2: no eligible host: 1 host does not match node.labels.zone == a; 1 host already publishes port 80',
    );
    expect(result.unplaced).toEqual([
      {
        service: 'web',
        slot: 2,
        reason:
          'no eligible host: 1 host does not match node.labels.zone == a; 1 host already publishes port 80',
      },
    ]);
  });

  it('removes a slot 0 left by a service that was global', async () => {
    const stack = await stackOf(`
services:
  agent:
    image: agent:1
    deploy: { replicas: 1 }
`);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'agent', slot: 0 }),
      ownedContainer(stack, { host: 'h2', service: 'agent', slot: 0 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual([
      '0 create h1 agent/1 app-agent-1',
      '1 remove h1 agent/0 app-agent-h1',
      '1 remove h2 agent/0 app-agent-h2',
    ]);
    expect(result.actions[1]!.reason).toBe('agent is replicated now: slot 0 was its global replica here');
  });
});

describe('plan: hosts that do not answer', () => {
  it('places the slots of an unreachable host elsewhere, and says so', async () => {
    const stack = await stackOf(WEB3);
    const world = withHost(deployed(stack), 'h3', {
      reachable: false,
      error: 'connect ETIMEDOUT',
      containers: [],
      totalContainers: null,
    });

    const result = plan(stack, world, { now: T1 });
    expect(changes(result)).toEqual(['0 create h1 web/3 app-web-3']);
    expect(result.warnings).toEqual([
      'h3 is unreachable (connect ETIMEDOUT): its replicas are placed elsewhere, and any that still run there are removed once it answers',
    ]);
  });

  it('spreads the replicas of a lost host over every host left, so they are created in parallel', async () => {
    const stack = await stackOf('services:\n  web: { image: nginx:1, deploy: { replicas: 4 } }\n');
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 1 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 2 }),
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 3 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 4 }),
    ]);
    // h1 runs more of other people's containers: still, each host left takes its share of the new ones.
    const lost = withHost(withHost(world, 'h3', { reachable: false, containers: [] }), 'h1', {
      totalContainers: 12,
    });
    expect(changes(plan(stack, lost, { now: T1 }))).toEqual([
      '0 create h2 web/1 app-web-1',
      '0 create h1 web/2 app-web-2',
      '0 create h2 web/4 app-web-4',
    ]);
  });

  it('places nothing while a host is only suspect, and says what it waits for', async () => {
    const stack = await stackOf(WEB3);
    const world = withHost(deployed(stack), 'h3', {
      reachable: false,
      error: 'connect ETIMEDOUT',
      containers: [],
      totalContainers: null,
    });

    const result = plan(stack, world, { now: T1, suspect: ['h3'] });
    expect(result.actions).toEqual([]);
    expect(result.unplaced).toEqual([]);
    expect(result.warnings).toEqual([
      'h3 is not answering (connect ETIMEDOUT): its replicas stay until it is declared down',
      '1 slot(s) not seen: waiting for h3 to answer or be declared down',
    ]);
  });

  it('removes the older replica of a slot when a host comes back', async () => {
    const stack = await stackOf(WEB3);
    const world = deployed(stack);
    const old = world.hosts.find((host) => host.name === 'h3')!;
    const away = withHost(world, 'h3', {
      reachable: false,
      error: 'gone',
      containers: [],
      totalContainers: null,
    });
    const moved = applyPlan(away, plan(stack, away, { now: T1 }), T1);
    const back = withHost(moved, 'h3', old);

    const result = plan(stack, back, { now: T2 });
    expect(brief(result)).toEqual(['0 remove h3 web/3 app-web-3', '1 remove-network h3 app_default']);
    expect(result.actions[0]).toMatchObject({
      reason: 'slot 3 also runs as app-web-3 on h1',
      container: { id: 'sim-1700000000000-3', host: 'h3' },
    });
    expect(plan(stack, applyPlan(back, result, T2), { now: T2 + 1 }).actions).toEqual([]);
  });

  it('keeps the newer generation of a slot seen twice, wherever each runs', async () => {
    const stack = await stackOf(WEB3);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, generation: 2000, id: 'new' }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 1, generation: 1000, id: 'old' }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 3 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual(['0 remove h2 web/1 app-web-1']);
    expect(result.actions[0]).toMatchObject({ container: { id: 'old' } });
  });
});

describe('plan: an interrupted rollout', () => {
  it('keeps the old replica that serves over a new one never started, and replaces it in a batch', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:2
    deploy: { replicas: 1 }
`);
    const world = settled(stack, [
      ownedContainer(stack, {
        host: 'h1',
        service: 'web',
        slot: 1,
        configHash: 'v1:old',
        health: 'healthy',
        generation: 1,
      }),
      ownedContainer(stack, {
        host: 'h1',
        service: 'web',
        slot: 1,
        state: 'created',
        generation: 2,
        name: 'app-web-1-new',
      }),
    ]);
    expect(changes(plan(stack, world, { now: T0 }))).toEqual([
      '0 replace h1 web/1 app-web-1 -> app-web-1 stop-first',
      '1 remove h1 web/1 app-web-1-new',
    ]);
  });
});

describe('plan: healing', () => {
  const POLICY = (condition: string) => `
services:
  web:
    image: nginx:1
    deploy: { replicas: 3, restart_policy: { condition: ${condition} } }
`;
  const exited = (stack: Stack): Observed =>
    settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, state: 'exited', exitCode: 0 }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2, state: 'exited', exitCode: 137 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 3 }),
    ]);

  it('starts every exited container under restart_policy any', async () => {
    const stack = await stackOf(POLICY('any'));
    const result = plan(stack, exited(stack), { now: T0 });
    expect(brief(result)).toEqual(['0 start h1 web/1 app-web-1', '0 start h2 web/2 app-web-2']);
    expect(result.actions.map((action) => action.reason)).toEqual([
      'exited with code 0; restart_policy any',
      'exited with code 137; restart_policy any',
    ]);
    expect(result.actions[0]).toMatchObject({
      container: { id: 'h1/app-web-1', name: 'app-web-1', host: 'h1' },
    });
  });

  it('starts only the failed one under on-failure', async () => {
    const stack = await stackOf(POLICY('on-failure'));
    expect(brief(plan(stack, exited(stack), { now: T0 }))).toEqual(['0 start h2 web/2 app-web-2']);
  });

  it('holds a restart back while the slot is in crash backoff, and says when it is due', async () => {
    const stack = await stackOf(POLICY('any'));
    const held = plan(stack, exited(stack), { now: T0, notBefore: { 'web.1': T0 + 4_000 } });
    expect(brief(held)).toEqual(['0 start h2 web/2 app-web-2']);
    expect(held.waitUntil).toBe(T0 + 4_000);
    const due = plan(stack, exited(stack), { now: T0 + 4_000, notBefore: { 'web.1': T0 + 4_000 } });
    expect(brief(due)).toEqual(['0 start h1 web/1 app-web-1', '0 start h2 web/2 app-web-2']);
    expect(due.waitUntil).toBeNull();
  });

  it('never restarts a slot past max_attempts, and warns', async () => {
    const stack = await stackOf(POLICY('any'));
    const result = plan(stack, exited(stack), { now: T0, notBefore: { 'web.2': Number.POSITIVE_INFINITY } });
    expect(brief(result)).toEqual(['0 start h1 web/1 app-web-1']);
    expect(result.waitUntil).toBeNull();
    expect(result.warnings).toContain(
      'web.2: restart_policy.max_attempts (0) reached: not restarted again until the spec changes',
    );
  });

  it('waits restart_policy.delay after the container exited', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    deploy: { replicas: 1, restart_policy: { condition: any, delay: 3s } }
`);
    const crashed = settled(stack, [
      ownedContainer(stack, {
        host: 'h1',
        service: 'web',
        slot: 1,
        state: 'exited',
        exitCode: 1,
        generation: T0,
      }),
    ]);
    const early = plan(stack, crashed, { now: T0 + 1_000 });
    expect(early.actions.filter((action) => action.kind === 'start')).toEqual([]);
    expect(early.waitUntil).toBe(T0 + 1 + 3_000);
    const due = plan(stack, crashed, { now: T0 + 3_001 });
    expect(due.actions.filter((action) => action.kind === 'start').map((action) => action.host)).toEqual([
      'h1',
    ]);
  });

  it('leaves exited containers alone under none', async () => {
    const stack = await stackOf(POLICY('none'));
    const result = plan(stack, exited(stack), { now: T0 });
    expect(brief(result)).toEqual([]);
    expect(result.summary.web).toEqual({
      desired: 3,
      create: 0,
      replace: 0,
      remove: 0,
      start: 0,
      unchanged: 3,
    });
  });

  it('replaces a container created and never started (an apply stopped before it copied its files), under any policy', async () => {
    for (const condition of ['any', 'none']) {
      const stack = await stackOf(POLICY(condition));
      const world = settled(stack, [
        ownedContainer(stack, { host: 'h1', service: 'web', slot: 1 }),
        ownedContainer(stack, { host: 'h2', service: 'web', slot: 2 }),
        ownedContainer(stack, { host: 'h3', service: 'web', slot: 3, state: 'created' }),
      ]);
      const result = plan(stack, world, { now: T0 });
      expect(brief(result)).toEqual(['0 replace h3 web/3 app-web-3 -> app-web-3 stop-first']);
      expect(result.actions[0]?.reason).toBe('created but never started (its files may be missing)');
    }
  });

  it('replaces a container whose start failed (exit 128) instead of starting it again', async () => {
    const stack = await stackOf(WEB3);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, state: 'exited', exitCode: 128 }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2, state: 'exited', exitCode: 1 }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 3 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual([
      '0 start h2 web/2 app-web-2',
      '1 replace h1 web/1 app-web-1 -> app-web-1 stop-first',
    ]);
    expect(result.actions.find((action) => action.kind === 'replace')?.reason).toBe(
      'its start failed (exit 128)',
    );
  });

  it('replaces an unhealthy or dead container in place', async () => {
    const stack = await stackOf(WEB3);
    const world = settled(stack, [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, health: 'unhealthy' }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2, state: 'dead' }),
      ownedContainer(stack, { host: 'h3', service: 'web', slot: 3, health: 'starting' }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual([
      '0 replace h1 web/1 app-web-1 -> app-web-1 stop-first',
      '1 replace h2 web/2 app-web-2 -> app-web-2 stop-first',
    ]);
    expect(result.actions.map((action) => action.reason)).toEqual([
      'the container is unhealthy',
      'the container is dead',
    ]);
  });
});

describe('plan: order', () => {
  it('creates services in depends_on order, one phase per level', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    depends_on: [api]
  api:
    image: nginx:1
    depends_on: { db: { condition: service_healthy } }
  db:
    image: postgres:16
  cache:
    image: redis:7
`);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(changes(result)).toEqual([
      '1 create h2 cache/1 app-cache-1',
      '1 create h3 db/1 app-db-1',
      '2 create h1 api/1 app-api-1',
      '3 create h1 web/1 app-web-1',
    ]);
    expect(result.phases.map((phase) => phase.label)).toEqual(['prepare', 'create', 'create', 'create']);
  });

  it('turns start-first into stop-first for a service that publishes a port, and says why', async () => {
    const text = (version: string, ports: string) => `
services:
  web:
    image: nginx:${version}
    ${ports}
    deploy: { replicas: 1, update_config: { order: start-first } }
`;
    const published = await stackOf(text('1', 'ports: [{ target: 80, published: 80, mode: host }]'));
    const world = deployed(published);
    const result = plan(
      await stackOf(text('2', 'ports: [{ target: 80, published: 80, mode: host }]')),
      world,
      { now: T1 },
    );
    expect(brief(result)).toEqual([
      '0 pull h1 nginx:2',
      '1 replace h1 web/1 app-web-1 -> app-web-1 stop-first',
    ]);
    expect(result.actions[1]!.reason).toBe(
      'config changed: image (stop-first: start-first would bind its host port twice)',
    );

    const quiet = await stackOf(text('1', ''));
    const next = plan(await stackOf(text('2', '')), deployed(quiet), { now: T1 });
    expect(changes(next)).toEqual([
      `1 replace h1 web/1 app-web-1 -> app-web-1-${T1.toString(36)} start-first`,
    ]);
    expect(next.actions[1]!.reason).toBe('config changed: image');
  });

  it("start-first: the new container takes the slot's name (its container_name) once the old is gone", async () => {
    const text = (version: string, name: string) => `
services:
  web:
    image: nginx:${version}
    ${name}
    deploy: { replicas: 1, update_config: { order: start-first } }
`;
    for (const [name, expected] of [
      ['container_name: front', 'front'],
      ['', 'app-web-1'],
    ] as const) {
      const world = deployed(await stackOf(text('1', name)));
      const v2 = await stackOf(text('2', name));
      const result = plan(v2, world, { now: T1 });
      const replace = result.actions.find((action) => action.kind === 'replace');
      expect(replace).toMatchObject({
        old: { name: expected },
        create: { query: { name: `${expected}-${T1.toString(36)}` } },
        rename: expected,
      });
      const after = applyPlan(world, result, T1);
      expect(after.hosts.flatMap((host) => host.containers.map((container) => container.name))).toEqual([
        expected,
      ]);
      // The next rollout, with the name free again, needs no rename.
      const again = plan(await stackOf(text('3', name)), after, { now: T2 });
      expect(again.actions.find((action) => action.kind === 'replace')).toMatchObject({
        create: { query: { name: `${expected}-${T2.toString(36)}` } },
        rename: expected,
      });
    }
  });

  it('stop-first frees the name first: nothing to rename', async () => {
    const text = (version: string) => `
services:
  web:
    image: nginx:${version}
    container_name: front
`;
    const result = plan(await stackOf(text('2')), deployed(await stackOf(text('1'))), { now: T1 });
    expect(result.actions.find((action) => action.kind === 'replace')).toMatchObject({
      create: { query: { name: 'front' } },
      rename: null,
    });
  });

  it('puts every batch of replacements before the removals and the clean-up', async () => {
    const before = await stackOf(`
services:
  web:
    image: nginx:1
    deploy: { replicas: 2, update_config: { parallelism: 1, delay: 5s } }
  old:
    image: nginx:1
    networks: [back]
networks:
  back: {}
`);
    const after = await stackOf(`
services:
  web:
    image: nginx:2
    deploy: { replicas: 2, update_config: { parallelism: 1, delay: 5s } }
networks:
  back: {}
`);
    const result = plan(after, deployed(before), { now: T1 });
    expect(brief(result)).toEqual([
      '0 pull h2 nginx:2',
      '0 pull h3 nginx:2',
      '1 replace h2 web/1 app-web-1 -> app-web-1 stop-first',
      '2 replace h3 web/2 app-web-2 -> app-web-2 stop-first',
      '3 remove h1 old/1 app-old-1',
      '4 remove-network h1 app_back',
    ]);
    expect(result.phases).toEqual([
      { index: 0, label: 'prepare', delayBefore: 0 },
      { index: 1, label: 'update batch 1 of 2', delayBefore: 0 },
      { index: 2, label: 'update batch 2 of 2', delayBefore: 5000 },
      { index: 3, label: 'remove', delayBefore: 0 },
      { index: 4, label: 'clean up', delayBefore: 0 },
    ]);
  });
});

describe('plan: global services', () => {
  it('runs one replica on each eligible host and removes the one on a host that no longer fits', async () => {
    const stack = await stackOf(`
services:
  agent:
    image: agent:1
    deploy:
      mode: global
      placement: { constraints: [node.labels.zone == a] }
`);
    const world = withContainers(emptyWorld(stack), [
      ownedContainer(stack, { host: 'h2', service: 'agent', slot: 0 }),
      ownedContainer(stack, { host: 'h3', service: 'agent', slot: 0 }),
    ]);
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual(['1 create h1 agent/0 app-agent-h1', '2 remove h3 agent/0 app-agent-h3']);
    expect(result.actions.find((action) => action.kind === 'remove')?.reason).toBe(
      'h3 does not match the placement of agent',
    );
    expect(result.summary.agent).toEqual({
      desired: 2,
      create: 1,
      replace: 0,
      remove: 1,
      start: 0,
      unchanged: 1,
    });
    expect(plan(stack, applyPlan(world, result, T0), { now: T1 }).actions).toEqual([]);
  });
});

describe('plan: global services and host ports', () => {
  it('runs a second global service of the same host port nowhere, and reports each host', async () => {
    const stack = await stackOf(`
services:
  agent:
    image: agent:1
    ports: [{ target: 9100, published: 9100, mode: host }]
    deploy: { mode: global }
  exporter:
    image: exporter:1
    ports: [{ target: 9100, published: 9100, mode: host }]
    deploy: { mode: global, placement: { constraints: [node.labels.zone == a] } }
`);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(changes(result)).toEqual([
      '1 create h1 agent/0 app-agent-h1',
      '1 create h2 agent/0 app-agent-h2',
      '1 create h3 agent/0 app-agent-h3',
    ]);
    expect(result.unplaced).toEqual([
      { service: 'exporter', slot: 0, reason: 'h1 already publishes port 9100' },
      { service: 'exporter', slot: 0, reason: 'h2 already publishes port 9100' },
    ]);
  });
});

describe('plan: the empty-stack guard', () => {
  it('refuses a plan that would remove every container of the stack, unless allowEmpty', async () => {
    const stack = await stackOf(WEB3);
    const world = deployed(stack);
    const empty = await stackOf('services: {}\n');

    const refused = plan(empty, world, { now: T1 });
    expect(refused).toEqual({
      stack: 'app',
      actions: [],
      phases: [],
      summary: {},
      unplaced: [],
      warnings: [],
      refused:
        'this plan would remove all 3 containers of stack app; is the spec the right one? Pass --allow-empty to do it anyway',
      waitUntil: null,
      rollouts: [],
      held: [],
    });

    const allowed = plan(empty, world, { now: T1, allowEmpty: true });
    expect(allowed.refused).toBeNull();
    expect(brief(allowed)).toEqual([
      '0 remove h1 web/1 app-web-1',
      '0 remove h2 web/2 app-web-2',
      '0 remove h3 web/3 app-web-3',
      '1 remove-network h1 app_default',
      '1 remove-network h2 app_default',
      '1 remove-network h3 app_default',
    ]);
  });

  it('counts only the stack’s own containers, and lets a plan that keeps one through', async () => {
    const stack = await stackOf(WEB3);
    const zero = await stackOf(`
services:
  web:
    image: nginx:1
    deploy: { replicas: 0 }
`);
    const world = withContainers(deployed(stack), [
      foreignContainer('h1', 'postgres'),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 1, stack: 'other', name: 'other-web-1' }),
    ]);
    expect(plan(zero, world, { now: T1 }).refused).toBe(
      'this plan would remove all 3 containers of stack app; is the spec the right one? Pass --allow-empty to do it anyway',
    );
    const one = await stackOf(`
services:
  web:
    image: nginx:1
    deploy: { replicas: 1 }
`);
    expect(changes(plan(one, world, { now: T1 }))).toEqual([
      '0 remove h2 web/2 app-web-2',
      '0 remove h3 web/3 app-web-3',
    ]);
  });

  it('plans nothing, and refuses nothing, for an empty spec on empty hosts', async () => {
    const empty = await stackOf('services: {}\n');
    expect(plan(empty, emptyWorld(empty), { now: T0 })).toMatchObject({ actions: [], refused: null });
  });
});

describe('plan: networks, volumes and images', () => {
  const DATA = `
services:
  db:
    image: postgres:16
    volumes: ["data:/var/lib/postgresql/data"]
    networks: [back]
    deploy: { replicas: 1 }
networks:
  back: { driver: bridge, labels: { team: core } }
volumes:
  data: { labels: { backup: daily } }
`;

  it('creates the networks and named volumes a host needs, and only there', async () => {
    const stack = await stackOf(DATA);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(brief(result)).toEqual([
      '0 create-network h1 app_back',
      '0 create-volume h1 app_data',
      '0 pull h1 postgres:16',
      '1 create h1 db/1 app-db-1',
    ]);
    expect(result.actions[0]).toEqual({
      kind: 'create-network',
      phase: 0,
      host: 'h1',
      service: null,
      slot: null,
      network: 'app_back',
      config: {
        Name: 'app_back',
        Driver: 'bridge',
        Labels: {
          team: 'core',
          [LABEL.stack]: 'app',
          'com.docker.compose.project': 'app',
          'com.docker.compose.network': 'back',
        },
        CheckDuplicate: true,
      },
      reason: 'needed by db',
    });
    expect(result.actions[1]).toMatchObject({
      kind: 'create-volume',
      volume: 'app_data',
      config: { Name: 'app_data', Labels: { backup: 'daily', [LABEL.stack]: 'app' } },
      reason: 'mounted by db',
    });
  });

  it('removes a network no container uses, and a volume only with pruneVolumes', async () => {
    const stack = await stackOf(DATA);
    const world = withHost(
      withHost(deployed(stack), 'h2', { networks: ['app_old'], volumes: ['app_cache'] }),
      'h1',
      {
        volumes: ['app_data', 'app_scratch'],
      },
    );
    expect(brief(plan(stack, world, { now: T1 }))).toEqual(['0 remove-network h2 app_old']);
    expect(brief(plan(stack, world, { now: T1, pruneVolumes: true }))).toEqual([
      '0 remove-network h2 app_old',
      '0 remove-volume h1 app_scratch',
      '0 remove-volume h2 app_cache',
    ]);
  });

  it('leaves external networks and volumes to their owner', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    networks: [proxy]
    volumes: ["certs:/certs"]
    deploy: { replicas: 1 }
networks:
  proxy: { external: true, name: traefik }
volumes:
  certs: { external: true }
`);
    expect(brief(plan(stack, emptyWorld(stack), { now: T0 }))).toEqual([
      '0 pull h1 nginx:1',
      '1 create h1 web/1 app-web-1',
    ]);
  });

  it('pulls each image once per host, honouring pull_policy and the images a host has', async () => {
    const stack = await stackOf(`
services:
  a:
    image: nginx:1
    deploy: { replicas: 3 }
  b:
    image: nginx:1
    deploy: { replicas: 3 }
  c:
    image: redis
    deploy: { replicas: 2 }
  d:
    image: registry.example.com/tool:2
    pull_policy: always
    deploy: { replicas: 2 }
  e:
    image: private/never:3
    pull_policy: never
    deploy: { replicas: 1 }
`);
    // a on h1 h2 h3, b on h1 h2 h3, c on h1 h2, d on h3 h1, e on h2.
    const world = withHost(emptyWorld(stack), 'h1', {
      images: ['nginx:1', 'redis:latest', 'registry.example.com/tool:2'],
    });
    const result = plan(stack, world, { now: T0 });
    expect(brief(result).filter((line) => line.includes(' pull '))).toEqual([
      '0 pull h1 registry.example.com/tool:2',
      '0 pull h2 nginx:1',
      '0 pull h2 redis',
      '0 pull h3 nginx:1',
      '0 pull h3 registry.example.com/tool:2',
    ]);
    expect(result.actions.find((action) => action.kind === 'pull' && action.host === 'h2')?.reason).toBe(
      'nginx:1 is not on h2',
    );
    expect(
      result.actions.find((action) => action.kind === 'pull' && action.image.startsWith('registry'))?.reason,
    ).toBe('pull_policy: always');
  });
});

describe('plan: determinism', () => {
  it('gives the same plan, byte for byte, for the same input', async () => {
    const stack = await stackOf(`
services:
  web:
    image: nginx:1
    ports: [{ target: 80, published: 80, mode: host }]
    deploy: { replicas: 4 }
  api:
    image: nginx:1
    deploy: { replicas: 5, placement: { max_replicas_per_node: 2 } }
`);
    const world = withContainers(emptyWorld(stack, ['h3']), [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 2, configHash: 'v1:old' }),
      ownedContainer(stack, { host: 'h2', service: 'api', slot: 9 }),
    ]);
    const options: PlanOptions = { now: T0, revision: 'r1' };
    expect(JSON.stringify(plan(stack, world, options))).toBe(JSON.stringify(plan(stack, world, options)));
  });
});
