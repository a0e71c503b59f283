import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { SpecError } from '../../src/spec/errors.js';
import { FileContent } from '../../src/spec/file-content.js';
import { loadStack } from '../../src/spec/load.js';
import { REDACTED, toCompose } from '../../src/spec/to-compose.js';
import type { Deploy, Service, Stack } from '../../src/spec/types.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** A fresh folder holding `files`, named by paths relative to it. */
function folderWith(files: Readonly<Record<string, string>>): string {
  const folder = mkdtempSync(join(tmpdir(), 'heal-spec-'));
  folders.push(folder);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, name)), { recursive: true });
    writeFileSync(join(folder, name), text);
  }
  return folder;
}

type Options = {
  readonly files?: Readonly<Record<string, string>>;
  readonly environment?: Readonly<Record<string, string>>;
  readonly envFile?: string;
};

/** Loads `spec` written as `stack.yml` in a fresh folder, with `files` beside it. */
async function loadIn(spec: string, options: Options = {}): Promise<{ stack: Stack; folder: string }> {
  const folder = folderWith({ 'stack.yml': spec, ...options.files });
  const stack = await loadStack({
    file: 'stack.yml',
    cwd: folder,
    environment: options.environment ?? {},
    ...(options.envFile === undefined ? {} : { envFile: options.envFile }),
  });
  return { stack, folder };
}

async function load(spec: string, options: Options = {}): Promise<Stack> {
  return (await loadIn(spec, options)).stack;
}

async function web(spec: string, options: Options = {}): Promise<Service> {
  const service = (await load(spec, options)).services.web;
  if (!service) throw new Error('no service web');
  return service;
}

/** The SpecError a spec must fail with. */
async function failure(spec: string, options: Options = {}): Promise<SpecError> {
  const outcome = await load(spec, options).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(SpecError);
  return outcome as SpecError;
}

/** The problems of a spec that must fail, as printed: `stack.yml:6:9 path: sentence`. */
async function problems(spec: string, options: Options = {}): Promise<string[]> {
  return (await failure(spec, options)).message.split('\n');
}

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A stack `t` with one service `web` running nginx, plus the lines given (indented under web). */
const withWeb = (...lines: string[]): string =>
  yaml('name: t', 'services:', '  web:', '    image: nginx', ...lines.map((line) => `    ${line}`));

const NO_RESOURCES = { cpus: null, memory: null, pids: null };
const NO_ENGINE_OPTIONS = {
  cpuShares: null,
  cpuPeriod: null,
  cpuQuota: null,
  cpuRtPeriod: null,
  cpuRtRuntime: null,
  cpuset: null,
  memSwappiness: null,
  memswapLimit: null,
  uts: null,
  cgroupParent: null,
  deviceCgroupRules: [],
  macAddress: null,
  storageOpt: {},
  annotations: {},
  oomKillDisable: null,
  oomScoreAdj: null,
  usernsMode: null,
  cgroup: null,
  dnsOpt: [],
  blkio: null,
};
const NO_ADDRESSES = { ipv4Address: null, ipv6Address: null, macAddress: null };
const DEFAULT_UPDATE = {
  parallelism: 1,
  delay: 0,
  failureAction: 'pause',
  monitor: 5_000,
  maxFailureRatio: 0,
  order: 'stop-first',
} as const;
const DEFAULT_DEPLOY: Deploy = {
  mode: 'replicated',
  replicas: 1,
  placement: { constraints: [], preferences: [], maxReplicasPerNode: null },
  // heal's one departure from Swarm: no delay before the first restart.
  restartPolicy: { condition: 'any', delay: 0, maxAttempts: 0, window: 0 },
  updateConfig: DEFAULT_UPDATE,
  rollbackConfig: DEFAULT_UPDATE,
  resources: { limits: NO_RESOURCES, reservations: NO_RESOURCES, devices: [] },
  labels: {},
};

describe('loadStack: a minimal spec', () => {
  it('fills in every default of a service, its network and the stack', async () => {
    const { stack, folder } = await loadIn(
      yaml('name: blog', 'services:', '  web:', '    image: nginx:1.27'),
    );
    expect(stack).toEqual({
      name: 'blog',
      file: 'stack.yml',
      dir: folder,
      services: {
        web: {
          name: 'web',
          image: 'nginx:1.27',
          containerName: null,
          command: null,
          entrypoint: null,
          environment: {},
          secretEnvironment: [],
          ports: [],
          expose: [],
          volumes: [],
          networks: [{ name: 'default', aliases: [], ...NO_ADDRESSES }],
          labels: {},
          healthcheck: null,
          restart: null,
          stopSignal: null,
          stopGracePeriod: 10_000,
          user: null,
          workingDir: null,
          hostname: null,
          domainname: null,
          extraHosts: [],
          dns: [],
          dnsSearch: [],
          capAdd: [],
          capDrop: [],
          securityOpt: [],
          devices: [],
          groupAdd: [],
          privileged: false,
          readOnly: false,
          init: false,
          tty: false,
          stdinOpen: false,
          shmSize: null,
          pid: null,
          ipc: null,
          networkMode: null,
          platform: null,
          runtime: null,
          ulimits: {},
          sysctls: {},
          tmpfs: [],
          logging: null,
          dependsOn: {},
          secrets: [],
          configs: [],
          pullPolicy: 'missing',
          build: null,
          deploy: DEFAULT_DEPLOY,
          engine: NO_ENGINE_OPTIONS,
          configHash: expect.stringMatching(/^v1:[0-9a-f]{64}$/) as string,
        },
      },
      networks: {
        default: {
          name: 'default',
          external: false,
          engineName: 'blog_default',
          driver: null,
          driverOpts: {},
          internal: false,
          attachable: false,
          enableIpv6: false,
          ipam: { driver: null, config: [], options: {} },
          labels: {},
        },
      },
      volumes: {},
      secrets: {},
      configs: {},
      heal: {
        ssh: { user: null, port: null, identityFile: null, knownHosts: null },
        hosts: {},
        watch: { interval: 15_000, hostDownAfter: 4_000, rebalance: false },
        timeouts: { readMs: 5_000, writeMs: 30_000, pullMs: 600_000 },
        lock: { hosts: null },
        mesh: {
          image: 'haproxy:2.8-alpine',
          drainTimeout: 30_000,
          socketGid: null,
          check: { interval: 1_000, fall: 2, rise: 1 },
        },
        build: { host: null },
      },
      warnings: [],
    });
  });

  it('warns, with the place, about each key it accepts and does not act on', async () => {
    const { stack } = await loadIn(
      yaml(
        'version: "3.8"',
        'name: blog',
        'services:',
        '  web:',
        '    image: nginx:1.27',
        '    profiles: [debug]',
      ),
    );
    expect(stack.warnings).toEqual([
      'stack.yml:1:1 version: ignored: obsolete in compose',
      'stack.yml:6:5 services.web.profiles: ignored: heal deploys every service (as `docker stack deploy` does)',
    ]);
  });

  it('returns a deeply frozen stack', async () => {
    const stack = await load(withWeb('ports: ["80:80"]'));
    expect(Object.isFrozen(stack)).toBe(true);
    expect(Object.isFrozen(stack.services.web?.ports[0])).toBe(true);
    expect(Object.isFrozen(stack.services.web?.deploy.restartPolicy)).toBe(true);
  });

  it('takes the stack name from the folder when `name:` is absent', async () => {
    const folder = folderWith({ 'My.Shop_1/stack.yml': yaml('services:', '  web: { image: nginx }') });
    const stack = await loadStack({ file: 'My.Shop_1/stack.yml', cwd: folder, environment: {} });
    expect(stack.name).toBe('myshop_1');
    expect(stack.networks.default?.engineName).toBe('myshop_1_default');
  });

  it('ignores `version` and `profiles`', async () => {
    const service = await web(
      yaml('version: "3.8"', 'name: t', 'services:', '  web:', '    image: nginx', '    profiles: [debug]'),
    );
    const plain = await web(yaml('name: t', 'services:', '  web:', '    image: nginx'));
    expect(service).toEqual(plain);
  });
});

