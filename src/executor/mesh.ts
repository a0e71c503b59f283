import { diffMembership, type MemberChange } from '../mesh/diff.js';
import { replicaEndpoint } from '../mesh/endpoint.js';
import { desiredMembership } from '../mesh/membership.js';
import { backendName, proxyName, proxySocketOnHost, serverName } from '../mesh/names.js';
import { renderProxyConfig } from '../mesh/render-config.js';
import { runtimeCommands } from '../mesh/runtime.js';
import { parseServersState, type CurrentServer } from '../mesh/servers-state.js';
import { parseSessions } from '../mesh/sessions.js';
import { meshServiceOf } from '../mesh/stack-mesh.js';
import type { MeshHost, MeshReplica, MeshService } from '../mesh/types.js';
import { isProxy, meshHealth, meshSocket, meshWorld } from '../planner/mesh.js';
import type { Host, Stack } from '../spec/types.js';
import { DockerApiError } from './errors.js';
import type { HostClient } from './host-client.js';
import { runCommands, runtimeLine } from './mesh-socket.js';
import { observe, type Reach } from './observe.js';
import { sleep } from './sleep.js';
import {
  editAndReload,
  proxyWorkers,
  readProxyConfig,
  reloadsOnly,
  reloadWith,
  writeProxyConfig,
  type ProxyTarget,
} from './mesh-file.js';

/** A replica as actions name it: the container, its host and its slot (its server name's parts). */
export type ReplicaRef = { readonly id: string; readonly host: string; readonly slot: number };

type Log = (message: string) => void;

/**
 * What the executor does to the routing mesh around a replica's life, through every host's proxy
 * of its service: add a new replica once it is healthy, drain one before it stops (waiting until
 * its connections end, bounded by the drain timeout), take it out once stopped. A proxy that does
 * not answer is passed over: the next reconcile's mesh-sync brings it in step.
 */
export class MeshMembers {
  readonly #stack: Stack;
  readonly #reach: (host: Host) => Promise<Reach>;
  readonly #log: Log;

  constructor(stack: Stack, reach: (host: Host) => Promise<Reach>, log: Log = () => undefined) {
    this.#stack = stack;
    this.#reach = reach;
    this.#log = log;
  }

