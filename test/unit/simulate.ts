import { LABEL } from '../../src/planner/labels.js';
import type { Observed, ObservedContainer, ObservedHost } from '../../src/planner/observed.js';
import type { Action, CreateSpec, Plan } from '../../src/planner/plan-types.js';
import type { Stack } from '../../src/spec/types.js';

/**
 * A world of Docker hosts for planner tests, and a simulator that applies a Plan to it the way
 * the executor would. The simulator is strict: an action on a container that is not there, a
 * name already taken on a host, a network created twice or any action on a host that is not
 * reachable throws, so a plan that could not run fails the test that applies it.
 */

/** One host of the stack as observe() reports it: reachable, empty, unless told otherwise. */
export function observedHost(
  stack: Stack,
  name: string,
  overrides: Partial<ObservedHost> = {},
): ObservedHost {
  const host = stack.heal.hosts[name];
  if (!host) throw new Error(`host ${name} is not in the spec`);
  const reachable = overrides.reachable ?? true;
  return {
    name,
    host,
    reachable,
    error: reachable ? null : 'connect ETIMEDOUT',
    engine: reachable
      ? { name, version: '20.10.24', os: 'linux', arch: 'x86_64', cpus: 2, memory: 4_000_000_000, labels: {} }
      : null,
    containers: [],
    totalContainers: reachable ? (overrides.containers?.length ?? 0) : null,
    foreignPorts: [],
    networks: [],
    volumes: [],
    images: [],
    marks: [],
    stackKeys: [],
    ...overrides,
  };
}

/** Every host of the stack, empty and reachable except `unreachable`. */
export function emptyWorld(stack: Stack, unreachable: readonly string[] = []): Observed {
  return {
    hosts: Object.keys(stack.heal.hosts).map((name) =>
      observedHost(stack, name, { reachable: !unreachable.includes(name) }),
    ),
  };
}

export type ContainerFacts = {
  readonly host: string;
  readonly service: string;
  readonly slot: number;
  /** Default: the service's current hash (a clean container). */
  readonly configHash?: string | null;
  readonly state?: ObservedContainer['state'];
  readonly health?: ObservedContainer['health'];
  readonly exitCode?: number | null;
  readonly generation?: number;
  readonly id?: string;
  readonly name?: string;
  /** Another stack's name: a container this stack must never touch. */
  readonly stack?: string;
};

/** A container with heal's labels, as observe() reads it. */
export function ownedContainer(stack: Stack, facts: ContainerFacts): ObservedContainer {
  const stackName = facts.stack ?? stack.name;
  const configHash =
    facts.configHash === undefined ? (stack.services[facts.service]?.configHash ?? null) : facts.configHash;
  const generation = facts.generation ?? 1000;
  const name = facts.name ?? `${stackName}-${facts.service}-${facts.slot === 0 ? facts.host : facts.slot}`;
  const state = facts.state ?? 'running';
  return {
    id: facts.id ?? `${facts.host}/${name}`,
    name,
    host: facts.host,
    image: stack.services[facts.service]?.image ?? 'busybox',
    labels: {
      [LABEL.stack]: stackName,
      [LABEL.service]: facts.service,
      [LABEL.slot]: String(facts.slot),
      ...(configHash === null ? {} : { [LABEL.configHash]: configHash }),
      [LABEL.generation]: String(generation),
    },
    service: facts.service,
    slot: facts.slot,
    configHash,
    state,
    health: facts.health ?? 'none',
    exitCode: facts.exitCode ?? (state === 'exited' ? 0 : null),
    createdAt: generation,
    startedAt: state === 'running' ? generation : null,
    finishedAt: state === 'exited' ? generation + 1 : null,
  };
}

/** A container without heal's labels (someone else's), which heal must never touch. */
export function foreignContainer(
  host: string,
  name: string,
  labels: Record<string, string> = {},
): ObservedContainer {
  return {
    id: `${host}/${name}`,
    name,
    host,
    image: 'busybox',
    labels,
    service: null,
    slot: null,
    configHash: null,
    state: 'running',
    health: 'none',
    exitCode: null,
    createdAt: 1,
    startedAt: 1,
    finishedAt: null,
  };
}

/** `world` with `containers` added to their hosts (and counted in totalContainers). */
export function withContainers(world: Observed, containers: readonly ObservedContainer[]): Observed {
  return {
    hosts: world.hosts.map((host) => {
      const added = containers.filter((container) => container.host === host.name);
      if (added.length === 0) return host;
      if (!host.reachable) throw new Error(`${host.name} is unreachable: observe lists no container there`);
      return {
        ...host,
        containers: [...host.containers, ...added],
        totalContainers: (host.totalContainers ?? 0) + added.length,
      };
    }),
  };
}

