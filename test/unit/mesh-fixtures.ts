import type { MeshHost, MeshListener, MeshReplica, MeshService, MeshWorld } from '../../src/mesh/types.js';

/** Three hosts on 10.0.0.11-13, all up, unless a test says otherwise. */
export function hosts(status: Partial<Record<string, MeshHost['status']>> = {}): MeshHost[] {
  return ['h1', 'h2', 'h3'].map((name, index) => ({
    name,
    status: status[name] ?? 'up',
    address: `10.0.0.${11 + index}`,
  }));
}

export function listener(service: string, target: number, published: number[] = []): MeshListener {
  return {
    service,
    target,
    published: published.map((port) => ({ port, hostIp: null })),
    mode: 'tcp',
    proxyProtocol: null,
  };
}

export const WEB: MeshService = {
  name: 'web',
  network: 'blog_default',
  listeners: [listener('web', 4000, [80])],
};

/** A running, healthy replica of web with a 12-hex-digit id made from host and slot. */
export function replica(host: string, slot: number, overrides: Partial<MeshReplica> = {}): MeshReplica {
  const index = Number(host.slice(1));
  return {
    id: `${host.slice(1)}${String(slot).padStart(3, '0')}abcdef0123456789`,
    host,
    service: 'web',
    slot,
    state: 'running',
    health: 'healthy',
    addresses: { blog_default: `172.18.${index}.${slot + 1}` },
    ports: [{ target: 4000, hostPort: 32700 + slot }],
    ...overrides,
  };
}

export function world(replicas: MeshReplica[], options: Partial<MeshWorld> = {}): MeshWorld {
  return { hosts: hosts(), replicas, leaving: new Set(), ...options };
}