describe('loadStack: every service key', () => {
  const kitchenSink = yaml(
    'name: shop',
    'services:',
    '  web:',
    '    image: registry.example.com/shop:1.2',
    '    profiles: [frontend]',
    '    develop: { watch: [] }',
    '    attach: false',
    '    command: bundle exec puma -C "config/puma.rb"',
    '    entrypoint: ["/sbin/tini", "--"]',
    '    environment:',
    '      RAILS_ENV: production',
    '      WORKERS: 4',
    '      DEBUG:',
    '    env_file: web.env',
    '    ports:',
    '      - "80:3000"',
    '      - "127.0.0.1:9000-9001:9000-9001/udp"',
    '      - 8080',
    '      - { target: 443, published: 8443, host_ip: 0.0.0.0, protocol: tcp, mode: host }',
    '    expose: ["3000", "4000-4001/udp"]',
    '    volumes:',
    '      - data:/var/lib/data:ro',
    '      - ./public:/app/public',
    '      - /cache',
    '      - { type: tmpfs, target: /tmp, tmpfs: { size: 64m } }',
    '    networks:',
    '      front: { aliases: [shop], ipv4_address: 172.20.0.5 }',
    '      back:',
    '    labels: [com.example.team=shop, com.example.tier]',
    '    healthcheck:',
    '      test: curl -f http://localhost:3000/up',
    '      interval: 10s',
    '      timeout: 2s',
    '      retries: 5',
    '      start_period: 30s',
    '      start_interval: 1s',
    '    restart: on-failure:3',
    '    stop_signal: SIGQUIT',
    '    stop_grace_period: 1m30s',
    '    user: "1000:1000"',
    '    working_dir: /app',
    '    hostname: shop',
    '    domainname: example.com',
    '    extra_hosts: ["db.local:10.0.0.2", "v6.local=::1"]',
    '    dns: 8.8.8.8',
    '    dns_search: [example.com]',
    '    cap_add: [NET_ADMIN]',
    '    cap_drop: [ALL]',
    '    security_opt: ["no-new-privileges:true"]',
    '    devices: ["/dev/fuse:/dev/fuse"]',
    '    group_add: [audio]',
    '    privileged: false',
    '    read_only: true',
    '    init: true',
    '    tty: true',
    '    stdin_open: true',
    '    shm_size: 128m',
    '    pid: host',
    '    ipc: shareable',
    '    platform: linux/amd64',
    '    runtime: runc',
    '    ulimits: { nproc: 65535, nofile: { soft: 20000, hard: 40000 } }',
    '    sysctls: [net.core.somaxconn=1024]',
    '    tmpfs: /run',
    '    logging: { driver: json-file, options: { max-size: 10m } }',
    '    depends_on: { db: { condition: service_healthy, restart: true } }',
    '    secrets: [api_key, { source: tls, target: /etc/tls.pem, uid: "0", gid: "0", mode: 0o400 }]',
    '    configs: [{ source: nginx, target: nginx.conf }]',
    '    pull_policy: always',
    '    container_name: shop-web',
    '    cpus: 0.5',
    '    mem_limit: 512m',
    '    mem_reservation: 256m',
    '    pids_limit: 200',
    '  db:',
    '    image: postgres:16',
    'networks: { front: {}, back: {} }',
    'volumes: { data: {} }',
    'secrets: { api_key: { file: api_key.txt }, tls: { file: ./tls.pem } }',
    'configs: { nginx: { file: nginx.conf } }',
  );
  const sideFiles = {
    'web.env': 'SECRET_KEY_BASE=s3cr3t\n',
    'api_key.txt': 'key',
    'tls.pem': 'pem',
    'nginx.conf': 'conf',
  };

  it('normalizes each key to its one long form', async () => {
    const { stack, folder } = await loadIn(kitchenSink, { files: sideFiles });
    expect(stack.services.web).toEqual({
      name: 'web',
      image: 'registry.example.com/shop:1.2',
      containerName: 'shop-web',
      command: ['bundle', 'exec', 'puma', '-C', 'config/puma.rb'],
      entrypoint: ['/sbin/tini', '--'],
      environment: { SECRET_KEY_BASE: 's3cr3t', RAILS_ENV: 'production', WORKERS: '4', DEBUG: null },
      secretEnvironment: ['SECRET_KEY_BASE'],
      ports: [
        { target: 3000, published: 80, hostIp: null, protocol: 'tcp', mode: 'ingress' },
        { target: 9000, published: 9000, hostIp: '127.0.0.1', protocol: 'udp', mode: 'host' },
        { target: 9001, published: 9001, hostIp: '127.0.0.1', protocol: 'udp', mode: 'host' },
        { target: 8080, published: null, hostIp: null, protocol: 'tcp', mode: 'ingress' },
        { target: 443, published: 8443, hostIp: '0.0.0.0', protocol: 'tcp', mode: 'host' },
      ],
      expose: ['3000/tcp', '4000/udp', '4001/udp'],
      volumes: [
        {
          type: 'volume',
          source: 'data',
          target: '/var/lib/data',
          readOnly: true,
          nocopy: false,
          subpath: null,
          selinux: null,
        },
        {
          type: 'bind',
          source: join(folder, 'public'),
          relativeSource: './public',
          target: '/app/public',
          readOnly: false,
          propagation: null,
          createHostPath: true,
          selinux: null,
        },
        {
          type: 'volume',
          source: null,
          target: '/cache',
          readOnly: false,
          nocopy: false,
          subpath: null,
          selinux: null,
        },
        { type: 'tmpfs', target: '/tmp', size: 64 * 1024 * 1024, mode: null },
      ],
      networks: [
        { name: 'front', aliases: ['shop'], ...NO_ADDRESSES, ipv4Address: '172.20.0.5' },
        { name: 'back', aliases: [], ...NO_ADDRESSES },
      ],
      labels: { 'com.example.team': 'shop', 'com.example.tier': '' },
      healthcheck: {
        test: ['CMD-SHELL', 'curl -f http://localhost:3000/up'],
        interval: 10_000,
        timeout: 2_000,
        retries: 5,
        startPeriod: 30_000,
        startInterval: 1_000,
      },
      restart: 'on-failure:3',
      stopSignal: 'SIGQUIT',
      stopGracePeriod: 90_000,
      user: '1000:1000',
      workingDir: '/app',
      hostname: 'shop',
      domainname: 'example.com',
      extraHosts: ['db.local:10.0.0.2', 'v6.local:::1'],
      dns: ['8.8.8.8'],
      dnsSearch: ['example.com'],
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      securityOpt: ['no-new-privileges:true'],
      devices: ['/dev/fuse:/dev/fuse'],
      groupAdd: ['audio'],
      privileged: false,
      readOnly: true,
      init: true,
      tty: true,
      stdinOpen: true,
      shmSize: 128 * 1024 * 1024,
      pid: 'host',
      ipc: 'shareable',
      networkMode: null,
      platform: 'linux/amd64',
      runtime: 'runc',
      ulimits: { nproc: { soft: 65535, hard: 65535 }, nofile: { soft: 20000, hard: 40000 } },
      sysctls: { 'net.core.somaxconn': '1024' },
      tmpfs: ['/run'],
      logging: { driver: 'json-file', options: { 'max-size': '10m' } },
      dependsOn: { db: { condition: 'service_healthy', required: true, restart: true } },
      secrets: [
        { source: 'api_key', target: '/run/secrets/api_key', uid: null, gid: null, mode: null },
        { source: 'tls', target: '/etc/tls.pem', uid: '0', gid: '0', mode: 0o400 },
      ],
      configs: [{ source: 'nginx', target: '/nginx.conf', uid: null, gid: null, mode: null }],
      pullPolicy: 'always',
      build: null,
      engine: NO_ENGINE_OPTIONS,
      deploy: {
        ...DEFAULT_DEPLOY,
        resources: {
          limits: { cpus: 0.5, memory: 512 * 1024 * 1024, pids: 200 },
          reservations: { cpus: null, memory: 256 * 1024 * 1024, pids: null },
          devices: [],
        },
      },
      configHash: expect.stringMatching(/^v1:[0-9a-f]{64}$/) as string,
    });
    expect(stack.secrets).toEqual({
      api_key: {
        name: 'api_key',
        file: join(folder, 'api_key.txt'),
        // sha256 of "key"
        digest: 'sha256:2c70e12b7a0646f92279f427c7b38e7334d8e5389cff167a1dc30e73f826b683',
        content: expect.any(FileContent) as FileContent,
      },
      tls: {
        name: 'tls',
        file: join(folder, 'tls.pem'),
        digest: 'sha256:f0aeace912cf19dc1c6fffd41de6e395daeb5462f1221945706bd0674c3005eb',
        content: expect.any(FileContent) as FileContent,
      },
    });
    expect(stack.configs).toEqual({
      nginx: {
        name: 'nginx',
        file: join(folder, 'nginx.conf'),
        digest: 'sha256:0c326c4f02797b088fc566e64fbfe2162390f52f2fec1483ec3a413a7f11c910',
        content: expect.any(FileContent) as FileContent,
      },
    });
  });

  it('reads the same service from short and long syntax, down to its config hash', async () => {
    const short = yaml(
      'name: t',
      'services:',
      '  web:',
      '    image: nginx',
      '    environment: [A=1, B]',
      '    labels: [tier=web]',
      '    ports: ["127.0.0.1:8080:80/udp"]',
      '    volumes: ["data:/data:ro", "./conf:/etc/conf"]',
      '    networks: [front]',
      '    healthcheck: { test: "curl -f localhost" }',
      '    depends_on: [db]',
      '    secrets: [token]',
      '    configs: [site]',
      '    ulimits: { nofile: 1024 }',
      '    extra_hosts: ["db:10.0.0.2"]',
      '    dns: 1.1.1.1',
      '  db: { image: postgres }',
      'networks: { front: }',
      'volumes: { data: }',
      'secrets: { token: { file: token.txt } }',
      'configs: { site: { file: site.conf } }',
    );
    const long = yaml(
      'name: t',
      'services:',
      '  web:',
      '    image: nginx',
      '    environment: { A: "1", B: null }',
      '    labels: { tier: web }',
      '    ports: [{ target: 80, published: "8080", host_ip: 127.0.0.1, protocol: udp }]',
      '    volumes:',
      '      - { type: volume, source: data, target: /data, read_only: true }',
      '      - { type: bind, source: ./conf, target: /etc/conf, bind: { create_host_path: true } }',
      '    networks: { front: { aliases: [] } }',
      '    healthcheck: { test: [CMD-SHELL, curl -f localhost] }',
      '    depends_on: { db: { condition: service_started, required: true } }',
      '    secrets: [{ source: token, target: /run/secrets/token }]',
      '    configs: [{ source: site, target: /site }]',
      '    ulimits: { nofile: { soft: 1024, hard: 1024 } }',
      '    extra_hosts: { db: 10.0.0.2 }',
      '    dns: [1.1.1.1]',
      '  db: { image: postgres }',
      'networks: { front: }',
      'volumes: { data: }',
      'secrets: { token: { file: token.txt } }',
      'configs: { site: { file: site.conf } }',
    );
    const folder = folderWith({ 'short.yml': short, 'long.yml': long, 'token.txt': 't', 'site.conf': 's' });
    const read = (file: string) => loadStack({ file, cwd: folder, environment: { B: 'b' } });
    const [fromShort, fromLong] = [
      (await read('short.yml')).services.web,
      (await read('long.yml')).services.web,
    ];
    expect(fromShort).toEqual(fromLong);
    expect(fromShort?.environment).toEqual({ A: '1', B: 'b' });
    expect(fromShort?.volumes[1]).toEqual({
      type: 'bind',
      source: join(folder, 'conf'),
      relativeSource: './conf',
      target: '/etc/conf',
      readOnly: false,
      propagation: null,
      createHostPath: true,
      selinux: null,
    });
    expect(fromShort?.healthcheck?.test).toEqual(['CMD-SHELL', 'curl -f localhost']);
  });
});

