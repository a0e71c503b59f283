/**
 * Registry credentials go only to the registry they belong to: the HEAL_REGISTRY* variables,
 * config.json's `auths`, `credHelpers` and `credsStore` as the Docker CLI reads them. The
 * credential helpers here are real programs (shell scripts on PATH) run as Docker runs them; no
 * registry on the test bed checks passwords, so what is sent is asserted here.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  registryAuth,
  RegistryAuthError,
  registryEnvironmentProblem,
  registryOf,
} from '../../src/executor/registry-auth.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const HUB = 'https://index.docker.io/v1/';

/** A DOCKER_CONFIG folder holding `config`, and a bin folder for helpers, as an environment. */
function dockerConfig(
  config: object,
  helpers: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const root = mkdtempSync(join(tmpdir(), 'heal-registry-'));
  folders.push(root);
  const bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(root, 'config.json'), JSON.stringify(config));
  for (const [name, body] of Object.entries(helpers)) {
    const file = join(bin, `docker-credential-${name}`);
    writeFileSync(file, `#!/bin/sh\n${body.replaceAll('ROOT', root)}\n`);
    chmodSync(file, 0o755);
  }
  return { DOCKER_CONFIG: root, PATH: `${bin}:/usr/bin:/bin`, ROOT: root };
}

function basic(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof RegistryAuthError))
    throw new Error(`expected a RegistryAuthError, got ${String(outcome)}`);
  return outcome.message;
}

describe('registryOf: the registry an image names, as Docker reads it', () => {
  it.each([
    ['nginx', 'docker.io'],
    ['library/nginx:1', 'docker.io'],
    ['index.docker.io/library/nginx', 'docker.io'],
    ['registry-1.docker.io/x/y', 'docker.io'],
    ['registry.example.com/blog:v1', 'registry.example.com'],
    ['Registry.Example.com/blog', 'registry.example.com'],
    ['10.231.0.1:5000/web:v1', '10.231.0.1:5000'],
    ['localhost/x', 'localhost'],
    ['myorg/app', 'docker.io'],
  ])('%s → %s', (image, registry) => {
    expect(registryOf(image)).toBe(registry);
  });
});