  service(name: string | null): MeshService | null {
    return name === null ? null : meshServiceOf(this.#stack, name);
  }

  /**
   * Adds a healthy replica to every proxy, and waits (bounded) until every proxy checks it up. A
   * proxy that already holds it (a replica heal restarted keeps its container, so its server name,
   * but comes back on a new ephemeral port or address, and may have been drained or put in
   * maintenance meanwhile) has it re-addressed and made ready instead of added.
   */
  async admit(service: MeshService, client: HostClient, replica: ReplicaRef): Promise<void> {
    const info = await client.call(`inspect ${replica.id.slice(0, 12)}`, (docker, abortSignal) =>
      docker.getContainer(replica.id).inspect({ abortSignal }),
    );
    const mesh: MeshReplica = {
      id: replica.id,
      host: replica.host,
      service: service.name,
      slot: replica.slot,
      state: 'running',
      health: 'healthy',
      addresses: Object.fromEntries(
        Object.entries(info.NetworkSettings.Networks ?? {}).map(([name, endpoint]) => [
          name,
          endpoint.IPAddress,
        ]),
      ),
      ports: Object.entries(info.NetworkSettings.Ports ?? {}).flatMap(([key, bindings]) => {
        const [port, protocol] = key.split('/');
        const hostPort = Number(bindings?.[0]?.HostPort);
        return protocol === 'tcp' && hostPort > 0 ? [{ target: Number(port), hostPort }] : [];
      }),
    };
    const server = serverName(mesh);
    const hosts = new Map(this.#hosts().map((host) => [host.name, host]));
    await this.#eachProxy(service, async (proxy) => {
      const { client: proxyClient, socket } = proxy;
      // A proxy changed by file and reload has no runtime socket to ask: its file says what it holds.
      const present = proxy.reload
        ? []
        : parseServersState(await runtimeLine(proxyClient, socket, 'show servers state', this.#readMs()));
      const changes = service.listeners.flatMap((listener): MemberChange[] => {
        const endpoint = replicaEndpoint(mesh, listener.target, proxyClient.host.name, service, hosts);
        if (endpoint === null) return [];
        const backend = backendName(listener);
        const held = present.find((item) => item.backend === backend && item.server === server);
        if (held === undefined)
          return [{ kind: 'add', backend, server, ...endpoint, proxyProtocol: listener.proxyProtocol }];
        return [
          ...(held.address !== endpoint.address || held.port !== endpoint.port
            ? [{ kind: 'readdress' as const, backend, server, ...endpoint }]
            : []),
          ...(held.admin !== 'ready' ? [{ kind: 'ready' as const, backend, server }] : []),
        ];
      });
      // A reloaded proxy starts a configured server up: no check to wait for.
      if (proxy.reload) return void (await editAndReload(proxy, changes, meshHealth(this.#stack)));
      await runCommands(
        proxyClient,
        socket,
        runtimeCommands(changes, meshHealth(this.#stack)),
        this.#readMs(),
      );
      await this.#until(
        proxyClient,
        socket,
        async (text) =>
          parseServersState(text)
            .filter((item) => item.server === server)
            .every((item) => item.operational === 'up'),
        'show servers state',
      );
    });
  }

  /** Drains a replica in every proxy, then waits until no proxy holds a connection to it, or the drain timeout. */
  async drain(service: MeshService, replica: ReplicaRef): Promise<void> {
    const server = serverName(replica);
    const backends = service.listeners.map(backendName);
    const changes = backends.map((backend): MemberChange => ({ kind: 'drain', backend, server }));
    const deadline = Date.now() + this.#stack.heal.mesh.drainTimeout;
    await this.#eachProxy(service, async (proxy) => {
      const { client, socket } = proxy;
      if (proxy.reload) {
        // The old worker keeps the drained replica's connections and exits once they end.
        if (await editAndReload(proxy, changes, meshHealth(this.#stack)))
          while (Date.now() < deadline && (await proxyWorkers(proxy)) > 2) await sleep(200);
        return;
      }
      const present = parseServersState(
        await runtimeLine(client, socket, 'show servers state', this.#readMs()),
      );
      const mine = changes.filter((change) =>
        present.some((item) => item.backend === change.backend && item.server === server),
      );
      await runCommands(client, socket, runtimeCommands(mine, meshHealth(this.#stack)), this.#readMs());
      while (Date.now() < deadline) {
        const sessions = parseSessions(await runtimeLine(client, socket, 'show stat', this.#readMs()));
        if (backends.every((backend) => (sessions.get(`${backend}/${server}`) ?? 0) === 0)) return;
        await sleep(200);
      }
    });
  }

  /** Takes a stopped replica out of every proxy. */
  async remove(service: MeshService, replica: ReplicaRef): Promise<void> {
    const server = serverName(replica);
    await this.#eachProxy(service, async (proxy) => {
      const { client, socket } = proxy;
      if (proxy.reload) {
        const changes = service.listeners.map((listener): MemberChange => ({
          kind: 'remove',
          backend: backendName(listener),
          server,
        }));
        return void (await editAndReload(proxy, changes, meshHealth(this.#stack)));
      }
      const present = parseServersState(
        await runtimeLine(client, socket, 'show servers state', this.#readMs()),
      );
      const changes = present
        .filter((item) => item.server === server)
        .map((item): MemberChange => ({ kind: 'remove', backend: item.backend, server }));
      await runCommands(client, socket, runtimeCommands(changes, meshHealth(this.#stack)), this.#readMs());
    });
  }

  /**
   * After an apply: every proxy moved to the members the world as it now is wants, and its config
   * file rewritten with them, so that a proxy the engine restarts comes back with its members.
   */
  async converge(): Promise<void> {
    const observed = await observe(this.#stack, this.#reach, () => Date.now());
    const usable = observed.hosts.filter((host) => host.reachable);
    const services = [
      ...new Set(
        usable.flatMap((host) =>
          host.containers.flatMap((c) => (isProxy(c) && c.service ? [c.service] : [])),
        ),
      ),
    ].flatMap((name) => {
      const service = meshServiceOf(this.#stack, name);
      return service ? [service] : [];
    });
    const world = meshWorld({ stack: this.#stack, observed, usable, removed: new Set() }, services);
    await Promise.all(
      usable.map(async (host) => {
        const reached = await this.#reach(host.host);
        if ('error' in reached) return;
        for (const proxy of host.proxies ?? []) {
          const service = services.find((item) => item.name === proxy.service);
          if (!service) continue;
          const membership = desiredMembership(world, service, host.name);
          const socket = proxySocketOnHost(this.#stack.name, service.name);
          try {
            const config = renderProxyConfig({
              stack: this.#stack.name,
              membership,
              health: meshHealth(this.#stack),
              drainTimeoutMs: this.#stack.heal.mesh.drainTimeout,
              socket: meshSocket(this.#stack),
            });
            if (reloadsOnly(reached.client)) {
              const target = { client: reached.client, socket, id: proxy.container, reload: true };
              if ((await readProxyConfig(reached.client, proxy.container)) !== config)
                await reloadWith(target, config);
              continue;
            }
            // A proxy this apply just started may not have bound its socket when observed: asked again, bounded.
            const servers = proxy.servers ?? (await this.#serversOnceUp(reached.client, socket));
            const changes = diffMembership(servers, membership);
            await runCommands(
              reached.client,
              socket,
              runtimeCommands(changes, meshHealth(this.#stack)),
              this.#readMs(),
            );
            await writeProxyConfig(reached.client, proxy.container, config);
          } catch (error) {
            this.#log(`mesh proxy ${service.name} on ${host.name}: ${String(error)}`);
          }
        }
      }),
    );
  }

  /** `show servers state` of a proxy that did not answer yet, asked for up to 3 s. */
  async #serversOnceUp(client: HostClient, socket: string): Promise<CurrentServer[]> {
    const deadline = Date.now() + 3000;
    for (;;) {
      try {
        return parseServersState(await runtimeLine(client, socket, 'show servers state', this.#readMs()));
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(200);
      }
    }
  }

  #hosts(): MeshHost[] {
    return Object.values(this.#stack.heal.hosts).map((host) => ({
      name: host.name,
      status: 'up',
      address: host.internalAddress ?? null,
    }));
  }

  #readMs(): number {
    return this.#stack.heal.timeouts.readMs;
  }

  /**
   * Runs `work` on every host's running proxy of the service at once; one that fails is logged and
   * passed over. A host without a running proxy is passed over quietly: there is nothing to
   * change, and the proxy the plan makes later (or the next reconcile) starts from the world.
   */
  async #eachProxy(service: MeshService, work: (proxy: ProxyTarget) => Promise<void>): Promise<void> {
    const socket = proxySocketOnHost(this.#stack.name, service.name);
    const name = proxyName(this.#stack.name, service.name);
    await Promise.all(
      Object.values(this.#stack.heal.hosts).map(async (host) => {
        try {
          const reached = await this.#reach(host);
          if ('error' in reached) return;
          const { client } = reached;
          const info = await client
            .call(`inspect ${name}`, (docker, abortSignal) =>
              docker.getContainer(name).inspect({ abortSignal }),
            )
            .catch((error: unknown) => {
              // A proxy removed meanwhile (`heal down` removes them first) has nothing to change.
              if (error instanceof DockerApiError && error.status === 404) return null;
              throw error;
            });
          if (info === null || info.State?.Running !== true) return;
          await work({ client, socket, id: info.Id, reload: reloadsOnly(client) });
        } catch (error) {
          this.#log(`mesh proxy ${service.name} on ${host.name}: ${String(error)}`);
        }
      }),
    );
  }

  /** Polls a runtime command until `done` says so, at most for the checks to bring a member up. */
  async #until(
    client: HostClient,
    socket: string,
    done: (text: string) => Promise<boolean>,
    line: string,
  ): Promise<void> {
    const { check } = this.#stack.heal.mesh;
    const deadline = Date.now() + check.interval * (check.rise + 2) + 1000;
    while (Date.now() < deadline) {
      if (await done(await runtimeLine(client, socket, line, this.#readMs()))) return;
      await sleep(100);
    }
  }
}