describe('loadStack: deploy', () => {
  it('reads every deploy key', async () => {
    const service = await web(
      withWeb(
        'deploy:',
        '  mode: replicated',
        '  replicas: 3',
        '  placement:',
        '    constraints: ["node.labels.zone == a", "node.hostname!=h2"]',
        '    preferences: [{ spread: node.labels.zone }]',
        '    max_replicas_per_node: 2',
        '  restart_policy: { condition: on-failure, delay: 5s, max_attempts: 3, window: 2m }',
        '  update_config:',
        '    { parallelism: 2, delay: 10s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.25, order: start-first }',
        '  rollback_config: { parallelism: 0 }',
        '  resources:',
        '    limits: { cpus: "1.5", memory: 1g, pids: 100 }',
        '    reservations: { cpus: 0.25, memory: 128m }',
        '  labels: [com.example.service=web]',
        '  endpoint_mode: vip',
      ),
    );
    expect(service.deploy).toEqual({
      mode: 'replicated',
      replicas: 3,
      placement: {
        constraints: [
          { key: 'node.labels.zone', op: '==', value: 'a', text: 'node.labels.zone == a' },
          { key: 'node.hostname', op: '!=', value: 'h2', text: 'node.hostname!=h2' },
        ],
        preferences: [{ spread: 'node.labels.zone' }],
        maxReplicasPerNode: 2,
      },
      restartPolicy: { condition: 'on-failure', delay: 5_000, maxAttempts: 3, window: 120_000 },
      updateConfig: {
        parallelism: 2,
        delay: 10_000,
        failureAction: 'rollback',
        monitor: 30_000,
        maxFailureRatio: 0.25,
        order: 'start-first',
      },
      rollbackConfig: { ...DEFAULT_UPDATE, parallelism: 0 },
      resources: {
        limits: { cpus: 1.5, memory: 1024 ** 3, pids: 100 },
        reservations: { cpus: 0.25, memory: 128 * 1024 ** 2, pids: null },
        devices: [],
      },
      labels: { 'com.example.service': 'web' },
    });
  });

  it('fills a partly written policy with Swarm defaults, restart delay 0', async () => {
    const service = await web(
      withWeb('deploy:', '  restart_policy: { condition: none }', '  update_config: { order: start-first }'),
    );
    expect(service.deploy.restartPolicy).toEqual({ condition: 'none', delay: 0, maxAttempts: 0, window: 0 });
    expect(service.deploy.updateConfig).toEqual({ ...DEFAULT_UPDATE, order: 'start-first' });
    expect(service.deploy.rollbackConfig).toEqual(DEFAULT_UPDATE);
  });

  it('runs a global service on every host: replicas 0', async () => {
    const service = await web(withWeb('deploy: { mode: global }'));
    expect(service.deploy.mode).toBe('global');
    expect(service.deploy.replicas).toBe(0);
  });

  it('folds the legacy cpus, mem_limit, mem_reservation and pids_limit into deploy.resources', async () => {
    const legacy = await web(
      withWeb('cpus: 0.5', 'mem_limit: 512m', 'mem_reservation: 128m', 'pids_limit: 100'),
    );
    expect(legacy.deploy.resources).toEqual({
      limits: { cpus: 0.5, memory: 512 * 1024 ** 2, pids: 100 },
      reservations: { cpus: null, memory: 128 * 1024 ** 2, pids: null },
      devices: [],
    });
    const both = await web(
      withWeb('cpus: 2', 'mem_limit: 1g', 'deploy: { resources: { limits: { memory: 256m } } }'),
    );
    expect(both.deploy.resources.limits).toEqual({ cpus: 2, memory: 256 * 1024 ** 2, pids: null });
  });

  it('takes `scale` as the replica count', async () => {
    expect((await web(withWeb('scale: 4'))).deploy.replicas).toBe(4);
    expect((await web(withWeb('scale: 2', 'deploy: { replicas: 2 }'))).deploy.replicas).toBe(2);
    expect(await problems(withWeb('scale: 3', 'deploy: { replicas: 2 }'))).toEqual([
      'stack.yml:5:5 services.web.scale: is 3 but deploy.replicas is 2: keep one of them',
    ]);
  });

  it('reports every wrong deploy value at its place', async () => {
    expect(
      await problems(
        withWeb(
          'deploy:',
          '  mode: both',
          '  replicas: -1',
          '  restart_policy: { delay: 5 }',
          '  update_config: { order: random, max_failure_ratio: 2 }',
          '  placement: { constraints: ["node.role == leader", "zone=a"] }',
          '  resources: { limits: { memory: lots } }',
        ),
      ),
    ).toEqual([
      'stack.yml:6:13 services.web.deploy.mode: must be one of replicated, global, not "both"',
      'stack.yml:7:17 services.web.deploy.replicas: must be at least 0',
      'stack.yml:8:32 services.web.deploy.restart_policy.delay: 5 is not a duration: give it a unit, as in "5s"',
      'stack.yml:9:31 services.web.deploy.update_config.order: must be one of stop-first, start-first, not "random"',
      'stack.yml:9:58 services.web.deploy.update_config.max_failure_ratio: must be at most 1',
      'stack.yml:10:34 services.web.deploy.placement.constraints[0]: "node.role == leader" is not a placement constraint: node.role is manager or worker, not "leader"',
      'stack.yml:10:57 services.web.deploy.placement.constraints[1]: "zone=a" is not a placement constraint: use KEY==VALUE or KEY!=VALUE',
      'stack.yml:11:38 services.web.deploy.resources.limits.memory: "lots" is not a byte size: use a number with an optional unit b, k, m or g, as in "300m"',
    ]);
  });

  it('refuses replicas with mode: global', async () => {
    expect(await problems(withWeb('deploy: { mode: global, replicas: 2 }'))).toEqual([
      'stack.yml:5:39 services.web.deploy.replicas: cannot be set with mode: global (one replica runs on every eligible host)',
    ]);
  });
});

