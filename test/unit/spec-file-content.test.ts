/**
 * Secret and config files are read when the spec is loaded and carried in the frozen Stack: the
 * disk is never read again, and no way of printing a Stack shows their bytes.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/planner/plan.js';
import { FileContent } from '../../src/spec/file-content.js';
import { loadStack } from '../../src/spec/load.js';
import { toCompose } from '../../src/spec/to-compose.js';
import { fromPortable, toPortable } from '../../src/spec/transfer.js';
import type { Stack } from '../../src/spec/types.js';
import { emptyWorld } from './simulate.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const SECRET = 'db-password-3c1f\n';
const CONFIG = 'listen 80; # config-body-88ad\n';

async function loaded(): Promise<{ stack: Stack; folder: string }> {
  const folder = mkdtempSync(join(tmpdir(), 'heal-content-'));
  folders.push(folder);
  writeFileSync(join(folder, 'db.txt'), SECRET);
  writeFileSync(join(folder, 'nginx.conf'), CONFIG);
  writeFileSync(
    join(folder, 'stack.yml'),
    [
      'name: t',
      'x-heal: { hosts: { h1: { ssh: 10.0.0.11 } } }',
      'services: { web: { image: nginx, secrets: [db], configs: [nginx] } }',
      'secrets: { db: { file: db.txt } }',
      'configs: { nginx: { file: nginx.conf } }',
      '',
    ].join('\n'),
  );
  return { stack: await loadStack({ file: 'stack.yml', cwd: folder, environment: {} }), folder };
}

describe('file contents captured at load', () => {
  it('keeps the bytes read at load, whatever happens to the files after', async () => {
    const { stack, folder } = await loaded();
    writeFileSync(join(folder, 'db.txt'), 'rotated\n');
    unlinkSync(join(folder, 'nginx.conf'));
    expect(stack.secrets.db!.content.bytes().toString()).toBe(SECRET);
    expect(stack.configs.nginx!.content.bytes().toString()).toBe(CONFIG);
  });

  it('is frozen with the stack, and a copy written to does not change it', async () => {
    const { stack } = await loaded();
    expect(Object.isFrozen(stack.secrets.db)).toBe(true);
    expect(Object.isFrozen(stack.secrets.db!.content)).toBe(true);
    const copy = stack.secrets.db!.content.bytes();
    copy.fill(0);
    expect(stack.secrets.db!.content.bytes().toString()).toBe(SECRET);
  });

  it('never shows the bytes: JSON, inspect, strings, heal config and plans print at most the size', async () => {
    const { stack } = await loaded();
    const planned = plan(stack, emptyWorld(stack), { now: 1_700_000_000_000, freshStackKey: 'a'.repeat(64) });
    // The plan does copy both files in: it names them, and no more.
    expect(JSON.stringify(planned)).toContain('/run/secrets/db');
    for (const printed of [
      JSON.stringify(planned),
      JSON.stringify(stack),
      inspect(stack, { depth: null }),
      `${stack.secrets.db!.content}`,
      JSON.stringify(toCompose(stack)),
    ]) {
      expect(printed).not.toContain('db-password-3c1f');
      expect(printed).not.toContain('config-body-88ad');
    }
    expect(JSON.stringify(stack.secrets.db)).toContain('"content":"<17 bytes>"');
  });

  it('crosses a thread as bytes and comes back as the same frozen stack', async () => {
    const { stack } = await loaded();
    // What postMessage does to a value: structured cloning drops the class, keeps the bytes.
    const back = fromPortable(structuredClone(toPortable(stack)));
    expect(back.secrets.db!.content).toBeInstanceOf(FileContent);
    expect(back.secrets.db!.content.bytes().toString()).toBe(SECRET);
    expect(back.configs.nginx!.content.bytes().toString()).toBe(CONFIG);
    expect(JSON.stringify(back)).toBe(JSON.stringify(stack));
    expect(Object.isFrozen(back.services.web!.secrets)).toBe(true);
  });
});
