import { exposedTcpPorts, isIngressTcp } from '../spec/mesh-ports.js';
import type { PortMapping, Service } from '../spec/types.js';
import type { ListenerMode, MeshListener, MeshService, ProxyProtocol, PublishedPort } from './types.js';

/**
 * A port as the mesh reads it: the spec's mapping, plus compose's `app_protocol` and heal's
 * `x-proxy-protocol` from the long syntax (absent until the spec carries them: TCP, no header).
 */
export type MeshPort = PortMapping & {
  readonly appProtocol?: string | null;
  readonly proxyProtocol?: ProxyProtocol;
};

export type MeshServiceInput = Pick<Service, 'name' | 'expose'> & {
  readonly ports: readonly MeshPort[];
  /** The engine name of the service's first network. */
  readonly network: string;
};

export type ListenersResult = {
  readonly services: readonly MeshService[];
  readonly errors: readonly string[];
};

/**
 * The listeners of every service of a stack: each TCP target port published in `mode: ingress`
 * or named in `expose`. Services with none get no proxy (their replicas keep the name, locally,
 * as today). Errors name the service and the port, each one once, so a spec with several reports all.
 */
export function stackListeners(services: readonly MeshServiceInput[]): ListenersResult {
  const sorted = [...services].sort((a, b) => compare(a.name, b.name));
  const results = sorted.map(serviceListeners);
  const errors = [...results.flatMap((result) => result.errors), ...publishedClashes(results)];
  const meshServices = sorted.flatMap((service, index) => {
    const listeners = results[index]?.listeners ?? [];
    return listeners.length === 0 ? [] : [{ name: service.name, network: service.network, listeners }];
  });
  return { services: meshServices, errors };
}

type ServiceListeners = { readonly listeners: readonly MeshListener[]; readonly errors: readonly string[] };

function serviceListeners(service: MeshServiceInput): ServiceListeners {
  const ingress = service.ports.filter((port) => port.mode === 'ingress');
  const errors = ingress.flatMap((port) =>
    port.protocol === 'tcp' ? [] : [nonTcpError(service.name, port)],
  );
  const tcp = ingress.filter(isIngressTcp);
  const targets = [...new Set([...tcp.map((port) => port.target), ...exposedTcpPorts(service.expose)])];
  const listeners: MeshListener[] = [];
  for (const target of targets.sort((a, b) => a - b)) {
    const ports = tcp.filter((port) => port.target === target);
    const listener = listenerFor(service.name, target, ports);
    if ('error' in listener) errors.push(listener.error);
    else listeners.push(listener.value);
  }
  return { listeners, errors };
}

function nonTcpError(service: string, port: PortMapping): string {
  const published = port.published === null ? '' : `${port.published}:`;
  return (
    `services.${service}.ports: ${published}${port.target}/${port.protocol} is in mode ingress, ` +
    `which heal's routing mesh serves over TCP only: give it mode: host`
  );
}

function listenerFor(
  service: string,
  target: number,
  ports: readonly MeshPort[],
): { value: MeshListener } | { error: string } {
  const modes = new Set(ports.map((port) => modeOf(port.appProtocol)));
  const headers = new Set(ports.map((port) => port.proxyProtocol ?? null));
  if (modes.size > 1 || headers.size > 1) {
    return {
      error: `services.${service}.ports: the ports of target ${target} disagree on app_protocol or x-proxy-protocol`,
    };
  }
  const mode = [...modes][0] ?? 'tcp';
  const proxyProtocol = [...headers][0] ?? null;
  if (mode === 'http' && proxyProtocol !== null) {
    return {
      error: `services.${service}.ports: target ${target} is HTTP, which carries the client in X-Forwarded-For, not the PROXY protocol`,
    };
  }
  const published = uniquePublished(ports);
  return { value: { service, target, published, mode, proxyProtocol } };
}

function modeOf(appProtocol: string | null | undefined): ListenerMode {
  return appProtocol === 'http' ? 'http' : 'tcp';
}

function uniquePublished(ports: readonly MeshPort[]): PublishedPort[] {
  const seen = new Map<string, PublishedPort>();
  for (const port of ports) {
    if (port.published === null) continue;
    const value = { port: port.published, hostIp: port.hostIp };
    seen.set(`${value.hostIp ?? ''}:${value.port}`, value);
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || compare(a.hostIp ?? '', b.hostIp ?? ''));
}

/** Two services' proxies cannot both hold one host port. */
function publishedClashes(results: readonly ServiceListeners[]): string[] {
  const owners = new Map<number, string[]>();
  for (const listener of results.flatMap((result) => result.listeners)) {
    for (const published of listener.published) {
      const names = owners.get(published.port) ?? [];
      if (!names.includes(listener.service)) names.push(listener.service);
      owners.set(published.port, names);
    }
  }
  return [...owners.entries()]
    .filter(([, names]) => names.length > 1)
    .sort(([a], [b]) => a - b)
    .map(
      ([port, names]) =>
        `ports: ${port} is published in mode ingress by ${names.join(' and ')}: one service per port`,
    );
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
