import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serviceSpecLabel } from '../../src/planner/create.js';
import { configHash } from '../../src/spec/hash.js';
import { keyedConfigHash } from '../../src/spec/keyed-hash.js';
import { loadStack } from '../../src/spec/load.js';
import { restoreService } from '../../src/spec/restore.js';
import type { Service, Stack } from '../../src/spec/types.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** A stack that uses most of what a service can say, with an env_file and a secret beside it. */
const RICH = `
name: shop
x-heal:
  hosts: { h1: { ssh: 10.0.0.1 } }
services:
  web:
    image: registry.example.com/web:v1
    command: ["serve", "--port", "4000"]
    entrypoint: /bin/entry
    environment: { MODE: prod, EMPTY: "" }
    env_file: [web.env]
    ports: ["8080:4000", "127.0.0.1:9090:9090/udp"]
    expose: ["5000"]
    volumes: ["data:/data:ro", "/srv/conf:/conf", { type: tmpfs, target: /tmp, tmpfs: { size: 1000000 } }]
    networks: { front: { aliases: [shop-web] }, back: {} }
    labels: { team: a }
    healthcheck: { test: ["CMD", "true"], interval: 2s, timeout: 1s, retries: 2, start_period: 3s }
    stop_signal: SIGINT
    stop_grace_period: 20s
    user: "1000:1000"
    working_dir: /srv
    hostname: web
    extra_hosts: ["db.local:10.0.0.9"]
    dns: [1.1.1.1]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    read_only: true
    init: true
    tty: true
    shm_size: 64m
    ulimits: { nofile: { soft: 1024, hard: 2048 } }
    sysctls: { net.core.somaxconn: "1024" }
    tmpfs: [/run]
    logging: { driver: json-file, options: { max-size: 10m } }
    secrets: [token]
    deploy:
      replicas: 3
      resources: { limits: { cpus: "0.5", memory: 128M }, reservations: { memory: 64M } }
      update_config: { parallelism: 1, failure_action: rollback }
  plain:
    image: busybox
  conform:
    image: busybox
    volumes:
      - data:/data:z,ro
      - /srv/site:/site:Z
      - { type: volume, source: data, target: /sub, volume: { subpath: etc/app } }
    networks: { front: { ipv6_address: "2001:db8::5", mac_address: "02:42:ac:11:00:02" } }
    healthcheck: { disable: false }
    devices: [{ source: /dev/fuse, target: /dev/fuse, permissions: rw }]
    extra_hosts: { db: [10.0.0.1, 10.0.0.2] }
    gpus: all
    cpu_shares: 512
    cpu_period: 100ms
    cpuset: "0-1"
    memswap_limit: -1
    mem_swappiness: 10
    uts: host
    mac_address: "02:42:ac:11:00:03"
    storage_opt: { size: 1G }
    annotations: { a: b }
    oom_score_adj: 10
    dns_opt: [use-vc]
    blkio_config: { weight: 300, device_read_bps: [{ path: /dev/sda, rate: 1m }] }
    deploy:
      resources:
        reservations:
          devices: [{ driver: nvidia, capabilities: [gpu], device_ids: ["0"], options: { x: "1" } }]
networks: { front: {}, back: { internal: true } }
volumes: { data: {} }
secrets: { token: { file: ./token.txt } }
`;

async function rich(): Promise<Stack> {
  const folder = mkdtempSync(join(tmpdir(), 'heal-restore-'));
  folders.push(folder);
  writeFileSync(join(folder, 'stack.yml'), RICH);
  writeFileSync(join(folder, 'web.env'), 'API_KEY=s3cret\n');
  writeFileSync(join(folder, 'token.txt'), 'token\n');
  return loadStack({ file: 'stack.yml', cwd: folder, environment: {} });
}

function restored(stack: Stack, service: Service): Service {
  const result = restoreService(stack, service, serviceSpecLabel(service), service.configHash);
  if ('error' in result) throw new Error(result.error);
  return result;
}

describe('restoreService', () => {
  it.each(['web', 'plain', 'conform'])(
    'gives back %s exactly as its containers recorded it',
    async (name) => {
      const stack = await rich();
      const service = stack.services[name]!;
      const back = restored(stack, service);
      // The hash is recomputed from what was restored, not taken on trust.
      // env_file values are redacted in the label; the executor fills them from the spec, as here.
      const { configHash: _taken, ...recomputable } = back;
      const filled = { ...recomputable, environment: { ...back.environment } };
      for (const key of back.secretEnvironment) filled.environment[key] = service.environment[key] ?? null;
      expect(configHash(filled, stack)).toBe(service.configHash);
      // With today's secrets filled in, the keyed hash its containers carry comes back too.
      const key = '7d'.repeat(32);
      expect(keyedConfigHash({ ...filled, configHash: '' }, stack, key)).toBe(
        keyedConfigHash(service, stack, key),
      );
      expect(serviceSpecLabel(back)).toBe(serviceSpecLabel(service));
    },
  );

  it('brings env_file values back as secrets to fill from the spec, never as text', async () => {
    const stack = await rich();
    const back = restored(stack, stack.services.web!);
    expect(back.secretEnvironment).toEqual(['API_KEY']);
    expect(back.environment.MODE).toBe('prod');
  });

  it('keeps today’s deploy: how a service runs is not part of what it was', async () => {
    const stack = await rich();
    const web = stack.services.web!;
    const today = { ...web, deploy: { ...web.deploy, replicas: 7 } };
    const result = restoreService(stack, today, serviceSpecLabel(web), web.configHash);
    if ('error' in result) throw new Error(result.error);
    expect(result.deploy.replicas).toBe(7);
    expect(result.deploy.updateConfig.failureAction).toBe('rollback');
  });

  it('says why when the recorded config cannot be read', async () => {
    const stack = await rich();
    const web = stack.services.web!;
    expect(restoreService(stack, web, '{not json', web.configHash)).toEqual({
      error: expect.stringMatching(/not JSON/),
    });
    expect(restoreService(stack, web, '{"image": 5, "bogus": 1}', web.configHash)).toEqual({
      error: expect.stringMatching(/does not load: .*bogus/),
    });
  });
});