/** `world` with `patch` applied to host `name`. */
export function withHost(world: Observed, name: string, patch: Partial<ObservedHost>): Observed {
  return { hosts: world.hosts.map((host) => (host.name === name ? { ...host, ...patch } : host)) };
}

/** The networks a container made from `create` joins: its first, then the extra ones. */
export function createdNetworks(create: CreateSpec): string[] {
  const mode = create.body.HostConfig.NetworkMode;
  const first = mode !== undefined && !['host', 'none', 'bridge'].includes(mode) ? [mode] : [];
  return [...first, ...create.extraNetworks.map((network) => network.name)];
}

type MutableHost = {
  readonly base: ObservedHost;
  containers: ObservedContainer[];
  networks: Set<string>;
  volumes: Set<string>;
  images: Set<string>;
  marks: ObservedHost['marks'];
  stackKeys: ObservedHost['stackKeys'];
};

/**
 * The world after `plan` ran, every action succeeding: phase by phase, in the plan's order. A
 * created container runs (healthy when it has a healthcheck) with the create body's labels and
 * name; `now` is its creation time. A refused plan changes nothing.
 *
 * `steps` stops the run part way, as if heal were killed: each action is one step, except that a
 * create is two (create, then start: a container left `created` between them) and a replace three
 * (stop-first: remove the old, create, start; start-first: create, start, remove the old).
 */
