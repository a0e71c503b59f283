import type { MeshHost, MeshReplica, MeshService } from './types.js';

export type Endpoint = { readonly address: string; readonly port: number };

/**
 * Where a host's proxy reaches a replica's target port: a replica on the same host by its
 * container address on the service's network (no hairpin through the host); one on another host
 * by that host's internal address and the ephemeral port the engine published the target on.
 * null when the replica cannot be reached (no address, no published port).
 */
export function replicaEndpoint(
  replica: MeshReplica,
  target: number,
  proxyHost: string,
  service: Pick<MeshService, 'network'>,
  hosts: ReadonlyMap<string, MeshHost>,
): Endpoint | null {
  if (replica.host === proxyHost) {
    const address = replica.addresses[service.network];
    return address === undefined || address === '' ? null : { address, port: target };
  }
  const address = hosts.get(replica.host)?.address ?? null;
  const published = replica.ports.find((port) => port.target === target);
  if (address === null || published === undefined) return null;
  return { address, port: published.hostPort };
}
