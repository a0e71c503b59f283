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

/** The host folder a proxy's runtime socket is in: bind-mounted on /run/heal, created by dockerd. */
export function proxySocketFolder(stack: string, service: string): string {
  return `/run/heal/mesh/${stack}/${service}`;
}

/** The runtime API socket inside a proxy's container, and the same socket on its host. */
export const PROXY_SOCKET = '/run/heal/admin.sock';

export function proxySocketOnHost(stack: string, service: string): string {
  return `${proxySocketFolder(stack, service)}/admin.sock`;
}

/** Where the official HAProxy image (and the test bed's) reads its config. */
export const PROXY_CONFIG = '/usr/local/etc/haproxy/haproxy.cfg';