describe('HEAL_REGISTRY_USER / HEAL_REGISTRY_PASSWORD', () => {
  const pair = { HEAL_REGISTRY_USER: 'ci', HEAL_REGISTRY_PASSWORD: 'pw-1' };

  it('go to the registry HEAL_REGISTRY names, and to no other', async () => {
    const env = { ...pair, HEAL_REGISTRY: 'registry.example.com', DOCKER_CONFIG: '/nonexistent' };
    expect(await registryAuth('registry.example.com/blog:v1', { env })).toEqual({
      username: 'ci',
      password: 'pw-1',
      serveraddress: 'registry.example.com',
    });
    expect(await registryAuth('nginx', { env })).toBeUndefined();
    expect(await registryAuth('evil.example/x', { env })).toBeUndefined();
    expect(await registryAuth('registry.example.com:5000/x', { env })).toBeUndefined();
  });

  it("take Docker Hub's names as one registry", async () => {
    for (const name of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      const env = { ...pair, HEAL_REGISTRY: name, DOCKER_CONFIG: '/nonexistent' };
      expect(await registryAuth('nginx', { env })).toEqual({
        username: 'ci',
        password: 'pw-1',
        serveraddress: HUB,
      });
      expect(await registryAuth('quay.io/x', { env })).toBeUndefined();
    }
  });

  it('are refused without HEAL_REGISTRY, half set, or with a registry that is not host[:port]', async () => {
    expect(registryEnvironmentProblem(pair)).toBe(
      'HEAL_REGISTRY_USER and HEAL_REGISTRY_PASSWORD are set without HEAL_REGISTRY: set HEAL_REGISTRY=host[:port] to the one registry they log in to (heal sends them to no other)',
    );
    expect(await failure(registryAuth('nginx', { env: pair }))).toContain('set HEAL_REGISTRY=host[:port]');
    expect(registryEnvironmentProblem({ HEAL_REGISTRY: 'r.example', HEAL_REGISTRY_USER: 'ci' })).toBe(
      'HEAL_REGISTRY_PASSWORD is not set: set HEAL_REGISTRY=host[:port], HEAL_REGISTRY_USER and HEAL_REGISTRY_PASSWORD together, or none of them',
    );
    expect(registryEnvironmentProblem({ HEAL_REGISTRY: 'r.example' })).toContain(
      'HEAL_REGISTRY_USER is not set',
    );
    expect(registryEnvironmentProblem({ ...pair, HEAL_REGISTRY: 'https://r.example/v2' })).toBe(
      'HEAL_REGISTRY="https://r.example/v2" is not a registry: write host[:port], as in an image name (registry.example.com, 10.0.0.5:5000, docker.io)',
    );
    expect(registryEnvironmentProblem({ ...pair, HEAL_REGISTRY: '10.0.0.5:5000' })).toBeNull();
    expect(registryEnvironmentProblem({})).toBeNull();
    for (const env of [pair, { HEAL_REGISTRY: 'r.example', ...pair, HEAL_REGISTRY_PASSWORD: '' }])
      expect(registryEnvironmentProblem(env)).not.toContain('pw-1');
  });

  it('win over config.json for their registry only', async () => {
    const env = {
      ...dockerConfig({ auths: { 'quay.io': { auth: basic('file', 'f-pw') } } }),
      ...pair,
      HEAL_REGISTRY: 'registry.example.com',
    };
    expect(await registryAuth('registry.example.com/x', { env })).toMatchObject({ username: 'ci' });
    expect(await registryAuth('quay.io/x', { env })).toEqual({
      username: 'file',
      password: 'f-pw',
      serveraddress: 'quay.io',
    });
  });
});

describe('config.json auths', () => {
  const env = dockerConfig({
    auths: {
      'https://registry.example.com/v1/': { auth: basic('alice', 'a:pw') },
      'quay.io': { username: 'bob', password: 'b-pw' },
      [HUB]: { auth: basic('hubuser', 'h-pw') },
      'tokens.example': { identitytoken: 'refresh-token' },
    },
  });

  it("matches a key by its host, as Docker's file store does, and only that host", async () => {
    expect(await registryAuth('registry.example.com/x', { env })).toEqual({
      username: 'alice',
      password: 'a:pw',
      serveraddress: 'registry.example.com',
    });
    expect(await registryAuth('quay.io/x', { env })).toEqual({
      username: 'bob',
      password: 'b-pw',
      serveraddress: 'quay.io',
    });
    expect(await registryAuth('tokens.example/x', { env })).toEqual({
      identitytoken: 'refresh-token',
      serveraddress: 'tokens.example',
    });
    expect(await registryAuth('evil.example/x', { env })).toBeUndefined();
    expect(await registryAuth('registry.example.com.evil.example/x', { env })).toBeUndefined();
  });

  it("gives Docker Hub's entry to Docker Hub's images, under any of its names", async () => {
    const hub = { username: 'hubuser', password: 'h-pw', serveraddress: HUB };
    expect(await registryAuth('nginx', { env })).toEqual(hub);
    expect(await registryAuth('index.docker.io/library/nginx', { env })).toEqual(hub);
    const aliased = dockerConfig({ auths: { 'registry-1.docker.io': { auth: basic('u', 'p') } } });
    expect(await registryAuth('nginx', { env: aliased })).toEqual({
      username: 'u',
      password: 'p',
      serveraddress: HUB,
    });
  });

  it('means no credentials without a config file, and an error for one that is not JSON', async () => {
    expect(await registryAuth('quay.io/x', { env: { DOCKER_CONFIG: '/nonexistent' } })).toBeUndefined();
    const broken = dockerConfig({});
    writeFileSync(join(broken.DOCKER_CONFIG!, 'config.json'), '{ not json');
    expect(await failure(registryAuth('quay.io/x', { env: broken }))).toBe(
      `${join(broken.DOCKER_CONFIG!, 'config.json')} is not valid JSON`,
    );
  });
});

