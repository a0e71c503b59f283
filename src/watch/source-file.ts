/**
 * The spec from a local file, followed with chokidar. It watches the file's folder (one watch,
 * filtered to the spec and its `.env`), so saves that replace the file's inode (vim's
 * rename-to-backup-then-write, `mv tmp stack.yml`) are seen like writes in place; a raw fs.watch on
 * the file would follow the old inode and go quiet. A save that leaves the content as it was does
 * not call onChange.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { SourceLog, SpecRevision, SpecSource } from './source-types.js';

export type FileSourceOptions = {
  /** The spec; relative to the process's working directory. */
  readonly file: string;
  /** Quiet time after the last file event before onChange. Default 300 ms. */
  readonly debounceMs?: number;
  readonly log?: SourceLog;
};

export type FileSpecSource = SpecSource & {
  /** Resolves once the watcher started by start() is in place; saves before that may go unseen. */
  watching(): Promise<void>;
};

export function fileSource(options: FileSourceOptions): FileSpecSource {
  return new FileSource(options);
}

class FileSource implements FileSpecSource {
  readonly describe: string;
  readonly #file: string;
  readonly #dir: string;
  /** The spec, and the `.env` beside it that loadStack reads by default. */
  readonly #followed: ReadonlySet<string>;
  readonly #debounceMs: number;
  readonly #log: SourceLog | undefined;

  #watcher: FSWatcher | undefined;
  #ready: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** What the files held when onChange last fired (or at start): a save that changes nothing is no news. */
  #seen = '';
  #checks: Promise<void> = Promise.resolve();

  constructor(options: FileSourceOptions) {
    this.#file = resolve(options.file);
    this.#dir = dirname(this.#file);
    this.#followed = new Set([this.#file, join(this.#dir, '.env')]);
    this.#debounceMs = options.debounceMs ?? 300;
    this.#log = options.log;
    this.describe = `file ${this.#file}`;
  }

  async refresh(): Promise<SpecRevision> {
    if (this.#closed) throw new Error('spec source is closed');
    return { revision: null, file: this.#file, cwd: this.#dir, folderName: basename(this.#dir) };
  }

  /** A file has nothing to fetch: the same as refresh(). */
  current(): Promise<SpecRevision> {
    return this.refresh();
  }

  start(onChange: () => void): void {
    if (this.#closed || this.#watcher !== undefined) return;
    this.#seen = this.#fingerprint(readFileSync);
    const watcher = watch(this.#dir, {
      depth: 0,
      ignoreInitial: true,
      // Folds an unlink quickly followed by an add (a rename-save) into one change.
      atomic: true,
      ignored: (path) => path !== this.#dir && !this.#followed.has(resolve(path)),
    });
    this.#watcher = watcher;
    this.#ready = new Promise((ready) => watcher.once('ready', () => ready()));
    watcher.on('all', () => this.#bump(onChange));
    watcher.on('error', (error) => {
      this.#log?.warn({ source: this.describe, error: String(error) }, 'spec file watch failed');
    });
  }

  watching(): Promise<void> {
    return this.#ready ?? Promise.reject(new Error('spec source is not started'));
  }

  poke(): void {
    // A file has nothing to fetch: the watcher already reports every save.
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#watcher?.close();
    await this.#checks;
  }

  #bump(onChange: () => void): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#checks = this.#checks.then(() => this.#check(onChange));
    }, this.#debounceMs);
  }

  async #check(onChange: () => void): Promise<void> {
    const now = await this.#fingerprintAsync();
    if (this.#closed || now === this.#seen) return;
    this.#seen = now;
    this.#log?.info({ source: this.describe }, 'spec file changed');
    try {
      onChange();
    } catch (error) {
      this.#log?.warn({ source: this.describe, error: String(error) }, 'spec change handler failed');
    }
  }

  #fingerprint(read: (path: string) => Buffer): string {
    const hash = createHash('sha256');
    for (const path of this.#followed) {
      try {
        hash.update(read(path)).update('\0present\0');
      } catch {
        hash.update('\0missing\0');
      }
    }
    return hash.digest('hex');
  }

  async #fingerprintAsync(): Promise<string> {
    const contents = new Map<string, Buffer>();
    for (const path of this.#followed) {
      await readFile(path).then(
        (data) => contents.set(path, data),
        () => undefined,
      );
    }
    return this.#fingerprint((path) => {
      const data = contents.get(path);
      if (data === undefined) throw new Error('missing');
      return data;
    });
  }
}
