/**
 * The daemon's spec load in a worker thread with a bounded heap and time: the same Stack and the
 * same problems as loadStack, and a spec that runs the worker out of memory or time is a refused
 * spec while this process goes on. The worker is the built one (dist/): a thread cannot run the
 * TypeScript sources, so this file sits in the integration tier, whose command builds first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';
import { loadIsolated, type Isolation } from '../../src/watch/load-isolated.js';

const WORKER = new URL('../../dist/watch/load-worker.js', import.meta.url);

let folder: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'heal-isolated-'));
  writeFileSync(join(folder, 'token.txt'), 'token-bytes\n');
  writeFileSync(
    join(folder, 'good.yml'),
    [
      'name: iso',
      'services:',
      '  web: { image: "nginx:${TAG}", secrets: [token], environment: [TAG] }',
      'secrets: { token: { file: token.txt } }',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(folder, 'bad.yml'),
    'name: iso\nservices:\n  web: { image: nginx, ports: ["80:abc"] }\n',
  );
  // 12 aliases of a 1 M-character value (two bytes a character) fit the 16 MiB expansion
  // bound; interpolated, they are 12 new strings of 2 MB each: more than a 16 MiB heap holds.
  const value = `${'é'.repeat(1_000_000)}\${TAG}`;
  const aliases = Array.from({ length: 12 }, () => '*a').join(', ');
  writeFileSync(
    join(folder, 'heavy.yml'),
    `x-a: &a "${value}"\nname: iso\nservices:\n  web: { image: nginx, command: [${aliases}] }\n`,
  );
});

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

function load(file: string, isolation: Partial<Isolation> = {}): ReturnType<typeof loadIsolated> {
  return loadIsolated({ file, cwd: folder, environment: { TAG: 'v1' } }, { worker: WORKER, ...isolation });
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof SpecError)) throw new Error(`expected a SpecError, got ${String(outcome)}`);
  return outcome.message;
}

describe('loadIsolated', () => {
  it('returns the Stack loadStack returns, frozen, file contents included', async () => {
    const isolated = await load('good.yml');
    const direct = await loadStack({ file: 'good.yml', cwd: folder, environment: { TAG: 'v1' } });
    expect(JSON.stringify(isolated)).toBe(JSON.stringify(direct));
    expect(isolated.services.web!.configHash).toBe(direct.services.web!.configHash);
    expect(isolated.secrets.token!.content.bytes().toString()).toBe('token-bytes\n');
    expect(Object.isFrozen(isolated.services.web)).toBe(true);
  });

  it('rejects with the problems loadStack finds', async () => {
    expect(await refusal(load('bad.yml'))).toBe(
      'bad.yml:3:32 services.web.ports[0]: "80:abc" is not a port mapping: "abc" is not a port number (1-65535)',
    );
  });

  it('refuses a spec that runs the worker out of memory, and this process goes on', async () => {
    expect(await refusal(load('heavy.yml', { heapMb: 16 }))).toBe(
      'heavy.yml: loading it took more than 16 MiB of memory, so heal refused it',
    );
    // The same spec with room to load it: what was refused was the memory, not the spec.
    expect((await load('heavy.yml', { heapMb: 512 })).services.web!.command).toHaveLength(12);
    expect((await load('good.yml')).name).toBe('iso');
  });

  it('refuses a load that overruns its time', async () => {
    expect(await refusal(load('good.yml', { timeoutMs: 1 }))).toBe(
      'good.yml: loading it took longer than 0.001 s, so heal refused it',
    );
  });
});