describe('credential helpers', () => {
  /** A helper that records the server it was asked about and answers for it. */
  const answering =
    'read server; echo "$server" > ROOT/asked; printf \'{"ServerURL":"%s","Username":"u","Secret":"s-1"}\' "$server"';

  it('runs the credHelpers helper for its registry with the server on stdin', async () => {
    const env = dockerConfig(
      { credHelpers: { 'ecr.example': 'heal-test' }, auths: { 'ecr.example': { auth: basic('no', 'no') } } },
      { 'heal-test': answering },
    );
    expect(await registryAuth('ecr.example/app', { env })).toEqual({
      username: 'u',
      password: 's-1',
      serveraddress: 'ecr.example',
    });
    expect(readFileSync(join(env.ROOT!, 'asked'), 'utf8')).toBe('ecr.example\n');
    // Another registry gets nothing from that helper.
    expect(await registryAuth('quay.io/x', { env })).toBeUndefined();
  });

  it('uses credsStore for every other registry, Docker Hub asked as Docker names it', async () => {
    const env = dockerConfig(
      { credHelpers: { 'ecr.example': 'missing-one' }, credsStore: 'heal-store', auths: { [HUB]: {} } },
      { 'heal-store': answering },
    );
    expect(await registryAuth('nginx', { env })).toEqual({
      username: 'u',
      password: 's-1',
      serveraddress: HUB,
    });
    expect(readFileSync(join(env.ROOT!, 'asked'), 'utf8')).toBe(`${HUB}\n`);
  });

  it('reads an identity token, and "credentials not found" as no credentials', async () => {
    const env = dockerConfig(
      { credHelpers: { 'token.example': 'tok', 'none.example': 'none' } },
      {
        tok: 'echo \'{"ServerURL":"token.example","Username":"<token>","Secret":"refresh-1"}\'',
        none: 'echo "credentials not found in native keychain"; exit 1',
      },
    );
    expect(await registryAuth('token.example/x', { env })).toEqual({
      identitytoken: 'refresh-1',
      serveraddress: 'token.example',
    });
    expect(await registryAuth('none.example/x', { env })).toBeUndefined();
  });

  it('makes a missing, failing, silent or garbled helper a clear error for that pull', async () => {
    const env = dockerConfig(
      {
        credHelpers: {
          'a.example': 'not-installed',
          'b.example': 'fails',
          'c.example': 'hangs',
          'd.example': 'garbled',
          'e.example': '../../bin/sh',
        },
      },
      {
        fails: 'echo "token expired, run aws sso login" >&2; exit 3',
        hangs: 'exec sleep 30',
        garbled: 'echo hello',
      },
    );
    const where = (registry: string): string =>
      `credHelpers["${registry}"] of ${join(env.DOCKER_CONFIG!, 'config.json')}`;
    expect(await failure(registryAuth('a.example/x', { env }))).toBe(
      `docker-credential-not-installed is not installed or not on PATH (${where('a.example')} names it)`,
    );
    expect(await failure(registryAuth('b.example/x', { env }))).toBe(
      'docker-credential-fails get failed for b.example: token expired, run aws sso login',
    );
    expect(await failure(registryAuth('c.example/x', { env, helperTimeoutMs: 300 }))).toBe(
      `docker-credential-hangs did not answer within 0.3 s (${where('c.example')} names it)`,
    );
    expect(await failure(registryAuth('d.example/x', { env }))).toBe(
      'docker-credential-garbled get answered something other than JSON for d.example',
    );
    expect(await failure(registryAuth('e.example/x', { env }))).toBe(
      `${where('e.example')}: "../../bin/sh" is not a credential helper name`,
    );
  });
});