describe('loadStack: short forms and their edge cases', () => {
  it.each([
    ['a string', 'healthcheck: { test: "pg_isready" }', ['CMD-SHELL', 'pg_isready']],
    ['CMD', 'healthcheck: { test: [CMD, pg_isready, -U, app] }', ['CMD', 'pg_isready', '-U', 'app']],
    [
      'CMD-SHELL',
      'healthcheck: { test: [CMD-SHELL, "pg_isready || exit 1"] }',
      ['CMD-SHELL', 'pg_isready || exit 1'],
    ],
    ['NONE', 'healthcheck: { test: [NONE] }', ['NONE']],
    ['disable', 'healthcheck: { disable: true }', ['NONE']],
    ['no test: the image own', 'healthcheck: { interval: 5s }', []],
  ])('reads a healthcheck test written as %s', async (_form, line, test) => {
    const service = await web(withWeb(line));
    expect(service.healthcheck?.test).toEqual(test);
  });

  it('fills healthcheck intervals with Docker defaults', async () => {
    expect((await web(withWeb('healthcheck: { test: [NONE] }'))).healthcheck).toEqual({
      test: ['NONE'],
      interval: 30_000,
      timeout: 30_000,
      retries: 3,
      startPeriod: 0,
      startInterval: 5_000,
    });
  });

  it('reads extra_hosts written host:ip and host=ip in one list, IPv6 included', async () => {
    const service = await web(withWeb('extra_hosts: ["a:10.0.0.1", "b=::1", "c:fe80::2", "d=10.0.0.4"]'));
    expect(service.extraHosts).toEqual(['a:10.0.0.1', 'b:::1', 'c:fe80::2', 'd:10.0.0.4']);
    const first = await web(withWeb('extra_hosts: ["b=::1", "a:10.0.0.1"]'));
    expect(first.extraHosts).toEqual(['b:::1', 'a:10.0.0.1']);
  });

  it('reads depends_on as a list or a map with conditions', async () => {
    const spec = (dependsOn: string) =>
      yaml(
        'name: t',
        'services:',
        '  web:',
        '    image: nginx',
        `    depends_on: ${dependsOn}`,
        '  db: { image: postgres }',
      );
    expect((await web(spec('[db]'))).dependsOn).toEqual({
      db: { condition: 'service_started', required: true, restart: false },
    });
    expect(
      (await web(spec('{ db: { condition: service_completed_successfully, required: false } }'))).dependsOn,
    ).toEqual({
      db: { condition: 'service_completed_successfully', required: false, restart: false },
    });
  });

  it('takes a value-less environment entry from the environment, else leaves it unset', async () => {
    const service = await web(withWeb('environment: [SET, UNSET, EMPTY=]'), { environment: { SET: 'yes' } });
    expect(service.environment).toEqual({ SET: 'yes', UNSET: null, EMPTY: '' });
  });

  it('reads network_mode host and drops the stack networks', async () => {
    const service = await web(withWeb('network_mode: host'));
    expect(service.networkMode).toBe('host');
    expect(service.networks).toEqual([]);
  });

  it('maps pull_policy if_not_present to missing', async () => {
    expect((await web(withWeb('pull_policy: if_not_present'))).pullPolicy).toBe('missing');
  });
});

