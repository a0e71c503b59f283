/**
 * containerConfig against a real dockerd 20.10 (API 1.41): the body goes to the engine as is, the
 * container starts and turns healthy, and what the engine reports is what the spec said.
 * Everything it creates is named heal-cc-test* and removed by name, before and after.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerConfig,
  createQuery,
  extraNetworks,
  type ContainerCreateBody,
  type ContainerCreateQuery,
  type SlotIdentity,
} from '../../src/planner/container-config.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';
import { dockerOn, testbedEnv, type TestbedEnv } from '../testbed.js';

const PREFIX = 'heal-cc-test';
const CONTAINER = `${PREFIX}-web-1`;
const NETWORKS = [`${PREFIX}_front`, `${PREFIX}_back`];
const VOLUME = `${PREFIX}_data`;
const SUBNET = '172.31.231.0/24';
const ADDRESS = '172.31.231.10';
const PORT = 18431;
const MiB = 1024 ** 2;

let env: TestbedEnv;
let docker: Dockerode;
let work: string;
let stack: Stack;
let body: ContainerCreateBody;
let inspect: Dockerode.ContainerInspectInfo;

function spec(image: string): string {
  return `
name: ${PREFIX}
services:
  web:
    image: ${image}
    environment: { PORT: "8080", GREETING: hello, UNSET: null }
    # mode: host and a UDP expose: a TCP ingress or exposed port makes a mesh service (test/e2e/mesh).
    ports:
      - { target: 8080, published: ${PORT}, mode: host }
      - { target: 8080, host_ip: 127.0.0.1, mode: host }
    expose: ["9000/udp"]
    volumes:
      - data:/data
      - /anon
      - { type: bind, source: ./existing, target: /srv/in, read_only: true }
      # z: the engine relabels in the Binds form only (a no-op without SELinux, as here).
      - ./created:/srv/made:z
      # The image writes its pages at start: with a read-only root, /www must be writable.
      - { type: tmpfs, target: /www, tmpfs: { size: 16m, mode: 0o755 } }
    tmpfs: ["/run:size=8m"]
    read_only: true
    networks:
      front: { aliases: [www], ipv4_address: ${ADDRESS} }
      back: {}
    labels: { app: cc }
    healthcheck:
      test: [CMD, wget, -qO-, "localhost:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 3
      start_period: 500ms
    restart: on-failure:2
    stop_signal: SIGINT
    stop_grace_period: 2500ms
    hostname: cc-web
    extra_hosts: { db.local: [10.0.0.5, 10.0.0.6] }
    cpu_shares: 512
    cpuset: "0"
    oom_score_adj: 100
    dns_opt: ["ndots:2"]
    device_cgroup_rules: ["c 1:3 mr"]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    ulimits: { nofile: { soft: 1024, hard: 2048 } }
    sysctls: { net.core.somaxconn: "1024" }
    init: true
    logging: { driver: json-file, options: { max-size: 1m } }
    deploy:
      resources:
        limits: { cpus: "0.5", memory: 64M, pids: 64 }
        reservations: { memory: 32M }
networks:
  front: { ipam: { config: [{ subnet: ${SUBNET} }] } }
  back: {}
volumes:
  data: {}
`;
}

/** The create call with exactly this body and query, as the executor will make it. */
function create(query: ContainerCreateQuery, payload: ContainerCreateBody): Promise<{ Id: string }> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: '/containers/create?',
        method: 'POST',
        options: { _query: query, _body: payload },
        statusCodes: {
          201: true,
          400: 'bad parameter',
          404: 'no such image',
          409: 'conflict',
          500: 'server error',
        },
      },
      (error: unknown, data: unknown) => (error ? reject(error) : resolve(data as { Id: string })),
    );
  });
}

/** Removes everything this file creates, by name; what is not there is fine. */
async function cleanUp(): Promise<void> {
  const gone = (error: unknown): void => {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  };
  await docker.getContainer(CONTAINER).remove({ force: true, v: true }).catch(gone);
  for (const network of NETWORKS) await docker.getNetwork(network).remove().catch(gone);
  await docker.getVolume(VOLUME).remove().catch(gone);
}

async function pull(image: string): Promise<void> {
  const stream = await docker.pull(image);
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())),
  );
}

