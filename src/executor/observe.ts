import type Dockerode from 'dockerode';
import { proxySocketOnHost } from '../mesh/names.js';
import { parseServersState } from '../mesh/servers-state.js';
import { LABEL, MESH_PROXY_ROLE } from '../planner/labels.js';
import type {
  AvailabilityMark,
  ContainerState,
  HostProbe,
  EngineFacts,
  Observed,
  ObservedContainer,
  ObservedHost,
  ObservedProxy,
  RolloutMark,
  ScaleMark,
  StackKeyVolume,
} from '../planner/observed.js';
import { isStackKey } from '../spec/keyed-hash.js';
import { CONDITIONS_DEFAULTS } from '../spec/normalize-conditions.js';
import type { Host, Stack } from '../spec/types.js';
import { parseStatus } from './container-status.js';
import { DockerApiError, HostUnreachableError } from './errors.js';
import type { HostClient } from './host-client.js';
import { readDeaths } from './deaths.js';
import { parseProbe } from './host-probe.js';
import { proxyFileServers, reloadsOnly } from './mesh-file.js';
import { runtimeLine } from './mesh-socket.js';

/** A connected client, or why the host could not be reached. */
export type Reach = { readonly client: HostClient } | { readonly error: Error };

export type ObserveOptions = {
  /**
   * An epoch ms by which the host must have answered, else it is reported unreachable then (the
   * daemon gives a silent host until it would be declared down, so that a hung connection never
   * holds the look that declares it down); null: its calls' own deadlines bound it.
   */
  readonly answerBy?: (host: string) => number | null;
  /**
   * Containers (ids) an event said stopped: the engine's list can lag its events by a moment, so
   * each one the list still shows running is inspected, and what the inspect says is what counts.
   */
  readonly recheck?: (host: string) => readonly string[];
};

/**
 * Reads every host of the stack: engine facts, and this stack's containers in every state,
 * networks and volumes, and the images present: one list call of each per host, in parallel,
 * and no per-container inspect but for `recheck`. Hosts are read in parallel; one that fails or
 * does not answer within its calls' deadlines is reported unreachable with its cause and never
 * holds up the others.
 */
export async function observe(
  stack: Stack,
  reach: (host: Host) => Promise<Reach>,
  now: () => number,
  options: ObserveOptions = {},
): Promise<Observed> {
  const hosts = await Promise.all(
    Object.values(stack.heal.hosts).map((host) =>
      bounded(
        observeHost(stack, host, reach, now, options.recheck?.(host.name) ?? []),
        host,
        options.answerBy?.(host.name) ?? null,
        now,
      ),
    ),
  );
  return { hosts };
}

async function bounded(
  reading: Promise<ObservedHost>,
  host: Host,
  deadline: number | null,
  now: () => number,
): Promise<ObservedHost> {
  if (deadline === null) return reading;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ObservedHost>((resolve) => {
    const silent = new HostUnreachableError(host.name, 'timeout', 'no answer since it fell silent');
    timer = setTimeout(() => resolve(unreachableHost(host, silent)), Math.max(0, deadline - now()));
  });
  return Promise.race([reading, late]).finally(() => clearTimeout(timer));
}

function unreachableHost(host: Host, error: Error): ObservedHost {
  return {
    name: host.name,
    host,
    reachable: false,
    error: error.message,
    engine: null,
    containers: [],
    totalContainers: null,
    foreignPorts: [],
    networks: [],
    volumes: [],
    images: [],
    marks: [],
    stackKeys: [],
  };
}

