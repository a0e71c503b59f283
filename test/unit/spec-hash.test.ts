import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, configHash, CONFIG_HASH_VERSION } from '../../src/spec/hash.js';
import { KEYED_HASH_VERSION, keyedConfigHash } from '../../src/spec/keyed-hash.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';

const folder = mkdtempSync(join(tmpdir(), 'heal-hash-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A two-service stack; `web` is the one whose hash the tests watch. */
const BASE = yaml(
  'name: shop',
  'services:',
  '  web:',
  '    image: registry.example.com/shop:1.0',
  '    command: ["puma", "-p", "3000"]',
  '    environment: { RAILS_ENV: production, WORKERS: "4" }',
  '    env_file: web.env',
  '    labels: { team: shop, tier: web }',
  '    ports: ["80:3000"]',
  '    secrets: [api_key]',
  '    configs: [site]',
  '    depends_on: [db]',
  '    pull_policy: missing',
  '    deploy:',
  '      replicas: 2',
  '      placement: { constraints: ["node.labels.zone == a"] }',
  '      restart_policy: { condition: any }',
  '      update_config: { parallelism: 1 }',
  '      rollback_config: { parallelism: 1 }',
  '  db:',
  '    image: postgres:16',
  'secrets:',
  '  api_key: { file: api_key.txt }',
  'configs:',
  '  site: { file: site.conf }',
);

type Files = { 'web.env'?: string; 'api_key.txt'?: string; 'site.conf'?: string };

let loads = 0;

/** A stack key, as the hosts would hold it. */
const KEY = 'a1'.repeat(32);

/** `spec` loaded with the side files given (or their defaults), from `dir`. */
async function load(
  spec: string,
  files: Files = {},
  environment: Record<string, string> = {},
  dir = folder,
): Promise<Stack> {
  loads += 1;
  const file = `stack-${loads}.yml`;
  const side = { 'web.env': 'SECRET=one\n', 'api_key.txt': 'key-one', 'site.conf': 'conf-one', ...files };
  // Side files are shared by name: write them before each load.
  for (const [name, text] of Object.entries(side)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, file), spec);
  return loadStack({ file, cwd: dir, environment });
}

/** The hash `web`'s containers carry (keyed by `key`), with the side files given. */
async function hashOf(
  spec: string,
  files: Files = {},
  environment: Record<string, string> = {},
  key = KEY,
): Promise<string> {
  const stack = await load(spec, files, environment);
  return keyedConfigHash(stack.services.web!, stack, key);
}

/** The public hash of `web`: what `heal config` prints. */
async function publicHashOf(spec: string, files: Files = {}): Promise<string> {
  return (await load(spec, files)).services.web!.configHash;
}

/** BASE with one piece replaced; the piece must be there, or the test would compare BASE with itself. */
function edit(from: string, to: string): string {
  if (!BASE.includes(from)) throw new Error(`BASE has no ${JSON.stringify(from)}`);
  return BASE.replace(from, to);
}

describe('configHash', () => {
  it('is versioned sha256 hex: public v1 at load, keyed v2 for a service with secrets', async () => {
    expect(CONFIG_HASH_VERSION).toBe('v1');
    expect(KEYED_HASH_VERSION).toBe('v2');
    expect(await publicHashOf(BASE)).toMatch(/^v1:[0-9a-f]{64}$/);
    expect(await hashOf(BASE)).toMatch(/^v2:[0-9a-f]{64}$/);
  });

  it('is the same for the same spec loaded twice', async () => {
    expect(await hashOf(BASE)).toBe(await hashOf(BASE));
  });

  it('is the same for the same spec and key on another machine: another folder and environment', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'heal-hash-elsewhere-'));
    try {
      const there = await load(BASE, {}, { HOME: '/elsewhere', LANG: 'C' }, elsewhere);
      const here = await load(BASE);
      expect(keyedConfigHash(there.services.web!, there, KEY)).toBe(
        keyedConfigHash(here.services.web!, here, KEY),
      );
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('of a relative bind is the same from any checkout: the path as written from the spec folder', async () => {
    const spec = yaml(
      'name: site',
      'x-heal: { hosts: { local: { docker: "unix:///var/run/docker.sock" } } }',
      'services:',
      '  web: { image: "nginx:1", volumes: ["./html:/usr/share/nginx/html:ro", "../shared/:/shared"] }',
    );
    const checkout = mkdtempSync(join(tmpdir(), 'heal-hash-checkout-'));
    const cache = mkdtempSync(join(tmpdir(), 'heal-hash-cache-'));
    try {
      const [here, there] = [await load(spec, {}, {}, checkout), await load(spec, {}, {}, cache)];
      // The containers bind this machine's folders, which differ; what they are made from does not.
      expect(here.services.web!.volumes[0]).toMatchObject({ source: join(checkout, 'html') });
      expect(there.services.web!.volumes[0]).toMatchObject({ source: join(cache, 'html') });
      expect(here.services.web!.configHash).toBe(there.services.web!.configHash);
      const moved = await load(spec.replace('./html:', './public:'), {}, {}, checkout);
      expect(moved.services.web!.configHash).not.toBe(here.services.web!.configHash);
    } finally {
      rmSync(checkout, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('of an absolute bind is byte for byte what heal made before relative binds were hashed as written', async () => {
    const spec = yaml(
      'name: shop',
      'services:',
      '  web:',
      '    image: nginx:1',
      '    volumes: ["/srv/data/:/data:ro", { type: bind, source: /etc/app, target: /etc/app, bind: { create_host_path: true } }]',
    );
    expect((await load(spec)).services.web!.configHash).toBe(
      'v1:9636c7b5c4b11b333d492b9ca4ccdfc66a87bdae99d27b6eb917f8142d3008ea',
    );
  });

  it('differs with another stack key', async () => {
    expect(await hashOf(BASE, {}, {}, 'b2'.repeat(32))).not.toBe(await hashOf(BASE));
  });

  it('of a service without secrets is the public hash, byte for byte what heal before the stack key made', async () => {
    const spec = yaml(
      'name: shop',
      'services:',
      '  db:',
      '    image: postgres:16',
      '    environment: { POSTGRES_DB: shop }',
      '    ports: [{ target: 5432, published: 5432, mode: host }]',
      '    configs: [site]',
      'configs:',
      '  site: { file: site.conf }',
    );
    const stack = await load(spec, { 'site.conf': 'X=1\n' });
    const db = stack.services.db!;
    // Pinned from the heal before: its containers are not replaced by the upgrade.
    expect(db.configHash).toBe('v1:efeb1bb84067d3f2301a411a90ce5cf67ae77e27a6bf8b0537f97f0d26f6b846');
    expect(keyedConfigHash(db, stack, KEY)).toBe(db.configHash);
  });

  it('of a service the mesh serves differs from the heal before: its replicas no longer hold the port', async () => {
    const spec = yaml(
      'name: shop',
      'services:',
      '  db:',
      '    image: postgres:16',
      '    environment: { POSTGRES_DB: shop }',
      '    ports: ["5432:5432"]',
      '    configs: [site]',
      'configs:',
      '  site: { file: site.conf }',
    );
    const stack = await load(spec, { 'site.conf': 'X=1\n' });
    // What the heal before the mesh gave this spec, whose replicas bound 5432 themselves: they are
    // replaced, so that the proxy can take the port.
    expect(stack.services.db!.configHash).not.toBe(
      'v1:510399660f5e4900b25e78a40f24b479ebff4805e3827d32791347c54507e923',
    );
  });

  describe('public hash (heal config)', () => {
    it.each([
      ['an env_file value', { 'web.env': 'SECRET=two\n' }],
      ['the content of a secret file', { 'api_key.txt': 'key-two' }],
    ] as const)('does not change with %s: it holds no secret', async (_what, files) => {
      expect(await publicHashOf(BASE, files)).toBe(await publicHashOf(BASE));
    });

    it('changes with the keys of an env_file and with what else changes', async () => {
      expect(await publicHashOf(BASE, { 'web.env': 'SECRET=one\nOTHER=x\n' })).not.toBe(
        await publicHashOf(BASE),
      );
      expect(await publicHashOf(BASE, { 'site.conf': 'conf-two' })).not.toBe(await publicHashOf(BASE));
      expect(await publicHashOf(edit('shop:1.0', 'shop:1.1'))).not.toBe(await publicHashOf(BASE));
    });

    it('is what configHash computes from the loaded service', async () => {
      const stack = await load(BASE);
      expect(configHash(stack.services.web!, stack)).toBe(stack.services.web!.configHash);
    });
  });

  describe('stays the same', () => {
    it.each([
      [
        'when keys are reordered',
        edit(
          '    command: ["puma", "-p", "3000"]\n    environment: { RAILS_ENV: production, WORKERS: "4" }\n',
          '    environment: { WORKERS: "4", RAILS_ENV: production }\n    command: ["puma", "-p", "3000"]\n',
        ),
      ],
      [
        'with comments',
        `# the shop\n${edit('    ports: ["80:3000"]\n', '    ports: ["80:3000"] # public\n')}`,
      ],
      [
        'when environment is a list instead of a map',
        edit(
          'environment: { RAILS_ENV: production, WORKERS: "4" }',
          'environment: [RAILS_ENV=production, WORKERS=4]',
        ),
      ],
      [
        'when labels are a list instead of a map',
        edit('labels: { team: shop, tier: web }', 'labels: [tier=web, team=shop]'),
      ],
      [
        'when another service changes',
        edit('    image: postgres:16', '    image: postgres:17\n    scale: 3'),
      ],
      ['with more replicas', edit('      replicas: 2', '      replicas: 7')],
      [
        'with another update_config',
        edit(
          'update_config: { parallelism: 1 }',
          'update_config: { parallelism: 3, delay: 10s, order: start-first }',
        ),
      ],
      [
        'with another rollback_config',
        edit('rollback_config: { parallelism: 1 }', 'rollback_config: { parallelism: 0 }'),
      ],
      ['with another placement', edit('"node.labels.zone == a"', '"node.hostname != h1"')],
      [
        'with another restart_policy',
        edit(
          'restart_policy: { condition: any }',
          'restart_policy: { condition: on-failure, delay: 5s, max_attempts: 3 }',
        ),
      ],
      ['with other dependencies', edit('    depends_on: [db]\n', '')],
      ['with another pull policy', edit('pull_policy: missing', 'pull_policy: always')],
    ])('%s', async (_what, spec) => {
      expect(await hashOf(spec)).toBe(await hashOf(BASE));
    });
  });

  describe('changes', () => {
    it.each([
      ['with the image', edit('shop:1.0', 'shop:1.1')],
      ['with an environment value', edit('WORKERS: "4"', 'WORKERS: "8"')],
      ['with an added environment variable', edit('WORKERS: "4"', 'WORKERS: "4", DEBUG: "1"')],
      ['with the command', edit('["puma", "-p", "3000"]', '["puma", "-p", "4000"]')],
      ['with a label', edit('tier: web', 'tier: front')],
      ['with a port', edit('"80:3000"', '"8080:3000"')],
      [
        'with a resource limit',
        edit('      replicas: 2', '      replicas: 2\n      resources: { limits: { memory: 1g } }'),
      ],
    ])('%s', async (_what, spec) => {
      expect(await hashOf(spec)).not.toBe(await hashOf(BASE));
    });

    it('with the content of a secret file', async () => {
      expect(await hashOf(BASE, { 'api_key.txt': 'key-two' })).not.toBe(await hashOf(BASE));
    });

    it('with the content of a config file', async () => {
      expect(await hashOf(BASE, { 'site.conf': 'conf-two' })).not.toBe(await hashOf(BASE));
    });

    it('with a value in an env_file', async () => {
      expect(await hashOf(BASE, { 'web.env': 'SECRET=two\n' })).not.toBe(await hashOf(BASE));
    });

    it('with an interpolated variable', async () => {
      const spec = edit('shop:1.0', 'shop:${TAG}');
      expect(await hashOf(spec, {}, { TAG: '1' })).not.toBe(await hashOf(spec, {}, { TAG: '2' }));
    });
  });
});

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps list order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });
});