describe('loadStack: what heal cannot honour', () => {
  it.each([
    [
      'network_mode service:x',
      ['image: nginx', 'network_mode: service:db'],
      'stack.yml:5:19 services.web.network_mode: "service:db" is not supported by heal: replicas of two services may land on different hosts; put both processes on a shared network instead',
    ],
    [
      'network_mode container:x',
      ['image: nginx', 'network_mode: "container:abc"'],
      'stack.yml:5:19 services.web.network_mode: "container:abc" is not supported by heal: replicas of two services may land on different hosts; put both processes on a shared network instead',
    ],
    [
      'container_name with replicas',
      ['image: nginx', 'container_name: web', 'deploy: { replicas: 2 }'],
      'stack.yml:5:5 services.web.container_name: cannot name the containers of a service with more than one replica: remove it (heal names them <stack>-<service>-<slot>)',
    ],
    [
      'container_name with scale',
      ['image: nginx', 'container_name: web', 'scale: 3'],
      'stack.yml:5:5 services.web.container_name: cannot name the containers of a service with more than one replica: remove it (heal names them <stack>-<service>-<slot>)',
    ],
    [
      'links',
      ['image: nginx', 'links: [db]'],
      "stack.yml:5:5 services.web.links: is not supported by heal: services reach each other by name on the stack's networks; use networks with aliases",
    ],
    [
      'external_links',
      ['image: nginx', 'external_links: [other_db_1]'],
      'stack.yml:5:5 services.web.external_links: is not supported by heal: attach the service to the external network instead',
    ],
    [
      'volumes_from',
      ['image: nginx', 'volumes_from: [db]'],
      'stack.yml:5:5 services.web.volumes_from: is not supported by heal: declare a named volume and mount it in both services',
    ],
    [
      'extends',
      ['image: nginx', 'extends: { file: base.yml, service: web }'],
      'stack.yml:5:5 services.web.extends: is not supported by heal: write the service out in full (YAML anchors and merge keys work)',
    ],
    [
      'pull_policy build',
      ['image: nginx', 'pull_policy: build'],
      'stack.yml:5:18 services.web.pull_policy: needs `build:` (the context heal builds the image from)',
    ],
  ])('refuses %s, naming the key with advice', async (_what, lines, message) => {
    const spec = yaml('name: t', 'services:', '  web:', ...lines.map((line) => `    ${line}`));
    expect(await problems(spec)).toEqual([message]);
  });

  it('refuses a relative or ~ bind source when some hosts are remote, at its place, with the fix', async () => {
    const spec = yaml(
      'name: t',
      'x-heal:',
      '  hosts:',
      '    local: { docker: "unix:///var/run/docker.sock" }',
      '    h1: { ssh: 10.0.0.11 }',
      'services:',
      '  web:',
      '    image: nginx',
      '    volumes:',
      '      - ./html:/usr/share/nginx/html',
      '      - { type: bind, source: ~/logs, target: /logs }',
      '      - /srv/ok:/ok',
      '      - data:/data',
      'volumes: { data: {} }',
    );
    const fix =
      "but a bind's source is a path on the Docker host and some hosts are remote: use an absolute path on the Docker host, or a named volume";
    expect(await problems(spec)).toEqual([
      `stack.yml:10:9 services.web.volumes[0]: "./html" is relative to the spec's folder on the machine running heal, ${fix}`,
      `stack.yml:11:9 services.web.volumes[1]: "~/logs" is in the home folder of the machine running heal, ${fix}`,
    ]);
    // The same spec with only local engines resolves them against the spec's folder, as compose.
    const local = spec.replace('    h1: { ssh: 10.0.0.11 }\n', '');
    const { stack, folder } = await loadIn(local);
    expect(stack.services.web!.volumes[0]).toMatchObject({
      source: join(folder, 'html'),
      relativeSource: './html',
    });
  });

  it('refuses include', async () => {
    expect(
      await problems(yaml('name: t', 'include: [other.yml]', 'services:', '  web: { image: nginx }')),
    ).toEqual(['stack.yml:2:1 include: is not supported by heal: keep the whole stack in one file']);
  });

  it('refuses external, environment and content secrets and configs', async () => {
    const spec = yaml(
      'name: t',
      'services:',
      '  web: { image: nginx, secrets: [a], configs: [c] }',
      'secrets:',
      '  a: { external: true }',
      '  b: { environment: TOKEN }',
      'configs:',
      '  c: { content: "x" }',
      '  d: {}',
    );
    expect(await problems(spec)).toEqual([
      'stack.yml:5:8 secrets.a.external: is not supported by heal: put the secret in a file beside the spec and use `file:`',
      'stack.yml:6:8 secrets.b.environment: is not supported by heal: put the secret in a file beside the spec and use `file:`',
      'stack.yml:8:8 configs.c.content: is not supported by heal: put the config in a file beside the spec and use `file:`',
      'stack.yml:9:3 configs.d: needs `file:`',
    ]);
  });

  it('refuses references to what the stack does not declare, and dependency cycles', async () => {
    const spec = yaml(
      'name: t',
      'services:',
      '  web:',
      '    image: nginx',
      '    networks: [nope]',
      '    volumes: ["data:/data"]',
      '    secrets: [token]',
      '    depends_on: [web, ghost, db]',
      '  db:',
      '    image: postgres',
      '    depends_on: [web]',
    );
    expect(await problems(spec)).toEqual([
      'stack.yml:5:15 services.web.networks: network "nope" is not declared under the top-level `networks:`',
      'stack.yml:6:15 services.web.volumes[0]: volume "data" is not declared under the top-level `volumes:`',
      'stack.yml:7:15 services.web.secrets[0]: secret "token" is not declared under the top-level `secrets:`',
      'stack.yml:8:17 services.web.depends_on: a service cannot depend on itself',
      'stack.yml:8:17 services.web.depends_on: service "ghost" does not exist',
      'stack.yml:8:17 services.web.depends_on: dependency cycle: web -> db -> web',
    ]);
  });

  it('refuses a service name that cannot name a container', async () => {
    expect(await problems(yaml('name: t', 'services:', '  "my web": { image: nginx }'))).toEqual([
      'stack.yml:3:3 services["my web"]: "my web" is not a service name: use letters, digits, "_", "." and "-"',
    ]);
  });
});