async function untilHealthy(id: string, ms: number): Promise<Dockerode.ContainerInspectInfo> {
  const deadline = Date.now() + ms;
  for (;;) {
    const info = await docker.getContainer(id).inspect();
    if (info.State.Health?.Status === 'healthy' || Date.now() > deadline) return info;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  env = await testbedEnv();
  const [host] = env.hosts;
  if (!host) throw new Error('the test bed has no host');
  docker = new Dockerode({ socketPath: host.socket, version: 'v1.41' });
  await cleanUp();

  work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  writeFileSync(join(work, 'stack.yml'), spec(env.images.web1));
  // A bind source that exists (a Mounts entry) and ./created, which does not (Binds: the engine makes it).
  mkdirSync(join(work, 'existing'));
  writeFileSync(join(work, 'existing', 'hello.txt'), 'hi from the host\n');
  stack = await loadStack({ file: 'stack.yml', environment: {}, cwd: work });

  await pull(env.images.web1);
  await docker.createNetwork({
    Name: NETWORKS[0]!,
    IPAM: { Config: [{ Subnet: SUBNET }] },
    CheckDuplicate: true,
  });
  await docker.createNetwork({ Name: NETWORKS[1]!, CheckDuplicate: true });
  await docker.createVolume({ Name: VOLUME });

  const service = stack.services.web;
  if (!service) throw new Error('no service web');
  const id: SlotIdentity = {
    stack,
    service,
    slot: 1,
    host: host.name,
    name: CONTAINER,
    generation: 'g1',
    revision: 'r1',
  };
  body = containerConfig(id);
  const created = await create(createQuery(id), body);
  for (const network of extraNetworks(id)) {
    await docker.getNetwork(network.name).connect({
      Container: created.Id,
      EndpointConfig: {
        Aliases: [...network.aliases],
        ...(network.ipv4Address === null ? {} : { IPAMConfig: { IPv4Address: network.ipv4Address } }),
      },
    });
  }
  await docker.getContainer(created.Id).start();
  inspect = await untilHealthy(created.Id, 30_000);
});

