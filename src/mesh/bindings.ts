import type { MeshListener } from './types.js';

/** Docker's `HostConfig.PortBindings` entry: an empty `HostPort` lets the engine choose one. */
export type PortBinding = { readonly HostIp: string; readonly HostPort: string };

/**
 * What a replica of a mesh service publishes: each listener's target port on an ephemeral port
 * of the host's internal address only, for the other hosts' proxies. Never on every address:
 * the published ports belong to the proxy.
 */
export function replicaBindings(
  listeners: readonly MeshListener[],
  internalAddress: string,
): Record<string, PortBinding[]> {
  return Object.fromEntries(
    listeners.map((listener) => [`${listener.target}/tcp`, [{ HostIp: internalAddress, HostPort: '' }]]),
  );
}

/** What a host's proxy publishes: each published port onto the listener's target port. */
export function proxyBindings(listeners: readonly MeshListener[]): Record<string, PortBinding[]> {
  return Object.fromEntries(
    listeners
      .filter((listener) => listener.published.length > 0)
      .map((listener) => [
        `${listener.target}/tcp`,
        listener.published.map((published) => ({
          HostIp: published.hostIp ?? '',
          HostPort: String(published.port),
        })),
      ]),
  );
}
