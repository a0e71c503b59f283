import { replicaEndpoint } from './endpoint.js';
import { compare } from './listeners.js';
import { backendName, serverName } from './names.js';
import type {
  Backend,
  MeshHost,
  MeshReplica,
  MeshService,
  MeshWorld,
  Member,
  ProxyMembership,
} from './types.js';

/** The hosts that run a proxy for every mesh service: every host heal can reach. */
export function proxyHosts(world: Pick<MeshWorld, 'hosts'>): string[] {
  return world.hosts
    .filter((host) => host.status === 'up')
    .map((host) => host.name)
    .sort(compare);
}

/**
 * What one host's proxy for one service should balance over: for each listener, every replica
 * of the service on every host that runs and is healthy (or has no healthcheck), reachable from
 * this host. A replica the plan is about to stop is a `drain` member; it is never added as one
 * (see diff.ts). Members are sorted by server name, so the output is the same for the same world.
 */
export function desiredMembership(
  world: MeshWorld,
  service: MeshService,
  proxyHost: string,
): ProxyMembership {
  const hosts = new Map(world.hosts.map((host) => [host.name, host]));
  const replicas = world.replicas.filter(
    (replica) => replica.service === service.name && serves(replica, hosts),
  );
  const backends = service.listeners.map((listener): Backend => {
    const members = replicas.flatMap((replica): Member[] => {
      const endpoint = replicaEndpoint(replica, listener.target, proxyHost, service, hosts);
      if (endpoint === null) return [];
      const state = world.leaving.has(replica.id) ? 'drain' : 'ready';
      return [{ server: serverName(replica), replica: replica.id, ...endpoint, state }];
    });
    return {
      name: backendName(listener),
      listener,
      members: members.sort((a, b) => compare(a.server, b.server)),
    };
  });
  const unknownHosts = world.hosts
    .filter((host) => host.status === 'unreachable')
    .map((host) => host.name)
    .sort(compare);
  return { host: proxyHost, service: service.name, backends, unknownHosts };
}

/** A replica takes traffic when it runs on a host heal sees, and its healthcheck (if any) passes. */
function serves(replica: MeshReplica, hosts: ReadonlyMap<string, MeshHost>): boolean {
  if (hosts.get(replica.host)?.status !== 'up') return false;
  if (replica.state !== 'running') return false;
  return replica.health === 'healthy' || replica.health === 'none';
}
