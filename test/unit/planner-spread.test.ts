import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/planner/plan.js';
import type { Plan } from '../../src/planner/plan-types.js';
import type { Stack } from '../../src/spec/types.js';
import { changes, fleetStack, perHost, T0, T1 } from './plan-helpers.js';
import { applyPlan, emptyWorld, ownedContainer, withContainers, withHost } from './simulate.js';

/*
 * placement.preferences (spread) and engine.labels constraints: examples, then the spread's
 * invariants over random fleets.
 */

/** `hosts`: name → labels (`zone: a, rack: r1`, or '' for none). */
async function fleet(hosts: Readonly<Record<string, string>>, services: string): Promise<Stack> {
  return fleetStack(
    Object.entries(hosts).map(
      ([name, labels], index) => `${name}: { ssh: 10.0.0.${index + 11}, labels: { ${labels} } }`,
    ),
    services,
  );
}

function creates(result: Plan): string[] {
  return result.actions
    .filter((action) => action.kind === 'create')
    .map((action) => `${action.host} ${action.slot}: ${action.reason}`);
}

const ZONES = { h1: 'zone: a', h2: 'zone: a', h3: 'zone: a', h4: 'zone: b' };

describe('placement.preferences: spread', () => {
  it("spreads over the label's values first, then over the hosts within each, and says so in the plan", async () => {
    const stack = await fleet(
      ZONES,
      '  web:\n    image: nginx:1\n    deploy: { replicas: 4, placement: { preferences: [{ spread: node.labels.zone }] } }\n',
    );
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    // Without the preference, each host would take one; zone b's one host takes half instead.
    expect(perHost(applyPlan(emptyWorld(stack), result, T0), 'web')).toEqual({ h1: 1, h2: 1, h4: 2 });
    expect(creates(result)).toEqual([
      'h1 1: slot 1 of 4 is missing; spread over zone (a 0, b 0): a',
      'h4 2: slot 2 of 4 is missing; spread over zone (a 1, b 0): b',
      'h2 3: slot 3 of 4 is missing; spread over zone (a 1, b 1): a',
      'h4 4: slot 4 of 4 is missing; spread over zone (a 2, b 1): b',
    ]);
  });

  it('gives the hosts without the label a group of their own', async () => {
    const stack = await fleet(
      { h1: 'zone: a', h2: 'zone: a', h3: 'zone: b', h4: '' },
      '  web:\n    image: nginx:1\n    deploy: { replicas: 3, placement: { preferences: [{ spread: node.labels.zone }] } }\n',
    );
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(perHost(applyPlan(emptyWorld(stack), result, T0), 'web')).toEqual({ h1: 1, h3: 1, h4: 1 });
    expect(creates(result)[2]).toBe(
      'h4 3: slot 3 of 3 is missing; spread over zone (a 1, b 1, no zone 0): no zone',
    );
  });

  it('applies several preferences as a tree, in order', async () => {
    const stack = await fleet(
      {
        h1: 'zone: a, rack: r1',
        h2: 'zone: a, rack: r1',
        h3: 'zone: a, rack: r2',
        h4: 'zone: b, rack: r1',
        h5: 'zone: b, rack: r1',
      },
      '  web:\n    image: nginx:1\n    deploy:\n      replicas: 8\n      placement: { preferences: [{ spread: node.labels.zone }, { spread: node.labels.rack }] }\n',
    );
    const world = applyPlan(emptyWorld(stack), plan(stack, emptyWorld(stack), { now: T0 }), T0);
    // zone a 4 (rack r1 2 over h1 and h2, rack r2 2 on h3), zone b 4 (one rack, two hosts).
    expect(perHost(world, 'web')).toEqual({ h1: 1, h2: 1, h3: 2, h4: 2, h5: 2 });
  });

  it('counts the replicas that already run, and moves none of them', async () => {
    const stack = await fleet(
      ZONES,
      '  web:\n    image: nginx:1\n    deploy: { replicas: 4, placement: { preferences: [{ spread: node.labels.zone }] } }\n',
    );
    const world = withContainers(emptyWorld(stack), [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1 }),
      ownedContainer(stack, { host: 'h2', service: 'web', slot: 2 }),
    ]);
    expect(changes(plan(stack, world, { now: T1 }))).toEqual([
      '1 create h4 web/3 app-web-3',
      '1 create h4 web/4 app-web-4',
    ]);
  });

  it('passes over a value whose hosts are full (max_replicas_per_node), and keeps the constraints', async () => {
    const stack = await fleet(
      { ...ZONES, h5: 'zone: c' },
      [
        '  web:',
        '    image: nginx:1',
        '    deploy:',
        '      replicas: 5',
        '      placement:',
        '        constraints: [node.labels.zone != c]',
        '        max_replicas_per_node: 1',
        '        preferences: [{ spread: node.labels.zone }]',
        '',
      ].join('\n'),
    );
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(perHost(applyPlan(emptyWorld(stack), result, T0), 'web')).toEqual({ h1: 1, h2: 1, h3: 1, h4: 1 });
    expect(result.unplaced).toEqual([
      {
        service: 'web',
        slot: 5,
        reason:
          'no eligible host: 1 host does not match node.labels.zone != c; 4 hosts already run max_replicas_per_node (1)',
      },
    ]);
  });

  it('spreads over engine labels, read from the engine, not from the spec', async () => {
    const stack = await fleet(
      ZONES,
      '  web:\n    image: nginx:1\n    deploy: { replicas: 2, placement: { preferences: [{ spread: engine.labels.rack }] } }\n',
    );
    let world = emptyWorld(stack);
    for (const [name, rack] of [
      ['h1', 'r1'],
      ['h2', 'r1'],
      ['h3', 'r1'],
      ['h4', 'r2'],
    ] as const)
      world = withHost(world, name, { engine: { ...world.hosts[0]!.engine!, labels: { rack } } });
    expect(perHost(applyPlan(world, plan(stack, world, { now: T0 }), T0), 'web')).toEqual({ h1: 1, h4: 1 });
  });

  it('refuses a spread over anything but a label', async () => {
    await expect(
      fleet(
        ZONES,
        '  web:\n    image: nginx:1\n    deploy: { placement: { preferences: [{ spread: node.hostname }] } }\n',
      ),
    ).rejects.toThrow(
      'services.web.deploy.placement.preferences[0].spread: "node.hostname" is not a label to spread over: use node.labels.<KEY> or engine.labels.<KEY>',
    );
  });
});

