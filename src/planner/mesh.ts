import { proxyBindings } from '../mesh/bindings.js';
import { diffMembership } from '../mesh/diff.js';
import { DEFAULT_HEALTH, type HealthSettings } from '../mesh/health.js';
import { desiredMembership } from '../mesh/membership.js';
import {
  PROXY_CONFIG,
  PROXY_SOCKET,
  proxyName,
  proxySocketFolder,
  proxySocketOnHost,
} from '../mesh/names.js';
import { renderProxyConfig } from '../mesh/render-config.js';
import { runtimeCommands } from '../mesh/runtime.js';
import { meshServices } from '../mesh/stack-mesh.js';
import type { MeshHost, MeshReplica, MeshService, MeshWorld } from '../mesh/types.js';
import { digest } from '../spec/hash.js';
import type { Stack } from '../spec/types.js';
import type { ContainerCreateBody } from './container-config.js';
import { LABEL, MESH_PROXY_ROLE } from './labels.js';
import type { Observed, ObservedContainer, ObservedHost } from './observed.js';
import type { Action, CreateSpec } from './plan-types.js';

/**
 * When a mesh action runs: proxies before replicas start, members next, stale proxies last. Two
 * exceptions for a port that changes hands: a proxy whose published port a replica of the stack
 * still binds on its host (`mode: host` until this plan) is made once the replacements and removals
 * have freed it (`late-proxies`); the proxy of a service the mesh no longer serves goes before any
 * replica starts (`early-remove-proxies`), so a replica now publishing its port `mode: host` can bind it.
 */
export type MeshStage = 'proxies' | 'late-proxies' | 'members' | 'early-remove-proxies' | 'remove-proxies';

export type MeshDraft = { readonly stage: MeshStage; readonly action: Action };

export type MeshInput = {
  readonly stack: Stack;
  readonly observed: Observed;
  readonly usable: readonly ObservedHost[];
  /** Containers (ids) the plan removes (not replaces): drained now, removed in the remove phase. */
  readonly removed: ReadonlySet<string>;
};

export function isProxy(container: Pick<ObservedContainer, 'labels'>): boolean {
  return container.labels[LABEL.role] === MESH_PROXY_ROLE;
}

/** The runtime socket line of every proxy's config: root's, or `x-heal.mesh.socket_gid`'s too. */
export function meshSocket(stack: Stack): { readonly path: string; readonly gid: number | null } {
  return { path: PROXY_SOCKET, gid: stack.heal.mesh.socketGid };
}

/**
 * How a proxy runs: HAProxy in master-worker mode (`-W`, as the official image's entrypoint also
 * runs it), so that SIGUSR2 reloads its config where heal cannot reach its runtime socket.
 */
export const PROXY_COMMAND = ['haproxy', '-W', '-db', '-f', PROXY_CONFIG];

export function meshHealth(stack: Stack): HealthSettings {
  const { check } = stack.heal.mesh;
  return { intervalMs: check.interval, fall: check.fall, rise: check.rise } satisfies typeof DEFAULT_HEALTH;
}

/**
 * The routing mesh's part of a plan: on every usable host, one proxy per mesh service (created,
 * replaced when its config hash changes or it no longer runs, removed when the service has no
 * listener any more), and a `mesh-sync` per running proxy whose members differ from the ones the
 * world as observed wants (added, re-addressed, drained, removed).
 */
