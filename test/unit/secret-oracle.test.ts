/**
 * review.md M5, the attack: the spec is in git, and heal printed a service's config hash beside
 * `"DB_PASSWORD": "**redacted**"`; recomputing the hash with a guessed env_file value confirmed
 * the guess with one SHA-256. Here the attacker gets everything `heal config --json`, `heal plan
 * --json` (a first deploy that makes the stack key, and a rolling update), `heal ps --json` and
 * `heal status --json` print, run by the CLI's own code against engines that answer like Docker,
 * and tries every way to recompute a printed value from a guess. None matches now.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { plan } from '../../src/planner/plan.js';
import { canonicalJson } from '../../src/spec/hash.js';
import { keyedConfigHash } from '../../src/spec/keyed-hash.js';
import { loadStack } from '../../src/spec/load.js';
import type { Service, Stack } from '../../src/spec/types.js';
import { startFakeEngine, type FakeEngine } from './fake-engine.js';
import { emptyWorld } from './simulate.js';

const SECRET = 'summer2024';
const GUESSES = ['spring2024', SECRET, 'winter2024', 'hunter2'];
/** The stack key the first deploy gives the hosts. */
const KEY = '5e'.repeat(32);

const folder = mkdtempSync(join(tmpdir(), 'heal-oracle-'));
const engines: FakeEngine[] = [];

/** What git holds: everything but the env_file and the secret file. */
function specText(tag: string): string {
  return [
    'name: shop',
    'x-heal:',
    '  hosts:',
    `    h1: { docker: "unix://${join(folder, 'h1.sock')}" }`,
    `    h2: { docker: "unix://${join(folder, 'h2.sock')}" }`,
    'services:',
    '  web:',
    `    image: registry.example.com/shop:${tag}`,
    '    environment: { RAILS_ENV: production }',
    '    env_file: web.env',
    '    secrets: [tls_key]',
    '    deploy: { replicas: 2 }',
    'secrets:',
    '  tls_key: { file: tls.key }',
    '',
  ].join('\n');
}

/** The spec at `tag` in `dir`, with `password` in its env_file and a secret file made from it. */
async function loadIn(dir: string, tag: string, password: string): Promise<Stack> {
  writeFileSync(join(dir, 'stack.yml'), specText(tag));
  writeFileSync(join(dir, 'web.env'), `DB_PASSWORD=${password}\n`);
  writeFileSync(join(dir, 'tls.key'), `${password}-tls\n`);
  return loadStack({ file: 'stack.yml', cwd: dir, environment: {} });
}

/** Runs the CLI in this process on the real spec; returns what it printed on stdout. */
async function heal(...args: string[]): Promise<string> {
  let printed = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    printed += String(chunk);
    return true;
  });
  try {
    const code = await main(['node', 'heal', ...args, '-f', join(folder, 'stack.yml')]);
    expect(code, `heal ${args.join(' ')}`).toBe(0);
    return printed;
  } finally {
    out.mockRestore();
    process.exitCode = undefined;
  }
}

/**
 * The config hash of the heal before the stack key: SHA-256 over the service, env_file values
 * and secret file digests included. The attacker's tool; pinned below against that heal's value.
 */
function legacyHash(service: Service, stack: Stack): string {
  // That heal's Service had no fields added since (engine options, endpoint addresses, mount
  // relabel and subpath, device requests): a service that sets none hashes as it did.
  const { name, secretEnvironment, dependsOn, pullPolicy, deploy, configHash, engine, build, ...container } =
    service;
  const { devices, ...resources } = deploy.resources;
  const material = {
    ...container,
    resources,
    networks: service.networks.map(({ ipv6Address, macAddress, ...network }) => ({
      ...network,
      engineName: stack.networks[network.name]?.engineName ?? null,
    })),
    volumes: service.volumes.map((mount) => {
      if (mount.type === 'tmpfs') return mount;
      const { selinux, ...rest } = mount;
      if (rest.type !== 'volume') return rest;
      const { subpath, ...volume } = rest;
      return volume;
    }),
    secrets: service.secrets.map((mount) => ({
      ...mount,
      digest: stack.secrets[mount.source]?.digest ?? null,
    })),
    configs: service.configs,
  };
  return `v1:${createHash('sha256').update(canonicalJson(material)).digest('hex')}`;
}

