import type { Service, Stack } from '../spec/types.js';
import { stackListeners, type ListenersResult, type MeshServiceInput } from './listeners.js';
import type { MeshService } from './types.js';

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

const CACHE = new WeakMap<object, ReadonlyMap<string, MeshService>>();

/** A service's mesh view (its listeners), or null when it has none; computed once per stack. */
export function meshServiceOf(
  stack: { readonly services: Stack['services']; readonly networks: Stack['networks'] },
  name: string,
): MeshService | null {
  let known = CACHE.get(stack);
  if (known === undefined) {
    known = new Map(meshServices(stack).services.map((service) => [service.name, service]));
    CACHE.set(stack, known);
  }
  return known.get(name) ?? null;
}
