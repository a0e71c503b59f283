import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../src/planner/labels.js';
import type { Observed, ObservedContainer } from '../../src/planner/observed.js';
import { plan, type PlanOptions } from '../../src/planner/plan.js';
import type { Plan } from '../../src/planner/plan-types.js';
import { keyedStack, keyVolumeName, needsStackKey } from '../../src/planner/stack-key.js';
import { loadStack } from '../../src/spec/load.js';
import type { Service, Stack } from '../../src/spec/types.js';
import {
  applyPlan,
  foreignContainer,
  observedHost,
  ownedContainer,
  ownedIds,
  planSteps,
  touchedIds,
} from './simulate.js';

/*
 * The planner's invariants over random small stacks and random worlds: hosts with labels, some
 * unreachable or suspect; this stack's containers in every state, dirty or clean, duplicated,
 * out of range or of services gone; containers of another stack or without labels; services with
 * secrets, and hosts holding the stack key, another key, a broken one or none.
 */

const folder = mkdtempSync(join(tmpdir(), 'heal-planner-props-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
writeFileSync(join(folder, 'secret.env'), 'TOKEN=t0p-secret\n');
writeFileSync(join(folder, 'token.txt'), 'another secret\n');

/** Two stack keys the hosts may hold, and the fresh one every plan is given. */
const KEYS = { k1: '1'.repeat(64), k2: '2'.repeat(64) } as const;
const FRESH = 'f'.repeat(64);

const SERVICE_NAMES = ['api', 'db', 'web'] as const;
const CONSTRAINTS = [
  'node.labels.zone == a',
  'node.labels.zone != a',
  'node.labels.disk == ssd',
  'node.hostname != h1',
] as const;

type HostGen = { readonly zone: 'a' | 'b'; readonly ssd: boolean };

type ServiceGen = {
  readonly global: boolean;
  readonly replicas: number;
  readonly image: string;
  readonly env: string;
  readonly constraints: readonly string[];
  /** `[ip:]port` published to container port 80. */
  readonly port: string | null;
  readonly maxPerNode: number | null;
  readonly parallelism: number;
  readonly order: 'stop-first' | 'start-first';
  readonly restart: 'any' | 'on-failure' | 'none';
  readonly network: 'front' | 'back' | null;
  readonly volume: boolean;
  readonly pullPolicy: 'always' | 'missing' | 'never' | null;
  readonly dependsOnPrevious: boolean;
  /** Secret material: an env_file, a file secret, or none. */
  readonly secret: 'env' | 'file' | 'none';
};

type SpecGen = { readonly hosts: readonly HostGen[]; readonly services: readonly ServiceGen[] };

const serviceGen: fc.Arbitrary<ServiceGen> = fc.record({
  global: fc.integer({ min: 0, max: 5 }).map((value) => value === 0),
  replicas: fc.integer({ min: 0, max: 8 }),
  image: fc.constantFrom('nginx:1', 'redis', 'registry.example.com/app:2'),
  env: fc.constantFrom('blue', 'green'),
  constraints: fc.subarray([...CONSTRAINTS], { maxLength: 2 }),
  port: fc.option(fc.constantFrom('80', '8080', '127.0.0.1:80'), { nil: null }),
  maxPerNode: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  parallelism: fc.integer({ min: 0, max: 3 }),
  order: fc.constantFrom('stop-first' as const, 'start-first' as const),
  restart: fc.constantFrom('any' as const, 'on-failure' as const, 'none' as const),
  network: fc.constantFrom('front' as const, 'back' as const, null),
  volume: fc.boolean(),
  pullPolicy: fc.constantFrom('always' as const, 'missing' as const, 'never' as const, null),
  dependsOnPrevious: fc.boolean(),
  secret: fc.constantFrom('env' as const, 'file' as const, 'none' as const, 'none' as const),
});

const specGen: fc.Arbitrary<SpecGen> = fc.record({
  hosts: fc.array(fc.record({ zone: fc.constantFrom('a' as const, 'b' as const), ssd: fc.boolean() }), {
    minLength: 3,
    maxLength: 5,
  }),
  services: fc.array(serviceGen, { minLength: 1, maxLength: 3 }),
});

function specText(spec: SpecGen): string {
  const lines = ['name: app', 'x-heal:', '  hosts:'];
  spec.hosts.forEach((host, index) =>
    lines.push(
      `    h${index + 1}: { ssh: 10.0.0.${index + 11}, labels: { zone: ${host.zone}${host.ssd ? ', disk: ssd' : ''} } }`,
    ),
  );
  lines.push('services:');
  spec.services.forEach((service, index) => {
    const name = SERVICE_NAMES[index]!;
    lines.push(`  ${name}:`, `    image: ${service.image}`, `    environment: { MODE: ${service.env} }`);
    // mode: host: these properties are about host ports, which a mesh service's replicas do not bind.
    if (service.port !== null) {
      const [ip, published] = service.port.includes(':') ? service.port.split(':') : [null, service.port];
      const hostIp = ip === null ? '' : `, host_ip: ${ip}`;
      lines.push(`    ports: [{ target: 80, published: ${published}${hostIp}, mode: host }]`);
    }
    if (service.network !== null) lines.push(`    networks: [${service.network}]`);
    if (service.volume) lines.push('    volumes: ["data:/data"]');
    if (service.pullPolicy !== null) lines.push(`    pull_policy: ${service.pullPolicy}`);
    if (service.dependsOnPrevious && index > 0) lines.push(`    depends_on: [${SERVICE_NAMES[index - 1]}]`);
    if (service.secret === 'env') lines.push('    env_file: secret.env');
    if (service.secret === 'file') lines.push('    secrets: [token]');
    lines.push(
      '    deploy:',
      service.global ? '      mode: global' : `      replicas: ${service.replicas}`,
      `      restart_policy: { condition: ${service.restart} }`,
      `      update_config: { parallelism: ${service.parallelism}, order: ${service.order} }`,
      '      placement:',
      `        constraints: [${service.constraints.join(', ')}]`,
    );
    if (service.maxPerNode !== null && !service.global)
      lines.push(`        max_replicas_per_node: ${service.maxPerNode}`);
  });
  lines.push(
    'networks: { front: {}, back: {} }',
    'volumes: { data: {} }',
    'secrets: { token: { file: token.txt } }',
    '',
  );
  return lines.join('\n');
}

const stacks = new Map<string, Promise<Stack>>();
let files = 0;

/** The stack of `spec`, loaded once per distinct text. */
function stackOf(spec: SpecGen): Promise<Stack> {
  const text = specText(spec);
  const known = stacks.get(text);
  if (known) return known;
  files += 1;
  const file = `stack-${files}.yml`;
  writeFileSync(join(folder, file), text);
  const loaded = loadStack({ file, environment: {}, cwd: folder });
  stacks.set(text, loaded);
  return loaded;
}

type ContainerGen = {
  readonly host: number;
  readonly service: 'api' | 'db' | 'web' | 'gone';
  readonly slot: number;
  readonly hash: 'current' | 'old' | 'none';
  readonly state: ObservedContainer['state'];
  readonly health: ObservedContainer['health'];
  readonly exitCode: number;
  readonly generation: number;
  /** `unslotted`: this stack's label but no slot (heal leaves it alone, with a warning). */
  readonly owner: 'this' | 'other' | 'unlabeled' | 'unslotted';
};

type WorldGen = {
  readonly reachable: readonly boolean[];
  readonly suspect: readonly boolean[];
  readonly containers: readonly ContainerGen[];
  readonly networks: readonly (readonly string[])[];
  readonly volumes: readonly (readonly string[])[];
  readonly images: readonly (readonly string[])[];
  /** The stack key volume on each host: one of KEYS, one whose label is not a key, or none. */
  readonly keys: readonly ('k1' | 'k2' | 'broken' | 'none')[];
  readonly allowEmpty: boolean;
  readonly pruneVolumes: boolean;
};

const perHost = <T>(item: fc.Arbitrary<T>): fc.Arbitrary<T[]> =>
  fc.array(item, { minLength: 5, maxLength: 5 });

const worldGen: fc.Arbitrary<WorldGen> = fc.record({
  // Mostly reachable: an unreachable host is one in four.
  reachable: perHost(fc.integer({ min: 0, max: 3 }).map((value) => value > 0)),
  suspect: perHost(fc.boolean()),
  containers: fc.array(
    fc.record({
      host: fc.integer({ min: 0, max: 4 }),
      service: fc.constantFrom('api' as const, 'db' as const, 'web' as const, 'gone' as const),
      slot: fc.integer({ min: 0, max: 10 }),
      hash: fc.constantFrom('current' as const, 'current' as const, 'old' as const, 'none' as const),
      state: fc.constantFrom<ObservedContainer['state'][]>(
        'running',
        'running',
        'running',
        'exited',
        'created',
        'dead',
        'paused',
        'restarting',
        'removing',
      ),
      health: fc.constantFrom<ObservedContainer['health'][]>('none', 'healthy', 'unhealthy', 'starting'),
      exitCode: fc.constantFrom(0, 1, 137),
      generation: fc.integer({ min: 1, max: 5 }).map((value) => value * 1000),
      owner: fc.constantFrom<ContainerGen['owner'][]>(
        'this',
        'this',
        'this',
        'this',
        'other',
        'unlabeled',
        'unslotted',
      ),
    }),
    { maxLength: 20 },
  ),
  networks: perHost(fc.subarray(['app_default', 'app_front', 'app_back', 'app_old'])),
  volumes: perHost(fc.subarray(['app_data', 'app_old'])),
  images: perHost(fc.subarray(['nginx:1', 'redis:latest', 'registry.example.com/app:2'])),
  keys: perHost(
    fc.constantFrom('k1' as const, 'k2' as const, 'broken' as const, 'none' as const, 'none' as const),
  ),
  allowEmpty: fc.boolean(),
  pruneVolumes: fc.boolean(),
});

/**
 * The bindings a container holds when it runs: its service's, when it was made from the spec
 * (`stack` keyed as the hosts' stack key hashes it).
 */
function containerBindings(stack: Stack, container: ObservedContainer): string[] {
  const service = container.service === null ? undefined : stack.services[container.service];
  if (container.labels[LABEL.stack] !== stack.name || !service) return [];
  if (container.configHash !== service.configHash) return [];
  return service.ports
    .filter((port) => port.published !== null)
    .map((port) => `${port.published}/${port.protocol}`);
}

/**
 * The world `recipe` describes for `stack`. It is one Docker could be in: names are unique per
 * host, and of the containers that would bind one host port only one runs (the others failed
 * to start, as the engine does when the port is taken).
 */
function worldOf(stack: Stack, recipe: WorldGen): { observed: Observed; options: Omit<PlanOptions, 'now'> } {
  const names = Object.keys(stack.heal.hosts);
  const containers = new Map<string, ObservedContainer[]>(names.map((name) => [name, []]));
  const stackKeys = names.map((_name, index) => {
    const kind = recipe.keys[index]!;
    if (kind === 'none') return [];
    if (kind === 'broken') return [{ name: `${stack.name}_heal-key_broken`, key: null }];
    return [{ name: keyVolumeName(stack.name, KEYS[kind]), key: KEYS[kind] }];
  });
  const keysOnly: Observed = {
    hosts: names.map((name, index) =>
      observedHost(stack, name, { reachable: recipe.reachable[index]!, stackKeys: stackKeys[index]! }),
    ),
  };
  // `current`: the hash the spec has under the key these hosts hold (or the fresh one).
  const keyed = keyedStack(stack, keysOnly, FRESH).stack;
  recipe.containers.forEach((gen, index) => {
    const host = names[gen.host % names.length]!;
    if (!recipe.reachable[gen.host % names.length]) return;
    const here = containers.get(host)!;
    const base = `${gen.owner === 'other' ? 'other' : 'app'}-${gen.service}-${gen.slot === 0 ? host : gen.slot}`;
    const name = here.some((container) => container.name === base) ? `${base}-d${index}` : base;
    const configHash =
      gen.hash === 'none'
        ? null
        : gen.hash === 'old'
          ? 'v1:old'
          : (keyed.services[gen.service]?.configHash ?? 'v1:gone');
    if (gen.owner === 'unlabeled') {
      here.push(foreignContainer(host, name, { 'com.docker.compose.service': gen.service }));
      return;
    }
    if (gen.owner === 'unslotted') {
      here.push({
        ...foreignContainer(host, name, { [LABEL.stack]: stack.name, [LABEL.service]: gen.service }),
        id: `c${index}`,
        service: gen.service,
      });
      return;
    }
    const container = ownedContainer(stack, {
      host,
      service: gen.service,
      slot: gen.slot,
      configHash,
      state: gen.state,
      health: gen.state === 'running' ? gen.health : 'none',
      exitCode: gen.state === 'exited' ? gen.exitCode : null,
      generation: gen.generation,
      id: `c${index}`,
      name,
      ...(gen.owner === 'other' ? { stack: 'other' } : {}),
    });
    const taken = here
      .filter((other) => other.state === 'running')
      .flatMap((other) => containerBindings(keyed, other));
    const clash = containerBindings(keyed, container).some((binding) => taken.includes(binding));
    here.push(
      clash && container.state === 'running'
        ? { ...container, state: 'created', health: 'none', startedAt: null }
        : container,
    );
  });
  const observed: Observed = {
    hosts: names.map((name, index) =>
      recipe.reachable[index]
        ? observedHost(stack, name, {
            containers: containers.get(name)!,
            totalContainers: containers.get(name)!.length + 2,
            foreignPorts: [],
            networks: recipe.networks[index]!,
            volumes: recipe.volumes[index]!,
            images: recipe.images[index]!,
            stackKeys: stackKeys[index]!,
          })
        : observedHost(stack, name, { reachable: false }),
    ),
  };
  const suspect = names.filter((_, index) => !recipe.reachable[index] && recipe.suspect[index]);
  return {
    observed,
    options: {
      revision: 'r1',
      freshStackKey: FRESH,
      allowEmpty: recipe.allowEmpty,
      pruneVolumes: recipe.pruneVolumes,
      ...(suspect.length > 0 ? { suspect } : {}),
    },
  };
}

const T1 = 10_000;
const T2 = 20_000;
const T3 = 30_000;
const RUNS = { numRuns: 300 };

const EXAMPLE_SERVICE = {
  global: false,
  replicas: 1,
  image: 'nginx:1',
  env: 'blue',
  constraints: [] as string[],
  port: '80',
  maxPerNode: null,
  parallelism: 0,
  order: 'stop-first',
  restart: 'any',
  network: 'front',
  volume: false,
  pullPolicy: 'always',
  dependsOnPrevious: false,
  secret: 'env',
};

const EXAMPLE_CONTAINER = {
  slot: 1,
  hash: 'current',
  state: 'running',
  health: 'none',
  exitCode: 0,
  generation: 1000,
  owner: 'this',
};

/**
 * Found by this file: db/1 runs on h3 where no host fits it any more (it stays), api/1 must leave
 * h1, and h2 is away: api must not take h3's port 80 from db, which stays.
 */
const PORT_HELD_BY_A_REPLICA_THAT_CANNOT_MOVE: [unknown, unknown] = [
  {
    hosts: [
      { zone: 'a', ssd: false },
      { zone: 'a', ssd: false },
      { zone: 'a', ssd: false },
    ],
    services: [
      { ...EXAMPLE_SERVICE, constraints: ['node.hostname != h1'] },
      { ...EXAMPLE_SERVICE, constraints: ['node.labels.zone != a'] },
      { ...EXAMPLE_SERVICE, global: true, replicas: 0, port: null },
    ],
  },
  {
    reachable: [true, false, true, false, false],
    suspect: [false, false, false, false, false],
    containers: [
      { ...EXAMPLE_CONTAINER, host: 2, service: 'db' },
      { ...EXAMPLE_CONTAINER, host: 0, service: 'api' },
    ],
    networks: [[], [], [], [], []],
    volumes: [[], [], [], [], []],
    images: [[], [], [], [], []],
    keys: ['k1', 'k1', 'k1', 'k1', 'k1'],
    allowEmpty: false,
    pruneVolumes: false,
  },
];

/** Runs `check` on a random stack and world, planned at T1. */
function forAll(
  check: (stack: Stack, observed: Observed, options: PlanOptions, first: Plan) => void,
  examples: [unknown, unknown][] = [],
): Promise<void> {
  return fc.assert(
    fc.asyncProperty(specGen, worldGen, async (spec, recipe) => {
      const stack = await stackOf(spec);
      const { observed, options } = worldOf(stack, recipe);
      const full: PlanOptions = { ...options, now: T1 };
      check(stack, observed, full, plan(stack, observed, full));
    }),
    { ...RUNS, examples: examples as never },
  );
}

function matches(stack: Stack, service: Service, hostName: string): boolean {
  const labels = stack.heal.hosts[hostName]!.labels;
  return service.deploy.placement.constraints.every((constraint) => {
    const actual =
      constraint.key === 'node.hostname'
        ? hostName
        : (labels[constraint.key.replace(/^node\.labels\./, '')] ?? null);
    const equal = actual !== null && actual.toLowerCase() === constraint.value.toLowerCase();
    return constraint.op === '==' ? equal : !equal;
  });
}

/** A slot (for a global service: a host) runs once at most; a replicated slot is in 1..replicas. */
function expectEachSlotOnce(stack: Stack, world: Observed): void {
  const seen = new Set<string>();
  for (const container of ownContainers(world, stack)) {
    const service = container.service === null ? undefined : stack.services[container.service];
    if (!service || container.slot === null) continue;
    const global = service.deploy.mode === 'global';
    const key = global ? `${service.name} on ${container.host}` : `${service.name} slot ${container.slot}`;
    expect(seen.has(key), `${key} twice`).toBe(false);
    seen.add(key);
    if (!global) {
      expect(container.slot, `${service.name} slot`).toBeGreaterThanOrEqual(1);
      expect(container.slot, `${service.name} slot`).toBeLessThanOrEqual(service.deploy.replicas);
    }
  }
}

/** This stack's containers in `world`, host by host. */
function ownContainers(world: Observed, stack: Stack): ObservedContainer[] {
  return world.hosts.flatMap((host) =>
    host.containers.filter((container) => container.labels[LABEL.stack] === stack.name),
  );
}

describe('plan: properties', { timeout: 120_000 }, () => {
  it('never names a container this stack does not own, nor one whose labels it cannot read', () =>
    forAll((stack, observed, _options, first) => {
      const owned = ownedIds(observed, stack.name);
      const slotted = new Set(
        observed.hosts.flatMap((host) =>
          host.containers.filter((container) => container.slot !== null).map((container) => container.id),
        ),
      );
      for (const id of touchedIds(first)) {
        expect(owned.has(id), `action on ${id}`).toBe(true);
        expect(slotted.has(id), `action on ${id}`).toBe(true);
      }
    }));

  it('converges: planning again after applying the plan changes nothing', () =>
    forAll((stack, observed, options, first) => {
      const after = applyPlan(observed, first, T1);
      const second = plan(stack, after, { ...options, now: T2 });
      expect(second.refused).toBe(first.refused);
      expect(second.actions).toEqual([]);
    }));

  it('is deterministic: the same input gives a deep-equal plan, and the same JSON', () =>
    forAll((stack, observed, options, first) => {
      const again = plan(stack, structuredClone(observed), { ...options });
      expect(again).toEqual(first);
      expect(JSON.stringify(again)).toBe(JSON.stringify(first));
    }));

  it('does not depend on the order hosts and containers are reported in', () =>
    forAll((stack, observed, options, first) => {
      const reversed: Observed = {
        hosts: [...observed.hosts]
          .reverse()
          .map((host) => ({ ...host, containers: [...host.containers].reverse() })),
      };
      const again = plan(stack, reversed, options);
      expect({ ...again, warnings: [...again.warnings].sort() }).toEqual({
        ...first,
        warnings: [...first.warnings].sort(),
      });
    }));

  it('creates only where constraints and max_replicas_per_node allow, and never binds a host port twice', () =>
    forAll(
      (stack, observed, _options, first) => {
        const after = applyPlan(observed, first, T1);
        const keyed = keyedStack(stack, after, FRESH).stack;
        for (const action of first.actions) {
          if (action.kind !== 'create' && action.kind !== 'replace') continue;
          const service = stack.services[action.service]!;
          expect(matches(stack, service, action.host), `${action.service} on ${action.host}`).toBe(true);
          const max = service.deploy.placement.maxReplicasPerNode;
          // A replacement takes its old container's place: only a new replica adds one to a host.
          if (max === null || action.kind !== 'create') continue;
          const here = after.hosts
            .find((host) => host.name === action.host)!
            .containers.filter(
              (container) =>
                container.labels[LABEL.stack] === stack.name &&
                container.service === service.name &&
                container.slot !== null,
            );
          expect(here.length, `${service.name} on ${action.host}`).toBeLessThanOrEqual(max);
        }
        for (const host of after.hosts) {
          const bindings = host.containers
            .filter((container) => container.state === 'running')
            .flatMap((container) => containerBindings(keyed, container));
          expect(bindings, `ports on ${host.name}`).toEqual([...new Set(bindings)]);
        }
      },
      [PORT_HELD_BY_A_REPLICA_THAT_CANNOT_MOVE],
    ));

  it('replaces at most parallelism slots of a service per phase', () =>
    forAll((stack, _observed, _options, first) => {
      const counts = new Map<string, number>();
      for (const action of first.actions) {
        if (action.kind !== 'replace') continue;
        const key = `${action.phase} ${action.service}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      for (const [key, count] of counts) {
        const parallelism = stack.services[key.split(' ')[1]!]!.deploy.updateConfig.parallelism;
        if (parallelism > 0) expect(count, key).toBeLessThanOrEqual(parallelism);
      }
    }));

  it('runs each slot at most once, only slots 1..replicas, once applied', () =>
    forAll((stack, observed, _options, first) => {
      if (first.refused === null) expectEachSlotOnce(stack, applyPlan(observed, first, T1));
    }));

  it('converges with no duplicate from any point a run was killed at', () =>
    fc.assert(
      fc.asyncProperty(
        specGen,
        worldGen,
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (spec, recipe, at) => {
          const stack = await stackOf(spec);
          const { observed, options } = worldOf(stack, recipe);
          const first = plan(stack, observed, { ...options, now: T1 });
          const killed = applyPlan(observed, first, T1, Math.floor(at * planSteps(first)));
          const second = plan(stack, killed, { ...options, now: T2 });
          const after = applyPlan(killed, second, T2);
          expect(plan(stack, after, { ...options, now: T3 }).actions).toEqual([]);
          if (second.refused === null) expectEachSlotOnce(stack, after);
        },
      ),
      RUNS,
    ));

  it('runs no slot twice once a host that was away comes back', () =>
    fc.assert(
      fc.asyncProperty(specGen, worldGen, fc.nat(), async (spec, recipe, pick) => {
        const stack = await stackOf(spec);
        const { observed, options } = worldOf(stack, recipe);
        const { suspect: _suspect, ...rest } = options;
        const settled = applyPlan(observed, plan(stack, observed, { ...rest, now: T1 }), T1);
        const reachable = settled.hosts.filter((host) => host.reachable);
        const away = reachable[pick % reachable.length];
        if (!away) return;
        const gone: Observed = {
          hosts: settled.hosts.map((host) =>
            host === away ? observedHost(stack, host.name, { reachable: false }) : host,
          ),
        };
        const moved = applyPlan(gone, plan(stack, gone, { ...rest, now: T2 }), T2);
        const back: Observed = { hosts: moved.hosts.map((host) => (host.name === away.name ? away : host)) };
        const healed = plan(stack, back, { ...rest, now: T3 });
        const after = applyPlan(back, healed, T3);
        if (healed.refused === null) expectEachSlotOnce(stack, after);
        expect(plan(stack, after, { ...rest, now: T3 + 10_000 }).actions).toEqual([]);
      }),
      RUNS,
    ));

  it('leaves each usable host holding the one stack key new containers are hashed by, and never prints it', () =>
    forAll((stack, observed, options, first) => {
      expect(JSON.stringify(first)).not.toMatch(/1{64}|2{64}|f{64}/);
      if (first.refused !== null) return;
      const after = applyPlan(observed, first, T1);
      const suspect = new Set(options.suspect ?? []);
      const usable = after.hosts.filter((host) => host.reachable && !suspect.has(host.name));
      const { stack: keyed, key } = keyedStack(stack, after, FRESH);
      if (!needsStackKey(stack)) {
        expect(
          first.actions.filter(
            (action) => action.kind === 'create-volume' && action.volume.includes('_heal-key_'),
          ),
        ).toEqual([]);
        for (const host of usable)
          expect(host.stackKeys).toEqual(
            options.pruneVolumes ? [] : observed.hosts.find((item) => item.name === host.name)!.stackKeys,
          );
        return;
      }
      for (const host of usable) expect(host.stackKeys, host.name).toEqual([key]);
      for (const action of first.actions) {
        if (action.kind !== 'create' && action.kind !== 'replace') continue;
        expect(action.create.body.Labels[LABEL.configHash], action.service).toBe(
          keyed.services[action.service]!.configHash,
        );
      }
    }));

  it('accounts for every slot: each one runs, or is reported unplaced, or waits for a suspect host', () =>
    forAll((stack, observed, options, first) => {
      if (first.refused !== null || (options.suspect ?? []).length > 0) return;
      const after = applyPlan(observed, first, T1);
      const running = new Set(
        ownContainers(after, stack).map((container) => `${container.service} ${container.slot}`),
      );
      const unplaced = new Set(first.unplaced.map((item) => `${item.service} ${item.slot}`));
      for (const service of Object.values(stack.services)) {
        for (let slot = 1; slot <= service.deploy.replicas; slot += 1) {
          const key = `${service.name} ${slot}`;
          expect(running.has(key) || unplaced.has(key), `${key} is neither placed nor reported`).toBe(true);
        }
      }
    }));
});