export function planMesh(input: MeshInput): MeshDraft[] {
  const { stack, usable } = input;
  const services = meshServices(stack).services;
  const world = meshWorld(input, services);
  const drafts: MeshDraft[] = [];
  for (const host of usable) {
    const proxies = host.containers.filter(
      (container) => isProxy(container) && container.labels[LABEL.stack] === stack.name,
    );
    for (const service of services) {
      const mine = proxies
        .filter((container) => container.service === service.name)
        .sort(
          (a, b) =>
            Number(b.state === 'running') - Number(a.state === 'running') || b.createdAt - a.createdAt,
        );
      const [keeper, ...extra] = mine;
      for (const container of extra)
        drafts.push(removeProxy(host.name, container, `${host.name} runs ${service.name}'s proxy twice`));
      const membership = desiredMembership(world, service, host.name);
      const config = renderProxyConfig({
        stack: stack.name,
        membership,
        health: meshHealth(stack),
        drainTimeoutMs: stack.heal.mesh.drainTimeout,
        socket: meshSocket(stack),
      });
      const create = proxyCreate(stack, service, host.name, config);
      const hash = create.body.Labels[LABEL.configHash];
      const fresh =
        keeper && keeper.configHash === hash && (keeper.state === 'running' || keeper.state === 'restarting');
      if (!fresh) {
        const why = !keeper
          ? `${service.name} is a mesh service: every host answers on its ports`
          : keeper.configHash !== hash
            ? "the proxy's config changed"
            : `the proxy is ${keeper.state}`;
        const held = heldPorts(host, stack, service);
        drafts.push({
          stage: held.length > 0 ? 'late-proxies' : 'proxies',
          action: {
            kind: 'create-proxy',
            phase: 0,
            host: host.name,
            service: service.name,
            slot: null,
            create,
            old: keeper ? stoppable(keeper, stack) : null,
            reason:
              held.length > 0
                ? `${why}; made once the replicas that bind port ${held.join(', ')} on ${host.name} are gone`
                : why,
          },
        });
        continue;
      }
      const observed = host.proxies?.find((proxy) => proxy.container === keeper.id);
      if (!observed || observed.servers === null) continue;
      const changes = diffMembership(observed.servers, membership);
      if (changes.length === 0) continue;
      drafts.push({
        stage: 'members',
        action: {
          kind: 'mesh-sync',
          phase: 0,
          host: host.name,
          service: service.name,
          slot: null,
          proxy: { id: keeper.id, name: keeper.name, host: host.name },
          socket: proxySocketOnHost(stack.name, service.name),
          commands: runtimeCommands(changes, meshHealth(stack)),
          config,
          configPath: PROXY_CONFIG,
          reason: changes.map((change) => `${change.kind} ${change.server}`).join(', '),
        },
      });
    }
    const meshNames = new Set(services.map((service) => service.name));
    for (const container of proxies) {
      if (container.service !== null && meshNames.has(container.service)) continue;
      drafts.push({
        ...removeProxy(
          host.name,
          container,
          `${container.service ?? '?'} is no mesh service of the stack any more`,
        ),
        stage: 'early-remove-proxies',
      });
    }
  }
  return drafts;
}

/**
 * The published ports of a service's proxy that a running container of the stack other than a
 * proxy binds on the host: a replica published `mode: host` until this plan. The plan replaces or
 * removes it (its spec no longer binds the port); the proxy can only start once it has.
 */
function heldPorts(host: ObservedHost, stack: Stack, service: MeshService): number[] {
  const published = new Set(
    service.listeners.flatMap((listener) => listener.published.map((item) => item.port)),
  );
  const held = host.containers.flatMap((container) =>
    container.labels[LABEL.stack] !== stack.name || isProxy(container) || container.state !== 'running'
      ? []
      : (container.ports ?? []).map((port) => port.hostPort).filter((port) => published.has(port)),
  );
  return [...new Set(held)].sort((a, b) => a - b);
}

/** What the mesh sees: every host, and every replica of a mesh service on the usable ones. */
export function meshWorld(input: MeshInput, services: readonly MeshService[]): MeshWorld {
  const { stack, observed, usable } = input;
  const up = new Set(usable.map((host) => host.name));
  const hosts = observed.hosts.map((host): MeshHost => ({
    name: host.name,
    status: up.has(host.name) ? 'up' : 'unreachable',
    address: stack.heal.hosts[host.name]?.internalAddress ?? null,
  }));
  const names = new Set(services.map((service) => service.name));
  const replicas = usable.flatMap((host) =>
    host.containers.flatMap((container): MeshReplica[] =>
      isProxy(container) ||
      container.service === null ||
      container.slot === null ||
      !names.has(container.service) ||
      container.labels[LABEL.stack] !== stack.name
        ? []
        : [
            {
              id: container.id,
              host: host.name,
              service: container.service,
              slot: container.slot,
              state: container.state,
              health: container.health,
              addresses: container.addresses ?? {},
              ports: container.ports ?? [],
            },
          ],
    ),
  );
  return { hosts, replicas, leaving: input.removed };
}

