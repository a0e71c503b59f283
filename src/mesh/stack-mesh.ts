import type { Service, Stack } from '../spec/types.js';
import { stackListeners, type ListenersResult, type MeshServiceInput } from './listeners.js';

type MeshSource = Pick<Service, 'name' | 'expose' | 'ports' | 'networks' | 'networkMode'>;

/**
 * The mesh services of a stack: each service that joins networks (not `network_mode`) and has a
 * listener. Its network is the engine name of its first network, which its replicas and its
 * proxy both join.
 */
export function meshServices(stack: {
  readonly services: Readonly<Record<string, MeshSource>>;
  readonly networks: Stack['networks'];
}): ListenersResult {
  const inputs = Object.values(stack.services).flatMap((service): MeshServiceInput[] => {
    const first = service.networks[0];
    if (service.networkMode !== null || first === undefined) return [];
    const network = stack.networks[first.name]?.engineName ?? first.name;
    return [{ name: service.name, expose: service.expose, ports: service.ports, network }];
  });
  return stackListeners(inputs);
}