export function applyPlan(world: Observed, plan: Plan, now: number, steps = Infinity): Observed {
  if (plan.refused !== null) return world;
  const hosts = new Map<string, MutableHost>(
    world.hosts.map((host) => [
      host.name,
      {
        base: host,
        containers: [...host.containers],
        networks: new Set(host.networks),
        volumes: new Set(host.volumes),
        images: new Set(host.images),
        marks: host.marks,
        stackKeys: host.stackKeys,
      },
    ]),
  );
  let created = 0;
  /** Containers created here with a healthcheck: they start healthy. */
  const checked = new Set<string>();
  const on = (action: Action): MutableHost => {
    const host = hosts.get(action.host);
    if (!host) throw new Error(`${action.kind}: no host ${action.host}`);
    if (!host.base.reachable) throw new Error(`${action.kind}: ${action.host} is unreachable`);
    return host;
  };
  const take = (host: MutableHost, id: string, kind: string): ObservedContainer => {
    const index = host.containers.findIndex((container) => container.id === id);
    if (index === -1) throw new Error(`${kind}: no container ${id} on ${host.base.name}`);
    const [container] = host.containers.splice(index, 1);
    return container!;
  };
  const start = (host: MutableHost, id: string): void => {
    const container = take(host, id, 'start');
    const health = checked.has(id) ? 'healthy' : 'none';
    host.containers.push({
      ...container,
      state: 'running',
      health,
      exitCode: null,
      startedAt: now,
      finishedAt: null,
    });
  };
  const rename = (host: MutableHost, id: string, name: string): void => {
    if (host.containers.some((container) => container.name === name))
      throw new Error(`rename: the name ${name} is taken on ${host.base.name}`);
    host.containers.push({ ...take(host, id, 'rename'), name });
  };
  const unpause = (host: MutableHost, id: string): void => {
    const container = take(host, id, 'unpause');
    if (container.state !== 'paused') throw new Error(`unpause: ${container.name} is not paused`);
    host.containers.push({ ...container, state: 'running' });
  };
  /** Creates the container, not started; returns its id. */
  const create = (host: MutableHost, spec: CreateSpec): string => {
    const name = spec.query.name;
    if (host.containers.some((container) => container.name === name))
      throw new Error(`create: the name ${name} is taken on ${host.base.name}`);
    for (const network of createdNetworks(spec)) {
      if (!host.networks.has(network) && network.startsWith(`${plan.stack}_`))
        throw new Error(`create: network ${network} is missing on ${host.base.name}`);
    }
    for (const mount of spec.body.HostConfig.Mounts ?? []) {
      if (
        mount.Type === 'volume' &&
        mount.Source?.startsWith(`${plan.stack}_`) &&
        !host.volumes.has(mount.Source)
      )
        throw new Error(`create: volume ${mount.Source} is missing on ${host.base.name}`);
    }
    created += 1;
    const labels = spec.body.Labels;
    const id = `sim-${now}-${created}`;
    if (spec.body.Healthcheck !== undefined && spec.body.Healthcheck.Test?.[0] !== 'NONE') checked.add(id);
    host.containers.push({
      id,
      name,
      host: host.base.name,
      image: spec.body.Image,
      labels,
      service: labels[LABEL.service] ?? null,
      slot: labels[LABEL.slot] === undefined ? null : Number(labels[LABEL.slot]),
      configHash: labels[LABEL.configHash] ?? null,
      state: 'created',
      health: 'none',
      exitCode: null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
    });
    return id;
  };

  const work: (() => void)[] = [];
  const phases = [...new Set(plan.actions.map((action) => action.phase))].sort((a, b) => a - b);
  for (const phase of phases) {
    for (const action of plan.actions.filter((item) => item.phase === phase)) {
      switch (action.kind) {
        case 'create-network':
          work.push(() => {
            const host = on(action);
            if (host.networks.has(action.network))
              throw new Error(`create-network: ${action.network} exists on ${action.host}`);
            host.networks.add(action.network);
          });
          break;
        case 'remove-network':
          work.push(() => {
            if (!on(action).networks.delete(action.network))
              throw new Error(`remove-network: no ${action.network} on ${action.host}`);
          });
          break;
        case 'create-volume':
          work.push(() => {
            const host = on(action);
            if (host.volumes.has(action.volume) || host.stackKeys.some((item) => item.name === action.volume))
              throw new Error(`create-volume: ${action.volume} exists on ${action.host}`);
            // observe() reads a volume with the key label as the stack key, never as a named volume.
            const key = action.config.Labels[LABEL.key];
            if (key === undefined) host.volumes.add(action.volume);
            else host.stackKeys = [...host.stackKeys, { name: action.volume, key }];
          });
          break;
        case 'remove-volume':
          work.push(() => {
            const host = on(action);
            const mark = host.marks.find((item) => item.name === action.volume);
            const key = host.stackKeys.find((item) => item.name === action.volume);
            if (mark) host.marks = host.marks.filter((item) => item !== mark);
            else if (key) host.stackKeys = host.stackKeys.filter((item) => item !== key);
            else if (!host.volumes.delete(action.volume))
              throw new Error(`remove-volume: no ${action.volume} on ${action.host}`);
          });
          break;
        case 'pull':
        case 'build':
        case 'copy-image':
          work.push(() => void on(action).images.add(action.image));
          break;
        case 'create': {
          let id = '';
          work.push(
            () => void (id = create(on(action), action.create)),
            () => start(on(action), id),
          );
          break;
        }
        case 'start':
          work.push(() => start(on(action), action.container.id));
          break;
        case 'unpause':
          work.push(() => unpause(on(action), action.container.id));
          break;
        case 'replace': {
          if (action.create.host !== action.host) throw new Error('replace: the new container is elsewhere');
          let id = '';
          const removeOld = (): void => {
            take(on(action), action.old.id, 'replace');
            if (action.rename) rename(on(action), id, action.rename);
          };
          const createNew = (): void => void (id = create(on(action), action.create));
          const startNew = (): void => start(on(action), id);
          work.push(
            ...(action.order === 'stop-first'
              ? [removeOld, createNew, startNew]
              : [createNew, startNew, removeOld]),
          );
          break;
        }
        case 'remove':
          work.push(() => void take(on(action), action.container.id, 'remove'));
          break;
      }
    }
  }
  for (const step of work.slice(0, steps)) step();

  return {
    hosts: world.hosts.map((base) => {
      const host = hosts.get(base.name)!;
      if (!base.reachable) return base;
      const others = (base.totalContainers ?? base.containers.length) - base.containers.length;
      return {
        ...base,
        containers: host.containers,
        totalContainers: others + host.containers.length,
        networks: [...host.networks].sort(),
        volumes: [...host.volumes].sort(),
        images: [...host.images].sort(),
        marks: host.marks,
        stackKeys: host.stackKeys,
      };
    }),
  };
}

/** How many steps `applyPlan` takes to run all of `plan`. */
export function planSteps(plan: Plan): number {
  if (plan.refused !== null) return 0;
  return plan.actions.reduce(
    (count, action) => count + (action.kind === 'create' ? 2 : action.kind === 'replace' ? 3 : 1),
    0,
  );
}

/** The ids of the containers that carry `stack`'s label, over every host. */
export function ownedIds(world: Observed, stack: string): Set<string> {
  return new Set(
    world.hosts.flatMap((host) =>
      host.containers.filter((container) => container.labels[LABEL.stack] === stack).map((c) => c.id),
    ),
  );
}

/** The id of every container an action stops, starts or removes. */
export function touchedIds(plan: Plan): string[] {
  return plan.actions.flatMap((action) => {
    if (action.kind === 'start') return [action.container.id];
    if (action.kind === 'remove') return [action.container.id];
    if (action.kind === 'replace') return [action.old.id];
    return [];
  });
}