afterAll(async () => {
  if (docker) await cleanUp();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('containerConfig on a real engine', () => {
  it('runs and turns healthy, with the healthcheck in nanoseconds', () => {
    expect(inspect.Name).toBe(`/${CONTAINER}`);
    expect(inspect.State.Running).toBe(true);
    expect(inspect.State.Health?.Status).toBe('healthy');
    expect(inspect.Config.Healthcheck).toEqual({
      Test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'],
      Interval: 1_000_000_000,
      Timeout: 2_000_000_000,
      StartPeriod: 500_000_000,
      Retries: 3,
    });
  });

  it('carries the environment, labels, stop settings and hostname', () => {
    expect(inspect.Config.Env).toEqual(expect.arrayContaining(['GREETING=hello', 'PORT=8080']));
    expect(inspect.Config.Env.some((entry) => entry.startsWith('UNSET'))).toBe(false);
    expect(inspect.Config.Labels).toMatchObject({
      app: 'cc',
      'io.heal.stack': PREFIX,
      'io.heal.service': 'web',
      'io.heal.slot': '1',
      'io.heal.config-hash': stack.services.web?.configHash,
      'io.heal.generation': 'g1',
      'io.heal.revision': 'r1',
      'com.docker.compose.project': PREFIX,
      'com.docker.compose.service': 'web',
      'com.docker.compose.container-number': '1',
    });
    expect(inspect.Config).toMatchObject({ Hostname: 'cc-web', StopSignal: 'SIGINT', StopTimeout: 3 });
    expect(Object.keys(inspect.Config.ExposedPorts).sort()).toEqual(['8080/tcp', '9000/udp']);
  });

  it('publishes the ports, fixed and ephemeral, and serves on them', async () => {
    expect(inspect.HostConfig.PortBindings).toEqual({
      '8080/tcp': [
        { HostIp: '', HostPort: String(PORT) },
        { HostIp: '127.0.0.1', HostPort: '' },
      ],
    });
    const bound = inspect.NetworkSettings.Ports['8080/tcp'] ?? [];
    expect(bound).toContainEqual({ HostIp: '0.0.0.0', HostPort: String(PORT) });
    expect(bound.some((binding) => binding.HostIp === '127.0.0.1' && Number(binding.HostPort) > 0)).toBe(
      true,
    );
    const address = env.hosts[0]?.address;
    const response = await fetch(`http://${address}:${PORT}/host`, { signal: AbortSignal.timeout(5_000) });
    expect((await response.text()).trim()).toBe('cc-web');
  });

  it('applies the engine keys compose passes through', () => {
    expect(inspect.HostConfig).toMatchObject({
      CpuShares: 512,
      CpusetCpus: '0',
      OomScoreAdj: 100,
      DnsOptions: ['ndots:2'],
      DeviceCgroupRules: ['c 1:3 mr'],
    });
  });

  it('applies the host settings and resource limits', () => {
    expect(inspect.HostConfig).toMatchObject({
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 },
      ReadonlyRootfs: true,
      Init: true,
      CapAdd: ['NET_ADMIN'],
      CapDrop: ['MKNOD'],
      ExtraHosts: ['db.local:10.0.0.5', 'db.local:10.0.0.6'],
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
      Sysctls: { 'net.core.somaxconn': '1024' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
      Tmpfs: { '/run': 'size=8m' },
      NanoCpus: 500_000_000,
      Memory: 64 * MiB,
      MemoryReservation: 32 * MiB,
      PidsLimit: 64,
      NetworkMode: `${PREFIX}_front`,
    });
  });

  it('mounts the named and anonymous volumes, both binds and the tmpfs', () => {
    expect(inspect.HostConfig.Binds).toEqual([`${work}/created:/srv/made:z`]);
    expect(inspect.HostConfig.Mounts).toEqual(body.HostConfig.Mounts);
    const byTarget = new Map(inspect.Mounts.map((mount) => [mount.Destination, mount]));
    expect(byTarget.get('/data')).toMatchObject({ Type: 'volume', Name: VOLUME, RW: true });
    expect(byTarget.get('/anon')).toMatchObject({ Type: 'volume', RW: true });
    expect(byTarget.get('/anon')?.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(byTarget.get('/srv/in')).toMatchObject({ Type: 'bind', Source: `${work}/existing`, RW: false });
    expect(byTarget.get('/srv/made')).toMatchObject({ Type: 'bind', Source: `${work}/created`, RW: true });
    expect(existsSync(join(work, 'created'))).toBe(true);
  });

  it('joins the first network at create and the others after, with aliases and the fixed address', () => {
    const networks = inspect.NetworkSettings.Networks;
    expect(Object.keys(networks).sort()).toEqual([...NETWORKS].sort());
    expect(networks[`${PREFIX}_front`]?.IPAddress).toBe(ADDRESS);
    expect(networks[`${PREFIX}_front`]?.Aliases).toEqual(expect.arrayContaining(['web', 'www']));
    expect(networks[`${PREFIX}_back`]?.Aliases).toEqual(expect.arrayContaining(['web']));
  });

  it('gives the process what the spec asked for inside the container', async () => {
    // The open-files limits are read from the service's own process (docker-init's child), not with
    // `ulimit -n` in the exec'd shell: runc built with Go 1.19+ (Debian's 1.1.5 here) raises an exec'd
    // process's soft limit to its hard one (opencontainers/runc#4195), so that shell shows 2048 2048.
    const out = await dockerOn(
      env.hosts[0]?.name ?? 'h1',
      'exec',
      CONTAINER,
      'sh',
      '-c',
      [
        'cat /proc/sys/net/core/somaxconn',
        'read service _ </proc/1/task/1/children',
        `awk '/^Max open files/ { print $4, $5 }' /proc/$service/limits`,
        'cat /srv/in/hello.txt',
        'grep db.local /etc/hosts',
        'touch /x 2>/dev/null || echo read-only',
      ].join('; '),
    );
    expect(out.split('\n').map((line) => line.trim())).toEqual([
      '1024',
      '1024 2048',
      'hi from the host',
      // Both addresses of a repeated extra_hosts name, in order, as compose keeps them.
      '10.0.0.5\tdb.local',
      '10.0.0.6\tdb.local',
      'read-only',
      '',
    ]);
  });
});
