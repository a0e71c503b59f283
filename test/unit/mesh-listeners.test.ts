import { describe, expect, it } from 'vitest';
import { stackListeners, type MeshPort, type MeshServiceInput } from '../../src/mesh/listeners.js';

function port(target: number, published: number | null, extra: Partial<MeshPort> = {}): MeshPort {
  return { target, published, hostIp: null, protocol: 'tcp', mode: 'ingress', ...extra };
}

function service(name: string, ports: MeshPort[], expose: string[] = []): MeshServiceInput {
  return { name, ports, expose, network: 'blog_default' };
}

describe('stackListeners', () => {
  it('gives each TCP target port in mode ingress one listener, with the ports that publish it', () => {
    const result = stackListeners([service('web', [port(4000, 80), port(4000, 8080), port(9000, null)])]);
    expect(result.errors).toEqual([]);
    expect(result.services).toEqual([
      {
        name: 'web',
        network: 'blog_default',
        listeners: [
          {
            service: 'web',
            target: 4000,
            published: [
              { port: 80, hostIp: null },
              { port: 8080, hostIp: null },
            ],
            mode: 'tcp',
            proxyProtocol: null,
          },
          { service: 'web', target: 9000, published: [], mode: 'tcp', proxyProtocol: null },
        ],
      },
    ]);
  });

  it('leaves mode host ports as they are, and gives a service without mesh ports no proxy', () => {
    const result = stackListeners([
      service('db', [port(5432, 5432, { mode: 'host' })]),
      service('worker', []),
    ]);
    expect(result).toEqual({ services: [], errors: [] });
  });

  it('serves expose: TCP ports by name, not UDP ones', () => {
    const result = stackListeners([service('db', [], ['5432', '5433/tcp', '53/udp'])]);
    expect(result.services[0]?.listeners.map((l) => [l.target, l.published])).toEqual([
      [5432, []],
      [5433, []],
    ]);
  });

  it('refuses UDP in mode ingress, pointing at mode host, and reports every mistake', () => {
    const result = stackListeners([
      service('dns', [port(53, 53, { protocol: 'udp' }), port(5353, null, { protocol: 'udp' })]),
    ]);
    expect(result.errors).toEqual([
      "services.dns.ports: 53:53/udp is in mode ingress, which heal's routing mesh serves over TCP only: give it mode: host",
      "services.dns.ports: 5353/udp is in mode ingress, which heal's routing mesh serves over TCP only: give it mode: host",
    ]);
  });

  it('serves app_protocol http in HTTP mode and sends the PROXY header only when asked', () => {
    const result = stackListeners([
      service('web', [port(4000, 80, { appProtocol: 'http' })]),
      service('smtp', [port(25, 25, { proxyProtocol: 'v2' })]),
    ]);
    expect(result.services.map((s) => [s.name, s.listeners[0]?.mode, s.listeners[0]?.proxyProtocol])).toEqual(
      [
        ['smtp', 'tcp', 'v2'],
        ['web', 'http', null],
      ],
    );
  });

  it('refuses ports of one target that disagree, and PROXY protocol on HTTP', () => {
    const result = stackListeners([
      service('web', [port(4000, 80, { appProtocol: 'http' }), port(4000, 81)]),
      service('api', [port(5000, 82, { appProtocol: 'http', proxyProtocol: 'v1' })]),
    ]);
    expect(result.errors).toEqual([
      'services.api.ports: target 5000 is HTTP, which carries the client in X-Forwarded-For, not the PROXY protocol',
      'services.web.ports: the ports of target 4000 disagree on app_protocol or x-proxy-protocol',
    ]);
  });

  it('refuses one host port published by two services, and lets two services share a target port', () => {
    const result = stackListeners([service('web', [port(4000, 80)]), service('api', [port(4000, 80)])]);
    expect(result.errors).toEqual([
      'ports: 80 is published in mode ingress by api and web: one service per port',
    ]);
    const shared = stackListeners([service('web', [port(4000, 80)]), service('api', [port(4000, 81)])]);
    expect(shared.errors).toEqual([]);
    expect(shared.services.map((s) => s.listeners[0]?.target)).toEqual([4000, 4000]);
  });
});