async function observeHost(
  stack: Stack,
  host: Host,
  reach: (host: Host) => Promise<Reach>,
  now: () => number,
  recheck: readonly string[],
): Promise<ObservedHost> {
  const unreachable = (error: Error): ObservedHost => unreachableHost(host, error);
  const reached = await reach(host);
  if ('error' in reached) return unreachable(reached.error);
  const { client } = reached;
  try {
    const owned = { label: [`${LABEL.stack}=${stack.name}`] };
    const ports = publishedBy(stack);
    // The data root never changes for an engine: once known, the probe runs beside the lists.
    const knownRoot = DATA_ROOTS.get(client);
    const early = knownRoot === undefined ? null : readProbe(client, stack, knownRoot, now);
    const [info, list, networks, volumes, images, publishers] = await Promise.all([
      client.call('info', (docker, abortSignal) => engineInfo(docker, abortSignal)),
      client.call('listContainers', (docker, abortSignal) =>
        docker.listContainers({ all: true, filters: owned, abortSignal }),
      ),
      client.call('listNetworks', (docker, abortSignal) =>
        docker.listNetworks({ filters: owned, abortSignal }),
      ),
      client.call('listVolumes', (docker, abortSignal) =>
        docker.listVolumes({ filters: owned, abortSignal }),
      ),
      client.call('listImages', (docker, abortSignal) => docker.listImages({ abortSignal })),
      // Only when the stack publishes ports: the running containers that hold any of them.
      ports.length === 0
        ? []
        : client.call('listContainers publishing', (docker, abortSignal) =>
            docker.listContainers({ filters: { publish: ports }, abortSignal }),
          ),
    ]);
    const at = now();
    const containers = list.map((container) => toObserved(host.name, container, at));
    const [proxies, probe] = await Promise.all([
      readProxies(client, stack, containers),
      withDeaths(
        client,
        stack,
        info,
        early !== null && knownRoot === dataRoot(info)
          ? early
          : readProbe(client, stack, dataRoot(info), now),
      ),
    ]);
    DATA_ROOTS.set(client, dataRoot(info));
    return {
      name: host.name,
      host,
      reachable: true,
      error: null,
      engine: engineFacts(info),
      containers: await Promise.all(
        containers.map((container) =>
          recheck.includes(container.id) && container.state === 'running'
            ? inspected(client, container, at)
            : container,
        ),
      ),
      totalContainers: typeof info.Containers === 'number' ? info.Containers : null,
      foreignPorts: foreignBindings(publishers, stack),
      networks: networks.map((network) => network.Name).sort(),
      // Marks and the stack key are heal's own volumes, never the stack's named ones.
      volumes: (volumes.Volumes ?? [])
        .filter(
          (volume) =>
            !volume.Labels?.[LABEL.rollout] &&
            volume.Labels?.[LABEL.key] === undefined &&
            volume.Labels?.[LABEL.autoscale] === undefined &&
            !volume.Labels?.[LABEL.availability],
        )
        .map((volume) => volume.Name)
        .sort(),
      images: images.flatMap((image) => [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])]).sort(),
      marks: (volumes.Volumes ?? []).flatMap((volume) => toMark(host.name, volume)),
      stackKeys: (volumes.Volumes ?? []).flatMap(toStackKey),
      proxies,
      scales: (volumes.Volumes ?? []).flatMap((volume) => toScaleMark(host.name, volume)),
      availabilityMark: (volumes.Volumes ?? []).flatMap(toAvailabilityMark)[0] ?? null,
      probe,
    };
  } catch (error) {
    return unreachable(error instanceof Error ? error : new Error(String(error)));
  }
}

/**
 * What each running mesh proxy holds (`show servers state`), read in parallel through its runtime
 * socket. A proxy that does not answer is reported with why; it never makes the host unreachable.
 */
async function readProxies(
  client: HostClient,
  stack: Stack,
  containers: readonly ObservedContainer[],
): Promise<ObservedProxy[]> {
  const running = containers.filter(
    (container) =>
      container.labels[LABEL.role] === MESH_PROXY_ROLE &&
      container.state === 'running' &&
      container.service !== null,
  );
  return Promise.all(
    running.map(async (container): Promise<ObservedProxy> => {
      const service = container.service ?? '';
      const socket = proxySocketOnHost(stack.name, service);
      try {
        // No runtime socket here (reload fallback): the proxy holds what its file held at its last reload.
        if (reloadsOnly(client))
          return {
            service,
            container: container.id,
            servers: await proxyFileServers(client, container.id),
            error: null,
          };
        const text = await runtimeLine(client, socket, 'show servers state', stack.heal.timeouts.readMs);
        return { service, container: container.id, servers: parseServersState(text), error: null };
      } catch (error) {
        return { service, container: container.id, servers: null, error: String(error) };
      }
    }),
  );
}

/** `GET /info`: dockerode takes an abortSignal here, its types do not say so. */
export function engineInfo(docker: Dockerode, abortSignal: AbortSignal): Promise<Record<string, unknown>> {
  const info = docker.info.bind(docker) as unknown as (options: object) => Promise<Record<string, unknown>>;
  return info({ abortSignal });
}