describe('loadStack: variables', () => {
  it('interpolates every form compose knows', async () => {
    const service = await web(
      withWeb(
        'environment:',
        '  PLAIN: $TAG',
        '  BRACED: ${TAG}',
        '  DEFAULT: ${MISSING:-fallback}',
        '  DASH_EMPTY: ${EMPTY-kept}',
        '  COLON_EMPTY: ${EMPTY:-replaced}',
        '  ALT: ${TAG:+alt}',
        '  NO_ALT: ${MISSING+alt}',
        '  REQUIRED: ${TAG?is needed}',
        '  DOLLAR: $$TAG',
      ),
      { environment: { TAG: 'v2', EMPTY: '' } },
    );
    expect(service.environment).toEqual({
      PLAIN: 'v2',
      BRACED: 'v2',
      DEFAULT: 'fallback',
      DASH_EMPTY: '',
      COLON_EMPTY: 'replaced',
      ALT: 'alt',
      NO_ALT: '',
      REQUIRED: 'v2',
      DOLLAR: '$TAG',
    });
  });

  it('reads .env beside the spec, where the environment wins', async () => {
    const stack = await load(
      yaml('name: t', 'services:', '  web:', '    image: app:${TAG}', '    environment: { A: $A, B: $B }'),
      {
        files: { '.env': 'A=from-dotenv\nB=from-dotenv\nTAG=9\n' },
        environment: { A: 'from-environment' },
      },
    );
    expect(stack.services.web?.image).toBe('app:9');
    expect(stack.services.web?.environment).toEqual({ A: 'from-environment', B: 'from-dotenv' });
  });

  it('reads another variables file with --env-file instead of .env, relative to the working folder', async () => {
    const folder = folderWith({
      'deploy/stack.yml': yaml('name: t', 'services:', '  web:', '    image: app:${TAG:-none}'),
      'deploy/.env': 'TAG=beside\n',
      'prod.env': 'TAG=prod\n',
    });
    const stack = await loadStack({
      file: 'deploy/stack.yml',
      envFile: 'prod.env',
      cwd: folder,
      environment: {},
    });
    expect(stack.services.web?.image).toBe('app:prod');
    const beside = await loadStack({ file: 'deploy/stack.yml', cwd: folder, environment: {} });
    expect(beside.services.web?.image).toBe('app:beside');
  });

  it('fails when the --env-file named does not exist', async () => {
    const folder = folderWith({ 'stack.yml': withWeb() });
    const outcome = await loadStack({
      file: 'stack.yml',
      envFile: 'nope.env',
      cwd: folder,
      environment: {},
    }).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(SpecError);
    expect((outcome as SpecError).message).toBe(
      `stack.yml:1:1: env file ${join(folder, 'nope.env')} does not exist`,
    );
  });

  it('reports a broken .env line by file and line, without its value', async () => {
    const folder = folderWith({ 'stack.yml': withWeb(), '.env': 'GOOD=1\n1BAD=hunter2\n' });
    const outcome = await loadStack({ file: 'stack.yml', cwd: folder, environment: {} }).catch(
      (error: unknown) => error,
    );
    expect((outcome as SpecError).message).toBe(`${join(folder, '.env')}:2: invalid variable name "1BAD"`);
  });

  it('fails on an unset ${VAR?} and ${VAR:?}, once per value, with the message given', async () => {
    const spec = withWeb('environment: { TOKEN: "${TOKEN?set TOKEN first}" }', 'ports: ["${PORT:?}:80"]');
    expect(await problems(spec, { environment: { PORT: '' } })).toEqual([
      'stack.yml:5:27 services.web.environment.TOKEN: required variable TOKEN is missing a value: set TOKEN first',
      'stack.yml:6:13 services.web.ports[0]: required variable PORT is missing a value',
    ]);
  });

  it('fails on a malformed ${', async () => {
    expect(await problems(yaml('name: t', 'services:', '  web:', '    image: "app:${TAG"'))).toEqual([
      'stack.yml:4:12 services.web.image: invalid interpolation format for "app:${TAG"; you may need to escape any $ with another $',
    ]);
  });
});

