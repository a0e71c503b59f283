import type { PortMapping, Service } from './types.js';

/**
 * The rule that makes a service one the routing mesh serves, in one place: the spec's config hash
 * reads it, src/mesh/listeners.ts builds each service's listeners from the same two parts.
 */

/** A TCP port published in ingress mode: the mesh's proxy holds it. */
export function isIngressTcp(port: PortMapping): boolean {
  return port.mode === 'ingress' && port.protocol === 'tcp';
}

/** `expose` entries are `PORT/PROTO`: the TCP ports among them, each a listener of the mesh. */
export function exposedTcpPorts(expose: readonly string[]): number[] {
  return expose.flatMap((entry) => {
    const [port, protocol = 'tcp'] = entry.split('/');
    const number = Number(port);
    return protocol === 'tcp' && Number.isInteger(number) && number > 0 ? [number] : [];
  });
}

/** Whether the mesh serves the service: it joins networks and has an ingress TCP port or a TCP `expose`. */
export function servesMesh(service: Pick<Service, 'networkMode' | 'networks' | 'ports' | 'expose'>): boolean {
  if (service.networkMode !== null || service.networks.length === 0) return false;
  return service.ports.some(isIngressTcp) || exposedTcpPorts(service.expose).length > 0;
}