describe('engine.labels constraints', () => {
  it("match the engine's own labels, not the spec's host labels", async () => {
    const stack = await fleet(
      { h1: 'ssd: "true"', h2: '', h3: '' },
      '  web:\n    image: nginx:1\n    deploy: { replicas: 2, placement: { constraints: [engine.labels.ssd == true] } }\n',
    );
    const empty = emptyWorld(stack);
    // h1 says ssd in the spec (node.labels), but only h2's engine carries the label.
    const world = withHost(empty, 'h2', { engine: { ...empty.hosts[1]!.engine!, labels: { ssd: 'true' } } });
    const result = plan(stack, world, { now: T0 });
    expect(changes(result)).toEqual(['1 create h2 web/1 app-web-1', '1 create h2 web/2 app-web-2']);
    // Without it, no host matches, and the plan says which key did not match.
    expect(plan(stack, empty, { now: T0 }).unplaced[0]?.reason).toBe(
      'no eligible host: 3 hosts do not match engine.labels.ssd == true',
    );
  });

  it('keep node.labels matching the spec', async () => {
    const stack = await fleet(
      { h1: 'ssd: "true"', h2: '', h3: '' },
      '  web:\n    image: nginx:1\n    deploy: { replicas: 1, placement: { constraints: [node.labels.ssd == true] } }\n',
    );
    expect(changes(plan(stack, emptyWorld(stack), { now: T0 }))).toEqual(['1 create h1 web/1 app-web-1']);
  });
});

/* The spread's invariants over random fleets, services and replicas already running. */

const VALUES = ['a', 'b', 'c', null] as const;
type Value = (typeof VALUES)[number];

type Case = {
  readonly hosts: readonly {
    readonly zone: Value;
    readonly rack: 'r1' | 'r2' | null;
    readonly up: boolean;
  }[];
  readonly replicas: number;
  readonly maxPerNode: number | null;
  readonly port: boolean;
  readonly notC: boolean;
  readonly byRack: boolean;
  /** Slots already running, on host index. */
  readonly running: readonly { readonly slot: number; readonly host: number }[];
};