describe('loadStack: env_file', () => {
  const spec = yaml(
    'name: t',
    'services:',
    '  web:',
    '    image: nginx',
    '    env_file: [app.env, { path: optional.env, required: false }]',
    '    environment: { OVERRIDDEN: plain }',
  );

  it('reads env files relative to the spec, under environment:, and marks their values secret', async () => {
    const folder = folderWith({
      'deploy/stack.yml': spec,
      'deploy/app.env': 'DB_PASSWORD=hunter2\nOVERRIDDEN=secret\nURL=postgres://${DB_HOST:-db}\n',
    });
    const stack = await loadStack({ file: 'deploy/stack.yml', cwd: folder, environment: {} });
    const service = stack.services.web!;
    expect(service.environment).toEqual({
      DB_PASSWORD: 'hunter2',
      OVERRIDDEN: 'plain',
      URL: 'postgres://db',
    });
    expect(service.secretEnvironment).toEqual(['DB_PASSWORD', 'URL']);
    const printed = toCompose(stack);
    expect((printed.services as Record<string, { environment: unknown }>).web?.environment).toEqual({
      DB_PASSWORD: REDACTED,
      OVERRIDDEN: 'plain',
      URL: REDACTED,
    });
    expect(JSON.stringify(printed)).not.toContain('hunter2');
  });

  it('fails on a required env file that is missing, and on a broken line without quoting it', async () => {
    expect(await problems(spec)).toEqual([
      'stack.yml:5:16 services.web.env_file[0]: env file app.env does not exist',
    ]);
    expect(await problems(spec, { files: { 'app.env': 'OK=1\nBAD LINE=hunter2\n' } })).toEqual([
      'stack.yml:5:16 services.web.env_file[0]: env file app.env line 2: invalid variable name "BAD LINE"',
    ]);
  });
});

/** Ten levels of nine references each: 9^10 strings once expanded. */
function billionLaughs(): string {
  const levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  for (let level = 1; level < 10; level += 1) {
    const previous = String.fromCharCode(96 + level);
    const name = String.fromCharCode(97 + level);
    levels.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${previous}`).join(', ')}]`);
  }
  return yaml(...levels, 'name: t', 'services: { web: { image: nginx } }');
}

