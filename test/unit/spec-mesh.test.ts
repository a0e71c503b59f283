import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';

const folder = mkdtempSync(join(tmpdir(), 'heal-spec-mesh-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

let loads = 0;

/** Loads `text` (a whole spec) from a file of its own. */
async function load(text: string): Promise<Stack> {
  loads += 1;
  const file = `stack-${loads}.yml`;
  writeFileSync(join(folder, file), text);
  return loadStack({ file, cwd: folder, environment: {} });
}

async function problems(text: string): Promise<string[]> {
  const outcome = await load(text).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(SpecError);
  return (outcome as SpecError).message.split('\n').map((line) => line.replace(/^stack-\d+\.yml:/, ''));
}

const HOSTS =
  'x-heal:\n  hosts:\n    h1: { ssh: 10.0.0.11 }\n    h2: { ssh: 10.0.0.12, address: 10.1.0.12 }\n';

describe('the routing mesh in the spec', () => {
  it('reads app_protocol and x-proxy-protocol on long-syntax ports', async () => {
    const stack = await load(
      `name: t\n${HOSTS}services:\n  web:\n    image: nginx\n    ports:\n` +
        '      - { target: 80, published: 80, app_protocol: http }\n' +
        '      - { target: 5432, published: 5432, x-proxy-protocol: v2 }\n',
    );
    expect(stack.services.web?.ports).toEqual([
      { target: 80, published: 80, hostIp: null, protocol: 'tcp', mode: 'ingress', appProtocol: 'http' },
      { target: 5432, published: 5432, hostIp: null, protocol: 'tcp', mode: 'ingress', proxyProtocol: 'v2' },
    ]);
  });

  it('refuses a PROXY header on an HTTP port, and an unknown version', async () => {
    expect(
      await problems(
        `name: t\n${HOSTS}services:\n  web:\n    image: nginx\n    ports:\n` +
          '      - { target: 80, app_protocol: http, x-proxy-protocol: v1 }\n' +
          '      - { target: 81, x-proxy-protocol: v3 }\n',
      ),
    ).toEqual([
      '10:9 services.web.ports[0]: app_protocol http carries the client in X-Forwarded-For: drop x-proxy-protocol, or the app_protocol',
      '11:9 services.web.ports[1]: x-proxy-protocol "v3" is not v1 or v2',
    ]);
  });

  it('reads x-heal.mesh with its defaults, and each host internal address', async () => {
    const stack = await load(
      `name: t\n${HOSTS}  mesh: { image: proxy:v1, check: { interval: 500ms, fall: 3 } }\nservices:\n  web: { image: nginx }\n`,
    );
    expect(stack.heal.mesh).toEqual({
      image: 'proxy:v1',
      drainTimeout: 30_000,
      socketGid: null,
      check: { interval: 500, fall: 3, rise: 1 },
    });
    expect(stack.heal.hosts.h1?.internalAddress).toBe('10.0.0.11');
    expect(stack.heal.hosts.h2?.internalAddress).toBe('10.1.0.12');
    const plain = await load(`name: t\n${HOSTS}services:\n  web: { image: nginx }\n`);
    expect(plain.heal.mesh.image).toBe('haproxy:2.8-alpine');
  });

  it('refuses a mesh stack with a host that has no internal address', async () => {
    const spec =
      'name: t\nx-heal:\n  hosts:\n    h1: { ssh: example.com }\n' +
      'services:\n  web:\n    image: nginx\n    ports: ["80:8080"]\n';
    expect(await problems(spec)).toEqual([
      '4:5 x-heal.hosts.h1: needs `address:` (the IP other hosts reach its replicas on): web publish or expose ports through the routing mesh',
    ]);
    // Without a mesh service the address is not needed.
    await load(
      'name: t\nx-heal:\n  hosts:\n    h1: { ssh: example.com }\nservices:\n  web: { image: nginx }\n',
    );
  });

  it('publishes a short-syntax UDP port in mode host, with a warning; refuses an explicit ingress one', async () => {
    const stack = await load(
      `name: t\n${HOSTS}services:\n  dns:\n    image: pihole\n    ports: ["53:53/tcp", "53:53/udp"]\n`,
    );
    expect(stack.services.dns?.ports.map((port) => `${port.protocol} ${port.mode}`)).toEqual([
      'tcp ingress',
      'udp host',
    ]);
    expect(stack.warnings.map((line) => line.replace(/^stack-\d+\.yml:/, ''))).toEqual([
      "9:26 services.dns.ports[1]: 53:53/udp is published as mode: host (one replica per host): heal's routing mesh serves TCP only",
    ]);
    expect(
      await problems(
        `name: t\n${HOSTS}services:\n  dns:\n    image: pihole\n    ports:\n      - { target: 53, protocol: udp, mode: ingress }\n`,
      ),
    ).toEqual([
      "10:9 services.dns.ports[0]: mode ingress with protocol udp: heal's routing mesh serves TCP only: give it mode: host",
    ]);
  });

  it('reads x-heal.mesh.socket_gid, and refuses x-heal-mesh (not built) with what to write instead', async () => {
    const stack = await load(
      `name: t\n${HOSTS}  mesh: { socket_gid: 999 }\nservices:\n  web: { image: nginx }\n`,
    );
    expect(stack.heal.mesh.socketGid).toBe(999);
    expect(
      await problems(`name: t\n${HOSTS}  mesh: { socket_gid: -1 }\nservices:\n  web: { image: nginx }\n`),
    ).toHaveLength(1);
    expect(
      await problems(`name: t\n${HOSTS}services:\n  web:\n    image: nginx\n    x-heal-mesh: false\n`),
    ).toEqual([
      '9:5 services.web.x-heal-mesh: is not built yet: to keep a port out of the routing mesh, publish it with mode: host (long syntax)',
    ]);
  });
});
