import type { MeshListener, MeshReplica } from './types.js';

/**
 * HAProxy names hold letters, digits, `-`, `_`, `.` and `:`; heal's host and service names use
 * a subset of those, so names need no escaping.
 */

/** One backend per listener: `web_4000`. A `listen` section, so frontend and backend share it. */
export function backendName(listener: Pick<MeshListener, 'service' | 'target'>): string {
  return `${listener.service}_${listener.target}`;
}

/**
 * A server per replica, named after the container (not the slot), so that a replacement gets a
 * new name and is added before the replica it replaces is drained: `h2-s3-0123456789ab`.
 */
export function serverName(replica: Pick<MeshReplica, 'host' | 'slot' | 'id'>): string {
  return `${replica.host}-s${replica.slot}-${replica.id.slice(0, 12)}`;
}

/** The container name of a host's proxy for a service: `blog-web-mesh`. */
export function proxyName(stack: string, service: string): string {
  return `${stack}-${service}-mesh`;
}