function removeProxy(host: string, container: ObservedContainer, reason: string): MeshDraft {
  return {
    stage: 'remove-proxies',
    action: {
      kind: 'remove-proxy',
      phase: 0,
      host,
      service: container.service,
      slot: null,
      container: { id: container.id, name: container.name, host, stopTimeout: 30, stopSignal: 'SIGUSR1' },
      reason,
    },
  };
}

function stoppable(container: ObservedContainer, stack: Stack) {
  return {
    id: container.id,
    name: container.name,
    host: container.host,
    stopTimeout: Math.ceil(stack.heal.mesh.drainTimeout / 1000),
    stopSignal: 'SIGUSR1',
  };
}

/**
 * A host's proxy for a service: HAProxy from `x-heal.mesh.image`, publishing the service's
 * published ports onto its listeners, named after the service on the service's networks, its
 * runtime socket in a host folder heal reaches, restarted by the engine. Its config hash covers
 * everything but the members (which change through the runtime API).
 */
function proxyCreate(stack: Stack, service: MeshService, host: string, config: string): CreateSpec {
  const spec = stack.services[service.name]!;
  const [first, ...others] = spec.networks;
  const engineName = (key: string): string => stack.networks[key]?.engineName ?? key;
  const ports = Object.fromEntries(service.listeners.map((listener) => [`${listener.target}/tcp`, {}]));
  const drainSeconds = Math.ceil(stack.heal.mesh.drainTimeout / 1000);
  const base: ContainerCreateBody = {
    Image: stack.heal.mesh.image,
    Labels: {
      [LABEL.stack]: stack.name,
      [LABEL.service]: service.name,
      [LABEL.role]: MESH_PROXY_ROLE,
      'com.docker.compose.project': stack.name,
    },
    ExposedPorts: ports,
    // The official image runs as haproxy; the socket's folder is root's (dockerd makes it).
    User: '0',
    Cmd: PROXY_COMMAND,
    StopSignal: 'SIGUSR1',
    StopTimeout: drainSeconds,
    HostConfig: {
      PortBindings: proxyBindings(service.listeners),
      Binds: [`${proxySocketFolder(stack.name, service.name)}:/run/heal`],
      RestartPolicy: { Name: 'always' },
      ...(first ? { NetworkMode: engineName(first.name) } : {}),
    },
    ...(first
      ? { NetworkingConfig: { EndpointsConfig: { [engineName(first.name)]: { Aliases: [service.name] } } } }
      : {}),
  };
  const hash = digest({
    body: base,
    health: stack.heal.mesh.check,
    listeners: service.listeners,
    drain: stack.heal.mesh.drainTimeout,
    ...(stack.heal.mesh.socketGid === null ? {} : { socketGid: stack.heal.mesh.socketGid }),
  });
  return {
    host,
    query: { name: proxyName(stack.name, service.name) },
    body: { ...base, Labels: { ...base.Labels, [LABEL.configHash]: `mesh:${hash.slice(0, 16)}` } },
    secretEnv: [],
    extraNetworks: others.map((network) => ({
      name: engineName(network.name),
      aliases: [service.name],
      ipv4Address: null,
      ipv6Address: null,
      macAddress: null,
    })),
    files: [
      {
        kind: 'config',
        source: 'haproxy.cfg',
        target: PROXY_CONFIG,
        file: '',
        uid: null,
        gid: null,
        mode: 0o444,
        content: config,
      },
    ],
    waitHealthy: true,
    healthTimeout: 30_000,
    exitZero: 'failure',
  };
}
