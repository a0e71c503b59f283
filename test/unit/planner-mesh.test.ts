import { describe, expect, it } from 'vitest';
import { LABEL, MESH_PROXY_ROLE } from '../../src/planner/labels.js';
import type { ObservedContainer } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import type { Action } from '../../src/planner/plan-types.js';
import { emptyWorld, ownedContainer, withContainers, withHost } from './simulate.js';
import { brief, stackOf, T0, T1 } from './plan-helpers.js';

const WEB12 = `
x-heal-extra: &x 1
services:
  web:
    image: web:v1
    ports: ["80:8080"]
    deploy: { replicas: 12 }
`;

function proxyOf(stackName: string, host: string, hash: string, id = `${host}/proxy`): ObservedContainer {
  return {
    id,
    name: `${stackName}-web-mesh`,
    host,
    image: 'haproxy:2.8-alpine',
    labels: {
      [LABEL.stack]: stackName,
      [LABEL.service]: 'web',
      [LABEL.role]: MESH_PROXY_ROLE,
      [LABEL.configHash]: hash,
    },
    service: 'web',
    slot: null,
    configHash: hash,
    state: 'running',
    health: 'none',
    exitCode: null,
    createdAt: 1,
    startedAt: 1,
    finishedAt: null,
  };
}

describe('plan: the routing mesh', () => {
  it('places 12 replicas of a published port on 3 hosts, behind a proxy on every host', async () => {
    const stack = await stackOf(WEB12);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    expect(result.unplaced).toEqual([]);
    const lines = brief(result);
    expect(lines.filter((line) => line.includes('create-proxy'))).toEqual([
      '1 create-proxy h1 web app-web-mesh',
      '1 create-proxy h2 web app-web-mesh',
      '1 create-proxy h3 web app-web-mesh',
    ]);
    expect(lines.filter((line) => line.includes(' create ')).length).toBe(12);
    expect(result.phases.map((phase) => phase.label)).toEqual(['prepare', 'mesh proxies', 'create']);

    const proxy = result.actions.find((action) => action.kind === 'create-proxy' && action.host === 'h2');
    if (proxy?.kind !== 'create-proxy') throw new Error('no proxy on h2');
    expect(proxy.create.body.HostConfig.PortBindings).toEqual({
      '8080/tcp': [{ HostIp: '', HostPort: '80' }],
    });
    expect(proxy.create.body.HostConfig.Binds).toEqual(['/run/heal/mesh/app/web:/run/heal']);
    expect(proxy.create.body.HostConfig.RestartPolicy).toEqual({ Name: 'always' });
    expect(proxy.create.body.NetworkingConfig?.EndpointsConfig).toEqual({
      app_default: { Aliases: ['web'] },
    });
    expect(proxy.create.files.map((file) => file.target)).toEqual(['/usr/local/etc/haproxy/haproxy.cfg']);
    expect(proxy.create.files[0]?.content).toContain('listen web_8080\n  bind :8080\n');

    const replica = result.actions.find((action) => action.kind === 'create' && action.host === 'h2');
    if (replica?.kind !== 'create') throw new Error('no replica on h2');
    // The target on an ephemeral port of h2's internal address; the name is the proxy's.
    expect(replica.create.body.HostConfig.PortBindings).toEqual({
      '8080/tcp': [{ HostIp: '10.0.0.12', HostPort: '' }],
    });
    expect(replica.create.body.NetworkingConfig?.EndpointsConfig?.app_default?.Aliases).toEqual([]);
  });

  it("creates a mesh service's named volume only on the hosts its replicas run on, not where only its proxy runs", async () => {
    const stack = await stackOf(`
services:
  db:
    image: db:v1
    ports: ["5432:8080"]
    volumes: ["data:/data"]
    deploy: { replicas: 1, placement: { constraints: ["node.hostname == h2"] } }
volumes:
  data: {}
`);
    const result = plan(stack, emptyWorld(stack), { now: T0 });
    const lines = brief(result);
    expect(lines.filter((line) => line.includes('create-proxy')).length).toBe(3);
    expect(lines.filter((line) => line.includes('create-volume') && !line.includes('heal-key'))).toEqual([
      '0 create-volume h2 app_data',
    ]);
  });

  it('adds running replicas a proxy lacks, removes members that are gone, and leaves a proxy in step alone', async () => {
    const stack = await stackOf(WEB12.replace('replicas: 12', 'replicas: 2'));
    const first = plan(stack, emptyWorld(stack), { now: T0 });
    const hashes = first.actions.flatMap((action: Action) =>
      action.kind === 'create-proxy' ? [action.create.body.Labels[LABEL.configHash]!] : [],
    );
    const hash = hashes[0]!;
    const replica = (host: string, slot: number, address: string, port: number): ObservedContainer => ({
      ...ownedContainer(stack, { host, service: 'web', slot, id: `${host}${slot}00000000000000` }),
      addresses: { app_default: address },
      ports: [{ target: 8080, hostPort: port }],
    });
    let world = withContainers(emptyWorld(stack), [
      replica('h1', 1, '172.18.0.2', 32768),
      replica('h2', 2, '172.18.0.3', 32769),
      proxyOf('app', 'h1', hash),
      proxyOf('app', 'h2', hash),
      proxyOf('app', 'h3', hash),
    ]);
    const inStep = (host: string) => [
      {
        backend: 'web_8080',
        server: 'h1-s1-h11000000000',
        address: host === 'h1' ? '172.18.0.2' : '10.0.0.11',
        port: host === 'h1' ? 8080 : 32768,
        admin: 'ready' as const,
        operational: 'up' as const,
      },
      {
        backend: 'web_8080',
        server: 'h2-s2-h22000000000',
        address: host === 'h2' ? '172.18.0.3' : '10.0.0.12',
        port: host === 'h2' ? 8080 : 32769,
        admin: 'ready' as const,
        operational: 'up' as const,
      },
    ];
    world = withHost(world, 'h1', {
      proxies: [{ service: 'web', container: 'h1/proxy', servers: inStep('h1'), error: null }],
    });
    world = withHost(world, 'h2', {
      proxies: [{ service: 'web', container: 'h2/proxy', servers: [], error: null }],
    });
    world = withHost(world, 'h3', {
      proxies: [
        {
          service: 'web',
          container: 'h3/proxy',
          servers: [
            ...inStep('h3'),
            {
              backend: 'web_8080',
              server: 'h3-s9-dead00000000',
              address: '172.18.0.9',
              port: 8080,
              admin: 'ready',
              operational: 'down',
            },
          ],
          error: null,
        },
      ],
    });
    const result = plan(stack, world, { now: T1 });
    expect(brief(result).filter((line) => !line.includes('create-network'))).toEqual([
      '1 mesh-sync h2 web add server web_8080/h1-s1-h11000000000 10.0.0.11:32768 check inter 1000ms fall 2 rise 1 | enable health web_8080/h1-s1-h11000000000 | enable server web_8080/h1-s1-h11000000000; set server web_8080/h1-s1-h11000000000 health down | add server web_8080/h2-s2-h22000000000 172.18.0.3:8080 check inter 1000ms fall 2 rise 1 | enable health web_8080/h2-s2-h22000000000 | enable server web_8080/h2-s2-h22000000000; set server web_8080/h2-s2-h22000000000 health down',
      '1 mesh-sync h3 web set server web_8080/h3-s9-dead00000000 state maint | shutdown sessions server web_8080/h3-s9-dead00000000 | del server web_8080/h3-s9-dead00000000',
    ]);
  });

  it('replaces a proxy whose config changed, and lets a mesh service roll out start-first', async () => {
    const stack = await stackOf(
      WEB12.replace('replicas: 12', 'replicas: 1, update_config: { order: start-first }'),
    );
    const world = withContainers(emptyWorld(stack), [
      ownedContainer(stack, { host: 'h1', service: 'web', slot: 1, configHash: 'v1:old' }),
      proxyOf('app', 'h1', 'mesh:old'),
    ]);
    const lines = brief(plan(stack, world, { now: T1 }));
    expect(lines).toContain('1 create-proxy h1 web app-web-mesh replaces app-web-mesh');
    expect(lines.some((line) => /replace h1 web\/1 .* start-first$/.test(line))).toBe(true);
  });

  it('switches a port between mode host and the mesh in one plan: the port is freed before it is taken', async () => {
    const host = await stackOf(
      WEB12.replace('"80:8080"', '{ target: 8080, published: 80, mode: host }').replace(
        'replicas: 12',
        'replicas: 1',
      ),
    );
    const ingress = await stackOf(WEB12.replace('replicas: 12', 'replicas: 1'));
    // web/1 binds port 80 on h1 itself (mode host): h1's proxy is made once it is replaced; h2's and h3's at once.
    const bound = ownedContainer(host, { host: 'h1', service: 'web', slot: 1 });
    const toMesh = brief(
      plan(
        ingress,
        withContainers(emptyWorld(ingress), [{ ...bound, ports: [{ target: 8080, hostPort: 80 }] }]),
        {
          now: T1,
        },
      ),
    ).filter((line) => !line.includes('network') && !line.includes('pull'));
    const phaseOf = (lines: string[], pattern: RegExp): number =>
      Number(lines.find((line) => pattern.test(line))?.split(' ')[0] ?? Number.NaN);
    const replaced = phaseOf(toMesh, /^\d+ replace h1 web\/1/);
    expect(phaseOf(toMesh, /^\d+ create-proxy h1 /)).toBeGreaterThan(replaced);
    expect(phaseOf(toMesh, /^\d+ create-proxy h2 /)).toBeLessThan(replaced);
    // Back to mode host: every proxy goes before the replica that binds the port starts.
    const meshed = ownedContainer(ingress, { host: 'h1', service: 'web', slot: 1 });
    const toHost = brief(
      plan(
        host,
        withContainers(emptyWorld(host), [
          meshed,
          proxyOf('app', 'h1', 'mesh:x', 'h1/proxy'),
          proxyOf('app', 'h2', 'mesh:x', 'h2/proxy'),
        ]),
        { now: T1 },
      ),
    );
    const back = phaseOf(toHost, /^\d+ replace h1 web\/1/);
    expect(phaseOf(toHost, /^\d+ remove-proxy h1 /)).toBeLessThan(back);
    expect(phaseOf(toHost, /^\d+ remove-proxy h2 /)).toBeLessThan(back);
  });
});