/** What an inspect says of a container the list showed running: the list may lag a moment behind. */
async function inspected(
  client: HostClient,
  container: ObservedContainer,
  now: number,
): Promise<ObservedContainer> {
  const info = await client
    .call(`inspect ${container.name}`, (docker, abortSignal) =>
      docker.getContainer(container.id).inspect({ abortSignal }),
    )
    .catch((error: unknown) => {
      // Gone since the list: the next look sees it missing.
      if (error instanceof DockerApiError && error.status === 404) return null;
      throw error;
    });
  if (info === null || info.State.Running) return container;
  const state = (STATES as readonly string[]).includes(info.State.Status)
    ? (info.State.Status as ContainerState)
    : 'dead';
  const finished = Date.parse(info.State.FinishedAt);
  return {
    ...container,
    state,
    health: 'none',
    exitCode: info.State.ExitCode,
    startedAt: null,
    finishedAt: Number.isFinite(finished) && finished > 0 ? Math.min(finished, now) : now,
  };
}

function toMark(host: string, volume: Dockerode.VolumeInspectInfo): RolloutMark[] {
  const labels = volume.Labels ?? {};
  const state = labels[LABEL.rollout];
  const service = labels[LABEL.service];
  const configHash = labels[LABEL.configHash];
  if ((state !== 'rolled-back' && state !== 'paused') || !service || !configHash) return [];
  return [{ name: volume.Name, host, service, configHash, state, reason: labels[LABEL.reason] ?? '' }];
}

function toScaleMark(host: string, volume: Dockerode.VolumeInspectInfo): ScaleMark[] {
  const labels = volume.Labels ?? {};
  const replicas = Number(labels[LABEL.autoscale]);
  const at = Number(labels[LABEL.autoscaleAt]);
  const service = labels[LABEL.service];
  if (!service || !Number.isInteger(replicas) || replicas < 0 || !Number.isFinite(at)) return [];
  return [{ name: volume.Name, host, service, replicas, reason: labels[LABEL.reason] ?? '', at }];
}

/**
 * The host's memory, the space on its engine's data root, its PIDs and clock, read by the fixed
 * probe command; a probe that fails is reported in `error` and never makes the host unreachable.
 */
async function readProbe(
  client: HostClient,
  stack: Stack,
  root: string,
  now: () => number,
): Promise<HostProbe | null> {
  if (!client.runProbe || !root.startsWith('/')) return null;
  try {
    const sent = now();
    const text = await client.runProbe(root, stack.heal.timeouts.readMs);
    return parseProbe(text, root, { sent, received: now() });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { memory: null, disk: null, error: `probe failed: ${message}` };
  }
}

/**
 * The probe with the stack's containers that died on the host lately (the engine's events),
 * asked up to the engine's own time as `docker info` gave it: an `until` past the engine's clock
 * (heal's clock, a host behind it) makes the engine hold the call open until then, a second
 * or more added to every look. Read only where the probe is.
 */
