/**
 * The file spec source against the real file system: each way an editor saves a file (in place,
 * write-then-rename, vim's rename-to-backup-then-write) must reach onChange exactly once.
 */
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileSource, type FileSpecSource } from '../../src/watch/source-file.js';

/** Longer than the default 300 ms debounce plus the watcher's own delays. */
const SETTLE_MS = 1_000;

let dir: string;
let file: string;
let source: FileSpecSource;
let changes: number;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'heal-source-file-'));
  file = join(dir, 'stack.yml');
  writeFileSync(file, 'name: one\n');
  changes = 0;
  source = fileSource({ file });
  source.start(() => void (changes += 1));
  await source.watching();
});

afterEach(async () => {
  await source.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('fileSource', () => {
  it("returns the file, its folder, the folder's name and no revision", async () => {
    expect(await source.refresh()).toEqual({ revision: null, file, cwd: dir, folderName: basename(dir) });
    expect(source.describe).toBe(`file ${file}`);
  });

  it('fires once for a write in place', async () => {
    writeFileSync(file, 'name: two\n');
    await sleep(SETTLE_MS);
    expect(changes).toBe(1);
  });

  it('fires once for a burst of writes (debounced)', async () => {
    for (let i = 0; i < 5; i++) {
      writeFileSync(file, `name: burst-${i}\n`);
      await sleep(30);
    }
    await sleep(SETTLE_MS);
    expect(changes).toBe(1);
  });

  it('fires once for an atomic save: write a temp file, rename it over the spec', async () => {
    const temp = join(dir, '.stack.yml.tmp-1234');
    writeFileSync(temp, 'name: renamed\n');
    renameSync(temp, file);
    await sleep(SETTLE_MS);
    expect(changes).toBe(1);

    // The watch survives the inode swap: the next save is seen too.
    writeFileSync(temp, 'name: renamed-again\n');
    renameSync(temp, file);
    await sleep(SETTLE_MS);
    expect(changes).toBe(2);
  });

  it("fires once for vim's save: rename the spec to a backup, write a new one, drop the backup", async () => {
    const backup = `${file}~`;
    renameSync(file, backup);
    writeFileSync(file, 'name: vim\n');
    unlinkSync(backup);
    await sleep(SETTLE_MS);
    expect(changes).toBe(1);

    renameSync(file, backup);
    writeFileSync(file, 'name: vim-again\n');
    unlinkSync(backup);
    await sleep(SETTLE_MS);
    expect(changes).toBe(2);
  });

  it('ignores a save that changes nothing, and other files in the folder', async () => {
    writeFileSync(file, 'name: one\n');
    writeFileSync(join(dir, '.stack.yml.swp'), 'swap');
    writeFileSync(join(dir, 'notes.txt'), 'unrelated');
    await sleep(SETTLE_MS);
    expect(changes).toBe(0);
  });

  it('fires when the .env beside the spec changes', async () => {
    writeFileSync(join(dir, '.env'), 'TAG=v2\n');
    await sleep(SETTLE_MS);
    expect(changes).toBe(1);
  });

  it('fires when the spec is deleted, and again when it comes back', async () => {
    unlinkSync(file);
    await sleep(SETTLE_MS);
    expect(changes).toBe(1);
    writeFileSync(file, 'name: back\n');
    await sleep(SETTLE_MS);
    expect(changes).toBe(2);
  });

  it('stops on close()', async () => {
    await source.close();
    writeFileSync(file, 'name: after-close\n');
    await sleep(SETTLE_MS);
    expect(changes).toBe(0);
    await expect(source.refresh()).rejects.toThrow('spec source is closed');
  });

  it('does not fire for a save still inside the debounce window at close()', async () => {
    writeFileSync(file, 'name: pending\n');
    await sleep(50);
    await source.close();
    await sleep(SETTLE_MS);
    expect(changes).toBe(0);
  });
});
