import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  containerConfig,
  createQuery,
  extraNetworks,
  fileMounts,
  type SlotIdentity,
} from '../../src/planner/container-config.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** Loads `spec` as stack.yml in a fresh folder holding `files` too. */
async function load(spec: string, files: Readonly<Record<string, string>> = {}): Promise<Stack> {
  const folder = mkdtempSync(join(tmpdir(), 'heal-cc-'));
  folders.push(folder);
  for (const [name, text] of Object.entries({ 'stack.yml': spec, ...files }))
    writeFileSync(join(folder, name), text);
  return loadStack({ file: 'stack.yml', environment: {}, cwd: folder });
}

/** Slot `slot` of `service` on h1. */
function slotOf(stack: Stack, service: string, slot = 1, revision: string | null = 'abc123'): SlotIdentity {
  const found = stack.services[service];
  if (!found) throw new Error(`no service ${service}`);
  return {
    stack,
    service: found,
    slot,
    host: 'h1',
    name: `${stack.name}-${service}-${slot}`,
    generation: 'g7',
    revision,
  };
}

const RICH = `
name: shop
services:
  web:
    image: registry.example.com/web:v1
    command: [serve, --port, "8080"]
    entrypoint: [/bin/entry]
    environment:
      ZED: last
      ALPHA: first
      UNSET:
    # mode: host, as before the routing mesh: this is about the create body of each port syntax.
    ports:
      - { target: 8080, published: 80, mode: host }
      - "127.0.0.1:9090:9090/udp"
      - { target: 8080, published: 81, mode: host }
      - { target: 3000, mode: host }
    expose: ["7001/udp"]
    volumes:
      - data:/data:ro,nocopy
      - /var/lib/anon
      - ./conf:/etc/conf:ro
      - type: bind
        source: /srv/logs
        target: /logs
        bind: { propagation: rshared }
      - type: tmpfs
        target: /cache
        tmpfs: { size: 10m, mode: 0o1777 }
    networks:
      front: { aliases: [www, web], ipv4_address: 172.28.0.10 }
      back: { aliases: [api] }
    labels: { tier: web, app: shop, io.heal.slot: forged }
    healthcheck:
      test: [CMD, wget, -qO-, "localhost:8080/health"]
      interval: 5s
      timeout: 2s
      retries: 4
      start_period: 10s
      start_interval: 1s
    restart: on-failure:3
    stop_signal: SIGINT
    stop_grace_period: 1500ms
    user: "1000:1000"
    working_dir: /app
    hostname: web
    domainname: example.com
    extra_hosts: ["db.local:10.0.0.5"]
    dns: [9.9.9.9, 1.1.1.1]
    dns_search: [example.com]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    devices: [/dev/fuse, "/dev/sda:/dev/xvda:r", "/dev/snd:rw"]
    group_add: [audio]
    privileged: true
    read_only: true
    init: true
    tty: true
    stdin_open: true
    shm_size: 64m
    pid: host
    ipc: shareable
    platform: linux/amd64
    runtime: runc
    ulimits: { nproc: 512, nofile: { soft: 1024, hard: 2048 } }
    sysctls: { net.ipv4.tcp_syncookies: "0", net.core.somaxconn: "1024" }
    tmpfs: ["/run:size=64m", /tmp]
    logging: { driver: json-file, options: { max-size: 10m, max-file: "3" } }
    secrets: [token, { source: token, target: other, uid: "1000", gid: "1000", mode: 0o400 }]
    configs: [{ source: app, target: /etc/app.conf, mode: 0o440 }]
    deploy:
      replicas: 2
      resources:
        limits: { cpus: "0.5", memory: 256M, pids: 100 }
        reservations: { cpus: "0.25", memory: 64M }
networks:
  front: { ipam: { config: [{ subnet: 172.28.0.0/16 }] } }
  back: { name: shop-backend }
volumes:
  data: {}
secrets:
  token: { file: ./token.txt }
configs:
  app: { file: ./app.conf }
`;