async function withDeaths(
  client: HostClient,
  stack: Stack,
  info: Record<string, unknown>,
  reading: Promise<HostProbe | null>,
): Promise<HostProbe | null> {
  const engineNow = typeof info.SystemTime === 'string' ? Date.parse(info.SystemTime) : Number.NaN;
  const window = (stack.heal.conditions ?? CONDITIONS_DEFAULTS).dying.window;
  const deaths = !client.runProbe
    ? null
    : Number.isFinite(engineNow)
      ? readDeaths(client, stack.name, window, engineNow).then(
          (services) => ({ window, services }),
          (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
        )
      : Promise.resolve(new Error('the engine did not say its time (docker info SystemTime)'));
  const probe = await reading;
  const died = await deaths;
  if (probe === null || died === null) return probe;
  if (!(died instanceof Error)) return { ...probe, deaths: died };
  const error = `engine events unreadable: ${died.message}`;
  return { ...probe, deaths: null, error: probe.error === null ? error : `${probe.error}; ${error}` };
}

const DATA_ROOTS = new WeakMap<HostClient, string>();

function dataRoot(info: Record<string, unknown>): string {
  return typeof info.DockerRootDir === 'string' ? info.DockerRootDir : '';
}

function toAvailabilityMark(volume: Dockerode.VolumeInspectInfo): AvailabilityMark[] {
  const labels = volume.Labels ?? {};
  const availability = labels[LABEL.availability];
  if (availability !== 'pause' && availability !== 'drain') return [];
  const since = Number(labels[LABEL.since]);
  const deadline = Number(labels[LABEL.deadline]);
  return [
    {
      name: volume.Name,
      availability,
      since: Number.isFinite(since) ? since : 0,
      deadline: labels[LABEL.deadline] && Number.isFinite(deadline) ? deadline : null,
    },
  ];
}

function toStackKey(volume: Dockerode.VolumeInspectInfo): StackKeyVolume[] {
  const key = volume.Labels?.[LABEL.key];
  if (key === undefined) return [];
  return [{ name: volume.Name, key: isStackKey(key) ? key : null }];
}

function engineFacts(info: Record<string, unknown>): EngineFacts {
  const text = (key: string): string => (typeof info[key] === 'string' ? (info[key] as string) : '');
  return {
    name: text('Name'),
    version: text('ServerVersion'),
    os: text('OSType'),
    arch: text('Architecture'),
    cpus: typeof info.NCPU === 'number' ? info.NCPU : 0,
    memory: typeof info.MemTotal === 'number' ? info.MemTotal : 0,
    labels: engineLabels(info.Labels),
  };
}

/**
 * `docker info` lists the engine's labels as `key=value` strings: each is split at its first `=`
 * (a value may hold more).
 */
export function engineLabels(raw: unknown): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!Array.isArray(raw)) return labels;
  for (const item of raw) {
    if (typeof item !== 'string') continue;
    const at = item.indexOf('=');
    if (at <= 0) continue;
    labels[item.slice(0, at)] = item.slice(at + 1);
  }
  return labels;
}

const STATES: readonly ContainerState[] = [
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
];

export function toObserved(host: string, container: Dockerode.ContainerInfo, now: number): ObservedContainer {
  const labels = container.Labels ?? {};
  const slot = Number(labels[LABEL.slot]);
  const state = (STATES as readonly string[]).includes(container.State)
    ? (container.State as ContainerState)
    : 'dead';
  return {
    id: container.Id,
    name: (container.Names[0] ?? '').replace(/^\//, ''),
    host,
    image: container.Image,
    labels,
    service: labels[LABEL.service] ?? null,
    slot: Number.isInteger(slot) && slot >= 0 && labels[LABEL.slot] !== undefined ? slot : null,
    configHash: labels[LABEL.configHash] ?? null,
    state,
    createdAt: container.Created * 1000,
    ...parseStatus(container.Status, now),
    ports: (container.Ports ?? []).flatMap((port) =>
      port.Type === 'tcp' && port.PublicPort !== undefined && port.PublicPort !== 0
        ? [{ target: port.PrivatePort, hostPort: port.PublicPort }]
        : [],
    ),
    addresses: Object.fromEntries(
      Object.entries(container.NetworkSettings?.Networks ?? {}).flatMap(([network, endpoint]) =>
        endpoint.IPAddress ? [[network, endpoint.IPAddress]] : [],
      ),
    ),
  };
}

/** `9090/tcp` for each host port a service of the stack publishes, each once. */
function publishedBy(stack: Stack): string[] {
  const ports = Object.values(stack.services).flatMap((service) =>
    service.ports.flatMap((port) => (port.published === null ? [] : [`${port.published}/${port.protocol}`])),
  );
  return [...new Set(ports)].sort();
}

/** The bindings (`0.0.0.0:9090/tcp`) that containers of another owner hold, as placement reads them. */
function foreignBindings(publishers: readonly Dockerode.ContainerInfo[], stack: Stack): string[] {
  const bindings = publishers
    .filter((container) => container.Labels?.[LABEL.stack] !== stack.name)
    .flatMap((container) =>
      (container.Ports ?? []).flatMap((port) =>
        port.PublicPort === undefined
          ? []
          : // An IPv6 wildcard holds the port as surely as the IPv4 one.
            [
              `${port.IP === undefined || port.IP === '::' ? '0.0.0.0' : port.IP}:${port.PublicPort}/${port.Type}`,
            ],
      ),
    );
  return [...new Set(bindings)].sort();
}