const caseGen: fc.Arbitrary<Case> = fc.record({
  hosts: fc.array(
    fc.record({
      zone: fc.constantFrom(...VALUES),
      rack: fc.constantFrom('r1' as const, 'r2' as const, null),
      up: fc.integer({ min: 0, max: 4 }).map((value) => value > 0),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  replicas: fc.integer({ min: 0, max: 12 }),
  maxPerNode: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  port: fc.integer({ min: 0, max: 4 }).map((value) => value === 0),
  notC: fc.boolean(),
  byRack: fc.boolean(),
  running: fc.array(
    fc.record({ slot: fc.integer({ min: 1, max: 12 }), host: fc.integer({ min: 0, max: 5 }) }),
    {
      maxLength: 6,
    },
  ),
});

const loaded = new Map<string, Promise<Stack>>();

function caseStack(item: Case): Promise<Stack> {
  const hosts = Object.fromEntries(
    item.hosts.map((host, index) => [
      `h${index + 1}`,
      [host.zone === null ? '' : `zone: ${host.zone}`, host.rack === null ? '' : `rack: ${host.rack}`]
        .filter(Boolean)
        .join(', '),
    ]),
  );
  const service = [
    '  web:',
    '    image: nginx:1',
    ...(item.port ? ['    ports: [{ target: 80, published: 80, mode: host }]'] : []),
    '    deploy:',
    `      replicas: ${item.replicas}`,
    '      placement:',
    `        constraints: [${item.notC ? 'node.labels.zone != c' : ''}]`,
    ...(item.maxPerNode === null ? [] : [`        max_replicas_per_node: ${item.maxPerNode}`]),
    `        preferences: [{ spread: node.labels.zone }${item.byRack ? ', { spread: node.labels.rack }' : ''}]`,
    '',
  ].join('\n');
  const key = JSON.stringify([hosts, service]);
  const known = loaded.get(key);
  if (known) return known;
  const made = fleet(hosts, service);
  loaded.set(key, made);
  return made;
}

describe('spread properties', () => {
  it('never breaks a constraint or max_replicas_per_node; a value that got a new replica runs at most one more than any value with room', async () => {
    await fc.assert(
      fc.asyncProperty(caseGen, async (item) => {
        const stack = await caseStack(item);
        const down = item.hosts.flatMap((host, index) => (host.up ? [] : [`h${index + 1}`]));
        const seen = new Set<number>();
        const running = item.running.filter(
          ({ slot, host }) =>
            slot <= item.replicas &&
            host < item.hosts.length &&
            item.hosts[host]!.up &&
            !seen.has(slot) &&
            seen.add(slot) !== undefined,
        );
        const world = withContainers(
          emptyWorld(stack, down),
          running.map(({ slot, host }) =>
            ownedContainer(stack, { host: `h${host + 1}`, service: 'web', slot }),
          ),
        );
        const result = plan(stack, world, { now: T1 });
        const after = applyPlan(world, result, T1);
        const counts = perHost(after, 'web');
        const fits = (index: number): boolean => !(item.notC && item.hosts[index]!.zone === 'c');
        const capacity = Math.min(item.maxPerNode ?? Infinity, item.port ? 1 : Infinity);
        const created = result.actions.filter((action) => action.kind === 'create');
        for (const action of created) {
          const index = Number(action.host.slice(1)) - 1;
          expect(fits(index)).toBe(true);
        }
        // Replicas already running may break max_replicas_per_node (kept ones too many are moved):
        // a host that took a new one is within it.
        for (const action of created) expect(counts[action.host]!).toBeLessThanOrEqual(capacity);

        const members = item.hosts.flatMap((host, index) => (host.up && fits(index) ? [index] : []));
        const zones = [...new Set(members.map((index) => item.hosts[index]!.zone))];
        const sum = (zone: Value): number =>
          members
            .filter((index) => item.hosts[index]!.zone === zone)
            .reduce((total, index) => total + (counts[`h${index + 1}`] ?? 0), 0);
        const full = (zone: Value): boolean =>
          members
            .filter((index) => item.hosts[index]!.zone === zone)
            .every((index) => (counts[`h${index + 1}`] ?? 0) >= capacity);
        const receivers = new Set(
          created.map((action) => item.hosts[Number(action.host.slice(1)) - 1]!.zone),
        );
        for (const zone of receivers)
          for (const other of zones) if (!full(other)) expect(sum(zone)).toBeLessThanOrEqual(sum(other) + 1);
        // Every slot that could be placed was: what is unplaced found every host full.
        if (result.unplaced.length > 0) for (const zone of zones) expect(full(zone)).toBe(true);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('is even within one between values from an empty fleet when every value has room', async () => {
    await fc.assert(
      fc.asyncProperty(caseGen, async (item) => {
        const roomy = { ...item, maxPerNode: null, port: false, running: [] };
        const stack = await caseStack(roomy);
        const down = roomy.hosts.flatMap((host, index) => (host.up ? [] : [`h${index + 1}`]));
        const world = emptyWorld(stack, down);
        const counts = perHost(applyPlan(world, plan(stack, world, { now: T0 }), T0), 'web');
        const byZone = new Map<Value, number>();
        roomy.hosts.forEach((host, index) => {
          if (!host.up || (roomy.notC && host.zone === 'c')) return;
          byZone.set(host.zone, (byZone.get(host.zone) ?? 0) + (counts[`h${index + 1}`] ?? 0));
        });
        if (byZone.size === 0) return;
        expect(Math.max(...byZone.values()) - Math.min(...byZone.values())).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});
