/**
 * A daemon following a local file (`heal watch -f`) keeps the last good content when a save is
 * refused, as it does for a git revision: a file that does not load, and a file whose plan is
 * refused. Real files, the real file source and the real loader (in-process: a worker cannot run
 * the TypeScript sources); no test bed, since nothing here reaches a host.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadStack } from '../../src/spec/load.js';
import { createLogger } from '../../src/watch/log.js';
import { createMetrics } from '../../src/watch/metrics.js';
import { fileSource, type FileSpecSource } from '../../src/watch/source-file.js';
import { SpecState } from '../../src/watch/spec-state.js';

let dir: string;
let file: string;
let source: FileSpecSource;
let state: SpecState;
let changes: number;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Saves the spec and waits until the file source announced it, as the daemon's trigger does. */
async function save(text: string): Promise<void> {
  const before = changes;
  writeFileSync(file, text);
  for (let waited = 0; changes === before && waited < 10_000; waited += 50) await sleep(50);
  expect(changes, 'the file source announced the save').toBe(before + 1);
}

function spec(image: string, token = 'token.txt'): string {
  return [
    'name: filed',
    'x-heal: { hosts: { local: { docker: "unix:///var/run/docker.sock" } } }',
    'services:',
    `  web: { image: "${image}", secrets: [token] }`,
    `secrets: { token: { file: ${token} } }`,
    '',
  ].join('\n');
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'heal-spec-file-'));
  file = join(dir, 'stack.yml');
  writeFileSync(join(dir, 'token.txt'), 'first-token');
  writeFileSync(file, spec('nginx:1'));
  changes = 0;
  source = fileSource({ file, debounceMs: 50 });
  state = new SpecState({
    source,
    environment: {},
    log: createLogger({ level: 'silent', pretty: false }),
    metrics: createMetrics(),
    loader: (options) => loadStack(options),
  });
  source.start(() => {
    state.changed = true;
    changes += 1;
  });
  await source.watching();
  await state.load();
});

afterEach(async () => {
  await source.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SpecState over a local file', () => {
  it('keeps the last good content, files included, when a save does not load', async () => {
    expect(state.good?.stack.services.web?.image).toBe('nginx:1');
    writeFileSync(join(dir, 'token.txt'), 'second-token');
    await save('services: [not, a, mapping]\n');
    await state.load();

    expect(state.error).toMatch(/^stack\.yml:1:11 services: /);
    expect(state.good?.stack.services.web?.image).toBe('nginx:1');
    // The secret was read with the content that loaded: the saved file does not leak into it.
    expect(state.good?.stack.secrets.token?.content.bytes().toString()).toBe('first-token');
    // Nothing new was announced: the next reconcile heals with the good content, not reading again.
    await state.load();
    expect(state.good?.stack.services.web?.image).toBe('nginx:1');

    await save(spec('nginx:2'));
    await state.load();
    expect(state.error).toBeNull();
    expect(state.good?.stack.services.web?.image).toBe('nginx:2');
    expect(state.good?.stack.secrets.token?.content.bytes().toString()).toBe('second-token');
  });

  it('falls back to the content before when the new content loads but its plan is refused', async () => {
    state.planned();
    await save(spec('nginx:2'));
    await state.load();
    expect(state.good?.stack.services.web?.image).toBe('nginx:2');

    expect(state.rejectNewest('it would remove every container of the stack')).toBe(true);
    expect(state.good?.stack.services.web?.image).toBe('nginx:1');
    expect(state.error).toBe('new file content: it would remove every container of the stack');
    // The refused content is not read again until the next save.
    await state.load();
    expect(state.good?.stack.services.web?.image).toBe('nginx:1');
    expect(state.rejectNewest('again')).toBe(false);
  });
});