describe('containerConfig', () => {
  it('turns every key of a rich service into the create body', async () => {
    const stack = await load(RICH, { 'token.txt': 's3cret', 'app.conf': 'x=1' });
    const id = slotOf(stack, 'web', 2);
    expect(containerConfig(id)).toStrictEqual({
      Image: 'registry.example.com/web:v1',
      Cmd: ['serve', '--port', '8080'],
      Entrypoint: ['/bin/entry'],
      Env: ['ALPHA=first', 'ZED=last'],
      Labels: {
        app: 'shop',
        'com.docker.compose.container-number': '2',
        'com.docker.compose.project': 'shop',
        'com.docker.compose.service': 'web',
        'io.heal.config-hash': stack.services.web?.configHash,
        'io.heal.generation': 'g7',
        'io.heal.revision': 'abc123',
        'io.heal.service': 'web',
        'io.heal.slot': '2',
        'io.heal.stack': 'shop',
        tier: 'web',
      },
      ExposedPorts: { '3000/tcp': {}, '7001/udp': {}, '8080/tcp': {}, '9090/udp': {} },
      Hostname: 'web',
      Domainname: 'example.com',
      User: '1000:1000',
      WorkingDir: '/app',
      Tty: true,
      OpenStdin: true,
      StopSignal: 'SIGINT',
      StopTimeout: 2,
      Healthcheck: {
        Test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'],
        Interval: 5_000_000_000,
        Timeout: 2_000_000_000,
        StartPeriod: 10_000_000_000,
        Retries: 4,
        StartInterval: 1_000_000_000,
      },
      HostConfig: {
        Binds: [`${stack.dir}/conf:/etc/conf:ro`],
        Mounts: [
          {
            Type: 'volume',
            Source: 'shop_data',
            Target: '/data',
            ReadOnly: true,
            VolumeOptions: { NoCopy: true },
          },
          { Type: 'volume', Target: '/var/lib/anon' },
          { Type: 'bind', Source: '/srv/logs', Target: '/logs', BindOptions: { Propagation: 'rshared' } },
          { Type: 'tmpfs', Target: '/cache', TmpfsOptions: { SizeBytes: 10 * 1024 ** 2, Mode: 0o1777 } },
        ],
        Tmpfs: { '/run': 'size=64m', '/tmp': '' },
        PortBindings: {
          '3000/tcp': [{ HostIp: '', HostPort: '' }],
          '8080/tcp': [
            { HostIp: '', HostPort: '80' },
            { HostIp: '', HostPort: '81' },
          ],
          '9090/udp': [{ HostIp: '127.0.0.1', HostPort: '9090' }],
        },
        NetworkMode: 'shop_front',
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
        Privileged: true,
        ReadonlyRootfs: true,
        Init: true,
        CapAdd: ['NET_ADMIN'],
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
        Devices: [
          { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
          { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'r' },
          { PathOnHost: '/dev/snd', PathInContainer: '/dev/snd', CgroupPermissions: 'rw' },
        ],
        GroupAdd: ['audio'],
        Dns: ['9.9.9.9', '1.1.1.1'],
        DnsSearch: ['example.com'],
        ExtraHosts: ['db.local:10.0.0.5'],
        ShmSize: 64 * 1024 ** 2,
        PidMode: 'host',
        IpcMode: 'shareable',
        Runtime: 'runc',
        Ulimits: [
          { Name: 'nofile', Soft: 1024, Hard: 2048 },
          { Name: 'nproc', Soft: 512, Hard: 512 },
        ],
        Sysctls: { 'net.core.somaxconn': '1024', 'net.ipv4.tcp_syncookies': '0' },
        LogConfig: { Type: 'json-file', Config: { 'max-file': '3', 'max-size': '10m' } },
        NanoCpus: 500_000_000,
        Memory: 256 * 1024 ** 2,
        MemoryReservation: 64 * 1024 ** 2,
        PidsLimit: 100,
      },
      NetworkingConfig: {
        EndpointsConfig: {
          shop_front: { Aliases: ['web', 'www'], IPAMConfig: { IPv4Address: '172.28.0.10' } },
        },
      },
    });
  });

  it('leaves the rest of a rich service to the executor', async () => {
    const stack = await load(RICH, { 'token.txt': 's3cret', 'app.conf': 'x=1' });
    const id = slotOf(stack, 'web', 2);
    expect(createQuery(id)).toEqual({ name: 'shop-web-2', platform: 'linux/amd64' });
    expect(extraNetworks(id)).toEqual([
      {
        name: 'shop-backend',
        aliases: ['web', 'api'],
        ipv4Address: null,
        ipv6Address: null,
        macAddress: null,
      },
    ]);
    expect(fileMounts(id)).toEqual([
      {
        kind: 'secret',
        source: 'token',
        target: '/run/secrets/token',
        file: join(stack.dir, 'token.txt'),
        uid: null,
        gid: null,
        mode: null,
      },
      {
        kind: 'secret',
        source: 'token',
        target: '/run/secrets/other',
        file: join(stack.dir, 'token.txt'),
        uid: '1000',
        gid: '1000',
        mode: 0o400,
      },
      {
        kind: 'config',
        source: 'app',
        target: '/etc/app.conf',
        file: join(stack.dir, 'app.conf'),
        uid: null,
        gid: null,
        mode: 0o440,
      },
    ]);
  });

  it('gives a minimal service a minimal body on the default network', async () => {
    const stack = await load('name: mini\nservices:\n  app:\n    image: busybox\n');
    const id = slotOf(stack, 'app', 1, null);
    expect(containerConfig(id)).toStrictEqual({
      Image: 'busybox',
      Labels: {
        'com.docker.compose.container-number': '1',
        'com.docker.compose.project': 'mini',
        'com.docker.compose.service': 'app',
        'io.heal.config-hash': stack.services.app?.configHash,
        'io.heal.generation': 'g7',
        'io.heal.service': 'app',
        'io.heal.slot': '1',
        'io.heal.stack': 'mini',
      },
      StopTimeout: 10,
      HostConfig: { NetworkMode: 'mini_default', RestartPolicy: { Name: 'no' } },
      NetworkingConfig: { EndpointsConfig: { mini_default: { Aliases: ['app'] } } },
    });
    expect(createQuery(id)).toEqual({ name: 'mini-app-1' });
    expect(extraNetworks(id)).toEqual([]);
    expect(fileMounts(id)).toEqual([]);
  });

  it('is deterministic: the same input gives the same JSON, key order included', async () => {
    const stack = await load(RICH, { 'token.txt': 's3cret', 'app.conf': 'x=1' });
    const first = JSON.stringify(containerConfig(slotOf(stack, 'web', 2)));
    expect(JSON.stringify(containerConfig(slotOf(stack, 'web', 2)))).toBe(first);
    expect(Object.keys(JSON.parse(first) as object)).toEqual([
      'Image',
      'Cmd',
      'Entrypoint',
      'Env',
      'Labels',
      'ExposedPorts',
      'Hostname',
      'Domainname',
      'User',
      'WorkingDir',
      'Tty',
      'OpenStdin',
      'StopSignal',
      'StopTimeout',
      'Healthcheck',
      'HostConfig',
      'NetworkingConfig',
    ]);
  });

  it('keeps the image healthcheck test, or turns it off', async () => {
    const stack = await load(`
name: hc
services:
  inherit:
    image: busybox
    healthcheck: { interval: 1s, timeout: 500ms, start_period: 0s }
  off:
    image: busybox
    healthcheck: { test: [NONE] }
  disabled:
    image: busybox
    healthcheck: { disable: true, interval: 3s }
`);
    // Without a test, only the timings given are sent: the image keeps its own retries.
    expect(containerConfig(slotOf(stack, 'inherit')).Healthcheck).toStrictEqual({
      Interval: 1_000_000_000,
      Timeout: 500_000_000,
      StartPeriod: 0,
    });
    expect(containerConfig(slotOf(stack, 'off')).Healthcheck).toEqual({ Test: ['NONE'] });
    expect(containerConfig(slotOf(stack, 'disabled')).Healthcheck).toEqual({ Test: ['NONE'] });
  });

  it('maps each restart policy, and none to no', async () => {
    const policies = ['no', 'always', 'unless-stopped', 'on-failure'];
    const stack = await load(
      `name: rp\nservices:\n  unset: { image: busybox }\n` +
        policies.map((policy) => `  ${policy}: { image: busybox, restart: ${policy} }\n`).join(''),
    );
    expect(containerConfig(slotOf(stack, 'unset')).HostConfig.RestartPolicy).toEqual({ Name: 'no' });
    for (const policy of policies)
      expect(containerConfig(slotOf(stack, policy)).HostConfig.RestartPolicy).toEqual({ Name: policy });
  });

  it('uses network_mode as given, with no endpoints', async () => {
    const stack = await load('name: nm\nservices:\n  app: { image: busybox, network_mode: host }\n');
    const id = slotOf(stack, 'app');
    expect(containerConfig(id).HostConfig.NetworkMode).toBe('host');
    expect(containerConfig(id).NetworkingConfig).toBeUndefined();
    expect(extraNetworks(id)).toEqual([]);
  });

  it('puts a create_host_path bind in Binds, a strict one in Mounts', async () => {
    const stack = await load(`
name: binds
services:
  app:
    image: busybox
    volumes:
      - { type: bind, source: /srv/a, target: /a, bind: { create_host_path: true, propagation: rslave } }
      - { type: bind, source: /srv/b, target: /b, read_only: true }
      - { type: bind, source: "/srv/c:d", target: /c, bind: { create_host_path: true } }
      - /srv/e:/e
`);
    const { HostConfig } = containerConfig(slotOf(stack, 'app'));
    expect(HostConfig.Binds).toEqual(['/srv/a:/a:rslave', '/srv/e:/e']);
    expect(HostConfig.Mounts).toEqual([
      { Type: 'bind', Source: '/srv/b', Target: '/b', ReadOnly: true },
      { Type: 'bind', Source: '/srv/c:d', Target: '/c' },
    ]);
  });

  it('labels a global replica as slot 0 and leaves out a null environment value', async () => {
    const stack = await load(
      'name: g\nservices:\n  agent:\n    image: busybox\n    environment: [ONLY]\n    deploy: { mode: global }\n',
    );
    const body = containerConfig(slotOf(stack, 'agent', 0));
    expect(body.Env).toBeUndefined();
    expect(body.Labels['io.heal.slot']).toBe('0');
    expect(body.Labels['com.docker.compose.container-number']).toBe('0');
  });
});