/** Every value a guess lets the attacker compute, in full and as heal shortens hashes (12 digits). */
async function candidates(guess: string, keys: readonly string[]): Promise<string[]> {
  const dir = join(folder, `guess-${guess}`);
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (const tag of ['1.0', '1.1']) {
    const stack = await loadIn(dir, tag, guess);
    const web = stack.services.web!;
    out.push(legacyHash(web, stack), ...keys.map((key) => keyedConfigHash(web, stack, key)));
    out.push(stack.secrets.tls_key!.digest);
  }
  return [...out, ...out.map((value) => value.replace(/^(v\d+|sha256):/, '').slice(0, 12))];
}

let printed = '';

beforeAll(async () => {
  for (const host of ['h1', 'h2']) engines.push(await startFakeEngine(host, join(folder, `${host}.sock`)));
  const v1 = await loadIn(folder, '1.0', SECRET);
  const outputs = [await heal('config', '--json'), await heal('plan', '--json')];
  // The first deploy, as `heal apply` runs it: the hosts get the stack key and two replicas.
  const first = plan(v1, emptyWorld(v1), { now: 1_700_000_000_000, freshStackKey: KEY });
  for (const engine of engines) engine.applyPlan(first);
  outputs.push(await heal('ps', '--json'), await heal('status', '--json'));
  // A rolling update to 1.1: the plan names the new hash in its rollout and create bodies.
  await loadIn(folder, '1.1', SECRET);
  outputs.push(
    await heal('config', '--json'),
    await heal('plan', '--json'),
    await heal('plan'),
    await heal('ps', '--json'),
    await heal('status', '--json'),
  );
  printed = outputs.join('\n');
});

afterAll(async () => {
  await Promise.all(engines.map((engine) => engine.close()));
  rmSync(folder, { recursive: true, force: true });
});

describe('a guessed secret against what heal prints', () => {
  it('the outputs are the ones that matter: hashes, a rollout, the key made, the secret redacted', () => {
    expect(printed).toContain('"DB_PASSWORD": "**redacted**"');
    expect(printed).toContain('"x-heal-config-hash": "v1:');
    expect(printed).toMatch(/"configHash": "v2:[0-9a-f]{64}"/);
    expect(printed).toMatch(/"to": "v2:[0-9a-f]{64}"/);
    expect(printed).toContain('"io.heal.key": "**secret**"');
    expect(printed).not.toContain(SECRET);
  });

  it('matches no guess, the right one included, by any recomputation', async () => {
    const printedKeys = [...new Set(printed.match(/[0-9a-f]{64}/g) ?? [])];
    for (const guess of GUESSES) {
      const found = (await candidates(guess, printedKeys)).filter((value) => printed.includes(value));
      expect(found, guess).toEqual([]);
    }
  });

  it('would confirm the secret if the key leaked: the attack itself works', async () => {
    const leaked = `${printed}\n${KEY}`;
    const confirmed: string[] = [];
    for (const guess of GUESSES) {
      if ((await candidates(guess, [KEY])).some((value) => leaked.includes(value))) confirmed.push(guess);
    }
    expect(confirmed).toEqual([SECRET]);
  });

  it("recomputes the heal before's hash as that heal did (its value, pinned)", async () => {
    const dir = join(folder, 'pinned');
    mkdirSync(dir, { recursive: true });
    const stack = await loadIn(dir, '1.0', SECRET);
    expect(legacyHash(stack.services.web!, stack)).toBe(
      'v1:d5bc9842bf4ebdf1b26e97fb5cbe520b4d805c53ca968a4878b0fc1c48fa59f4',
    );
  });
});