describe('loadStack: bad input, each a clear error', () => {
  it('points at the line, column and key path of each mistake', async () => {
    const spec = yaml('name: t', 'services:', '  web:', '    image: nginx', '    ports:', '      - "80:abc"');
    expect(await problems(spec)).toEqual([
      'stack.yml:6:9 services.web.ports[0]: "80:abc" is not a port mapping: "abc" is not a port number (1-65535)',
    ]);
    const error = await failure(spec);
    expect(error.problems).toEqual([
      {
        file: 'stack.yml',
        line: 6,
        col: 9,
        path: 'services.web.ports[0]',
        message: '"80:abc" is not a port mapping: "abc" is not a port number (1-65535)',
      },
    ]);
  });

  it('reports every mistake of a file in one run, in file order', async () => {
    const spec = yaml(
      'name: t',
      'services:',
      '  web:',
      '    image: nginx',
      '    ports: ["80:abc"]',
      '    restart: sometimes',
      '    imagee: typo',
      '  db:',
      '    image: [postgres]',
      '    stop_grace_period: soon',
      'x-heal:',
      '  hosts: { h1: { ssh: "root@h1:99999" } }',
    );
    expect(await problems(spec)).toEqual([
      'stack.yml:5:13 services.web.ports[0]: "80:abc" is not a port mapping: "abc" is not a port number (1-65535)',
      'stack.yml:6:14 services.web.restart: "sometimes" is not a restart policy: use no, always, on-failure[:N] or unless-stopped',
      'stack.yml:7:5 services.web.imagee: unknown key "imagee" (did you mean "image"?)',
      'stack.yml:9:12 services.db.image: must be a string, not a list',
      'stack.yml:10:24 services.db.stop_grace_period: "soon" is not a duration: use numbers with units, as in "10s" or "1m30s"',
      'stack.yml:12:23 x-heal.hosts.h1.ssh: "root@h1:99999" is not an SSH address: use [user@]address[:port]',
    ]);
  });

  it('refuses invalid YAML', async () => {
    expect(await problems(yaml('name: t', 'services:', '  web:', '    image: [nginx', '  db: {}'))).toEqual([
      'stack.yml:5:3: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(await problems(yaml('name: t', 'services:', '\tweb: {}'))).toEqual([
      'stack.yml:3:1: Tabs are not allowed as indentation',
    ]);
  });

  it('refuses duplicate keys', async () => {
    expect(await problems(yaml('name: t', 'services:', '  web:', '    image: a', '    image: b'))).toEqual([
      'stack.yml:5:5: Map keys must be unique',
    ]);
    expect(
      await problems(yaml('name: t', 'services:', '  web: { image: a }', '  web: { image: b }')),
    ).toEqual(['stack.yml:4:3: Map keys must be unique']);
  });

  it('stops a YAML alias bomb before it expands', async () => {
    const started = performance.now();
    expect(await problems(billionLaughs())).toEqual([
      'stack.yml:1:1: the document expands to more than 200000 nodes (too many aliases?)',
    ]);
    // A bound against hanging, generous for a loaded machine (expanded, the bomb never ends).
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('accepts anchors, aliases and merge keys that stay small', async () => {
    const spec = yaml(
      'name: t',
      'x-base: &base',
      '  image: nginx',
      '  environment: { A: "1", B: "1" }',
      'services:',
      '  web:',
      '    <<: *base',
      '    environment: { B: "2" }',
      '  api: *base',
    );
    const stack = await load(spec);
    expect(stack.services.web?.image).toBe('nginx');
    expect(stack.services.web?.environment).toEqual({ B: '2' });
    expect(stack.services.api?.environment).toEqual({ A: '1', B: '1' });
  });

  it('refuses a 50 MB file within a second, without reading it', async () => {
    const folder = folderWith({ 'stack.yml': '' });
    truncateSync(join(folder, 'stack.yml'), 50 * 1024 * 1024);
    const started = performance.now();
    const before = process.memoryUsage().rss;
    const outcome = await loadStack({ file: 'stack.yml', cwd: folder, environment: {} }).catch(
      (error: unknown) => error,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(20 * 1024 * 1024);
    expect(outcome).toBeInstanceOf(SpecError);
    expect((outcome as SpecError).message).toBe('stack.yml: is too large (50.0 MiB; the limit is 4.0 MiB)');
  });

  it('stops reading a 50 MB stdin past the limit', async () => {
    let pulled = 0;
    async function* fiftyMegabytes(): AsyncGenerator<Buffer> {
      for (let chunk = 0; chunk < 50; chunk += 1) {
        pulled += 1;
        yield Buffer.alloc(1024 * 1024, 0x61);
      }
    }
    const outcome = await loadStack({
      file: '-',
      stdin: fiftyMegabytes(),
      cwd: folderWith({}),
      environment: {},
    }).catch((error: unknown) => error);
    expect((outcome as SpecError).message).toBe(
      '<stdin>: is too large (more than 5.0 MiB; the limit is 4.0 MiB)',
    );
    expect(pulled).toBe(5);
  });

  it.each([
    ['a list', '- a\n- b\n', 'stack.yml:1:1: must be a mapping, not a list'],
    ['a string', 'hello\n', 'stack.yml:1:1: must be a mapping, not "hello"'],
    ['empty', '', 'stack.yml:1:1: must be a mapping, not empty'],
    ['only a comment', '# nothing here\n', 'stack.yml:1:1: must be a mapping, not empty'],
  ])('refuses a root that is %s', async (_what, spec, message) => {
    expect(await problems(spec)).toEqual([message]);
  });

  it('refuses a spec without services', async () => {
    expect(await problems(yaml('name: t'))).toEqual(['stack.yml:1:1: has no `services:`']);
  });

  it('refuses unknown keys, suggesting the close one', async () => {
    const spec = yaml(
      'name: t',
      'service:',
      '  web: { image: nginx }',
      'services:',
      '  web:',
      '    image: nginx',
      '    enviroment: { A: 1 }',
      '    frobnicate: true',
      '    deploy: { replica: 2 }',
      'x-anything: allowed',
    );
    expect(await problems(spec)).toEqual([
      'stack.yml:2:1 service: unknown key "service" (did you mean "services"?)',
      'stack.yml:7:5 services.web.enviroment: unknown key "enviroment" (did you mean "environment"?)',
      'stack.yml:8:5 services.web.frobnicate: unknown key "frobnicate"',
      'stack.yml:9:15 services.web.deploy.replica: unknown key "replica" (did you mean "replicas"?)',
    ]);
  });

  it('refuses values of the wrong type', async () => {
    const spec = withWeb(
      'privileged: maybe',
      'ports: "80:80"',
      'labels: 5',
      'deploy: { replicas: many }',
      'stop_grace_period: 10',
      'mem_limit: lots',
      'environment: { A: [1] }',
      'command: { run: x }',
    );
    expect(await problems(spec)).toEqual([
      'stack.yml:5:17 services.web.privileged: must be true or false, not "maybe"',
      'stack.yml:6:12 services.web.ports: must be a list, not "80:80"',
      'stack.yml:7:13 services.web.labels: must be a mapping or a list of "KEY=VALUE", not 5',
      'stack.yml:8:25 services.web.deploy.replicas: must be an integer, not "many"',
      'stack.yml:9:24 services.web.stop_grace_period: 10 is not a duration: give it a unit, as in "10s"',
      'stack.yml:10:16 services.web.mem_limit: "lots" is not a byte size: use a number with an optional unit b, k, m or g, as in "300m"',
      'stack.yml:11:23 services.web.environment.A: must be a string, not a list',
      'stack.yml:12:14 services.web.command: must be a string or a list of strings, not a mapping',
    ]);
  });

  it('refuses a spec file that does not exist, or a folder', async () => {
    const folder = folderWith({ 'sub/keep': '' });
    const read = (file: string) =>
      loadStack({ file, cwd: folder, environment: {} }).catch((error: unknown) => (error as Error).message);
    expect(await read('nope.yml')).toBe('nope.yml: does not exist');
    expect(await read('sub')).toBe('sub: is a directory, not a file');
  });
});

describe('loadStack: -f - reads stdin', () => {
  it('loads a spec from stdin, with paths relative to the working folder', async () => {
    const folder = folderWith({ '.env': 'TAG=7\n' });
    const stdin = Readable.from([Buffer.from(yaml('name: t', 'services:', '  web:', '    image: app:$TAG'))]);
    const stack = await loadStack({ file: '-', stdin, cwd: folder, environment: {} });
    expect(stack.file).toBe('<stdin>');
    expect(stack.dir).toBe(folder);
    expect(stack.services.web?.image).toBe('app:7');
  });

  it('names <stdin> in its problems', async () => {
    const stdin = Readable.from(['name: t\nservices:\n  web: { image: nginx, ports: ["80:abc"] }\n']);
    const outcome = await loadStack({ file: '-', stdin, cwd: folderWith({}), environment: {} }).catch(
      (error: unknown) => error,
    );
    expect((outcome as SpecError).message).toBe(
      '<stdin>:3:32 services.web.ports[0]: "80:abc" is not a port mapping: "abc" is not a port number (1-65535)',
    );
  });
});
