/**
 * The spec from a git repository: a private clone in a cache folder, fetched every interval (and on
 * a webhook's poke), with the ref's commit checked out detached. Everything the user writes (url,
 * ref, path) is checked before any git runs, and none of it can become a git option. Credentials
 * come from the environment and reach git only through its environment: never argv, logs or errors.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, realpath, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, posix, resolve, sep } from 'node:path';
import { GitError, GitPluginError, simpleGit, type SimpleGitOptions } from 'simple-git';
import { SpecSourceError } from './source-error.js';
import type { SourceLog, SpecRevision, SpecSource } from './source-types.js';

export type GitSourceOptions = {
  /** https://, http://, ssh://, git://, file://, `user@host:path`, or a local path. */
  readonly url: string;
  /** A branch, a tag, or a full ref name (`refs/heads/main`). Default `main`. */
  readonly ref?: string;
  /** The spec's path inside the repository. Default `stack.yml`. */
  readonly path?: string;
  /** Default `$XDG_CACHE_HOME/heal` or `~/.cache/heal`; the clone goes in `git/<hash>` under it. */
  readonly cacheDir?: string;
  /** How often to fetch; each wait is jittered by ±10% so a fleet of daemons does not fetch in step. */
  readonly intervalMs: number;
  /** Where HEAL_GIT_SSH_KEY, HEAL_GIT_TOKEN, XDG_CACHE_HOME and git's own environment come from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly log?: SourceLog;
};

/**
 * - `invalid`: an option or credential variable is unusable (raised before any git runs);
 * - `fetch-failed`: the remote could not be reached or refused us (network, auth, no such repository);
 * - `ref-missing`: the remote has no such branch or tag;
 * - `checkout-failed`: the local clone could not be brought to the fetched commit;
 * - `outside-clone`: the spec path leads out of the clone through a symlink.
 */
/** Where each fetch lands: a private ref no remote-tracking configuration touches. */
const TARGET = 'refs/heal/target';
/** Kill a git command that has printed nothing for this long (a hung connection). */
const SILENCE_LIMIT_MS = 120_000;
const SCHEMES = new Set(['https', 'http', 'ssh', 'git', 'file', 'git+ssh', 'ssh+git']);
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
/**
 * Variables simple-git's environment guard refuses when handed over explicitly (every GIT_*, plus
 * these): dropped from the inherited environment, so only the ones set here reach git.
 */
const GUARDED = new Set(['editor', 'pager', 'prefix', 'ssh_askpass', 'visual']);

export function gitSource(options: GitSourceOptions): SpecSource {
  return new GitSource(options);
}

class GitSource implements SpecSource {
  readonly describe: string;
  readonly #url: string;
  readonly #shownUrl: string;
  readonly #ref: string;
  readonly #path: string;
  readonly #dir: string;
  readonly #folderName: string;
  #intervalMs: number;
  readonly #log: SourceLog | undefined;
  readonly #secrets: string[];
  readonly #git: Partial<SimpleGitOptions>;
  readonly #env: Record<string, string>;
  readonly #abort = new AbortController();

  /** git work that reaches the remote (fetches), one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Work on the working tree (checkouts), one at a time, never behind a fetch. */
  #treeQueue: Promise<unknown> = Promise.resolve();
  /** The commit the latest fetch found. */
  #fetched: string | null = null;
  #closed = false;
  #lockChecked = false;
  #onChange: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pokeQueued = false;
  /** The newest commit the daemon has been given or told about. */
  #announced: string | null = null;
  #lastCheckout: string | null = null;
  #failing: string | null = null;

  constructor(options: GitSourceOptions) {
    const env = options.env ?? process.env;
    const ref = options.ref ?? 'main';
    const path = options.path ?? 'stack.yml';
    check('url', options.url, urlProblem(options.url));
    check('ref', ref, refProblem(ref));
    check('path', path, pathProblem(path));
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
      throw new SpecSourceError('invalid', `git poll interval must be a positive number of milliseconds`);
    }

    this.#url = isLocalPath(options.url) ? resolve(options.url) : options.url;
    this.#ref = ref;
    this.#path = path;
    this.#folderName = specFolderName(options.url, path);
    this.#intervalMs = options.intervalMs;
    this.#log = options.log;

    const credentials = gitCredentials(env);
    this.#secrets = credentials.secrets;
    this.#shownUrl = this.#redact(this.#url);
    this.describe = `git ${this.#shownUrl} ${ref}:${path}`;

    this.#env = childEnvironment(env, credentials.env);
    this.#git = {
      allowEnvironment: Object.keys(credentials.env),
      unsafe: credentials.unsafe,
      timeout: { block: SILENCE_LIMIT_MS },
    };

    const root = options.cacheDir ? resolve(options.cacheDir) : defaultCacheRoot(env);
    // One clone per (url, ref): two daemons following two branches must not share a working tree.
    const key = createHash('sha256').update(`${this.#url}\0${ref}`).digest('hex').slice(0, 16);
    this.#dir = join(root, 'git', key);
  }

  async refresh(): Promise<SpecRevision> {
    if (this.#closed) throw new Error('spec source is closed');
    let target: string;
    try {
      target = await this.#serial(() => {
        if (this.#closed) throw new Error('spec source is closed');
        return this.#fetch();
      });
    } catch (error) {
      // The daemon did not get what a poll announced: let the next poll announce it again.
      this.#announced = this.#lastCheckout;
      throw error;
    }
    // What this refresh returns needs no announcing by a poll while its checkout runs.
    this.#announced = target;
    return this.#checkedOut(target);
  }

  /** The commit the poller or the webhook fetched last, checked out; a fetch only before the first. */
  current(): Promise<SpecRevision> {
    if (this.#closed) return Promise.reject(new Error('spec source is closed'));
    if (this.#fetched === null) return this.refresh();
    return this.#checkedOut(this.#fetched);
  }

  /** Checks `target` out (it has been fetched) and names the spec file in it. */
  #checkedOut(target: string): Promise<SpecRevision> {
    return this.#tree(async () => {
      if (this.#closed) throw new Error('spec source is closed');
      let file: string;
      try {
        await this.#checkout(target);
        file = await this.#specFile(target);
      } catch (error) {
        this.#announced = this.#lastCheckout;
        throw error;
      }
      this.#announced = target;
      if (this.#lastCheckout !== target) {
        this.#log?.info({ source: this.describe, revision: target }, 'spec revision checked out');
        this.#lastCheckout = target;
      }
      return { revision: target, file, cwd: this.#dir, folderName: this.#folderName };
    });
  }

  start(onChange: () => void): void {
    if (this.#closed) return;
    this.#onChange = onChange;
    this.#schedule();
  }

  pollEvery(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.#intervalMs = ms;
  }

  poke(): void {
    if (this.#closed || this.#pokeQueued) return;
    this.#pokeQueued = true;
    clearTimeout(this.#timer);
    void this.#serial(async () => {
      this.#pokeQueued = false;
      await this.#poll();
    })
      .catch(() => undefined)
      .finally(() => this.#schedule());
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#onChange = undefined;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await Promise.all([this.#queue, this.#treeQueue]);
  }

  #schedule(): void {
    if (this.#closed || this.#onChange === undefined) return;
    clearTimeout(this.#timer);
    const jitter = 0.9 + Math.random() * 0.2;
    this.#timer = setTimeout(() => this.poke(), Math.max(1, Math.round(this.#intervalMs * jitter)));
  }

  /** One fetch for the poller: tells the daemon about a commit it has not seen. Never throws. */
  async #poll(): Promise<void> {
    let target: string;
    try {
      target = await this.#fetch();
    } catch (error) {
      if (this.#closed) return;
      const message = error instanceof Error ? error.message : String(error);
      // Once per distinct failure, not once per interval.
      if (this.#failing !== message)
        this.#log?.warn({ source: this.describe, error: message }, 'spec fetch failed');
      this.#failing = message;
      return;
    }
    if (this.#failing !== null) this.#log?.info({ source: this.describe }, 'spec fetch recovered');
    this.#failing = null;
    const onChange = this.#onChange;
    if (onChange === undefined || target === this.#announced) return;
    this.#announced = target;
    this.#log?.info({ source: this.describe, revision: target }, 'spec revision fetched');
    try {
      onChange();
    } catch (error) {
      this.#log?.warn({ source: this.describe, error: String(error) }, 'spec change handler failed');
    }
  }

  /**
   * Runs fetches one at a time. A fetch touches only the object store and TARGET; checkouts read
   * objects already fetched and write the working tree, so the two queues never wait on each
   * other: a hung remote never holds up a checkout.
   */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Runs checkouts one at a time. */
  #tree<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#treeQueue.then(work, work);
    this.#treeQueue = run.catch(() => undefined);
    return run;
  }

  /** Fetches the ref into TARGET and returns the commit it names. The working tree is untouched. */
  async #fetch(): Promise<string> {
    await this.#prepare();
    const refspec = `+${this.#ref}:${TARGET}`;
    // No gc after it: a repack must not run under a checkout of the other queue.
    const args = [
      'fetch',
      '--no-tags',
      '--no-recurse-submodules',
      '--no-auto-gc',
      '--progress',
      '--',
      this.#url,
      refspec,
    ];
    try {
      await this.#run(args, true);
    } catch (error) {
      throw this.#fetchError(error);
    }
    const target = await this.#revParse(`${TARGET}^{commit}`);
    if (target === null) {
      throw new SpecSourceError('ref-missing', `${this.#ref} in ${this.#shownUrl} does not name a commit`);
    }
    this.#fetched = target;
    return target;
  }

  /** Creates the clone on first use; clears an index lock a killed predecessor left behind. */
  async #prepare(): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      if (!existsSync(join(this.#dir, '.git', 'HEAD'))) await this.#run(['init', '--quiet']);
      if (this.#lockChecked) return;
      this.#lockChecked = true;
      const lock = join(this.#dir, '.git', 'index.lock');
      if (!existsSync(lock)) return;
      this.#log?.warn({ source: this.describe, lock }, 'removing a stale git index lock');
      await rm(lock, { force: true });
    } catch (error) {
      throw new SpecSourceError(
        'checkout-failed',
        `could not prepare the git cache ${this.#dir}: ${this.#detail(error)}`,
      );
    }
  }

  /** Puts the working tree at `target` exactly: moved HEAD, edited, added and ignored files all reset. */
  async #checkout(target: string): Promise<void> {
    try {
      const head = await this.#revParse('HEAD');
      const changes = head === null ? '' : await this.#run(['status', '--porcelain', '--ignored', '-uall']);
      if (head === target && changes === '') return;
      if (head === target) {
        this.#log?.warn(
          { source: this.describe, revision: target },
          'spec checkout edited by hand; resetting',
        );
      }
      await this.#run(['checkout', '--quiet', '--force', '--detach', target]);
      await this.#run(['clean', '--force', '--force', '-d', '-x', '--quiet']);
      const now = await this.#revParse('HEAD');
      if (now !== target) throw new Error(`HEAD is ${now ?? 'unborn'} after checking out ${target}`);
    } catch (error) {
      throw new SpecSourceError(
        'checkout-failed',
        `could not check out ${target} in ${this.#dir}: ${this.#detail(error)}`,
      );
    }
  }

  /** The spec's absolute path, refused when a committed symlink leads it out of the clone. */
  async #specFile(target: string): Promise<string> {
    const file = join(this.#dir, this.#path);
    let real: string;
    try {
      real = await realpath(file);
    } catch {
      return file; // Missing at this commit: the loader reports it, against this revision.
    }
    const root = await realpath(this.#dir);
    if (real.startsWith(root + sep)) return file;
    throw new SpecSourceError(
      'outside-clone',
      `${this.#path} at ${target.slice(0, 12)} of ${this.#shownUrl} leads out of the repository (symlink)`,
    );
  }

  async #revParse(name: string): Promise<string | null> {
    try {
      const sha = (await this.#run(['rev-parse', '--verify', name])).trim();
      return SHA.test(sha) ? sha : null;
    } catch (error) {
      if (error instanceof GitError && !(error instanceof GitPluginError)) return null;
      throw error;
    }
  }

  #run(args: string[], abortable = false): Promise<string> {
    const options: Partial<SimpleGitOptions> = { ...this.#git, baseDir: this.#dir };
    if (abortable) options.abort = this.#abort.signal;
    return simpleGit(options).env(this.#env).raw(args);
  }

  #fetchError(error: unknown): SpecSourceError {
    if (
      error instanceof GitError &&
      !(error instanceof GitPluginError) &&
      /couldn't find remote ref/i.test(error.message)
    ) {
      return new SpecSourceError('ref-missing', `${this.#shownUrl} has no branch or tag ${this.#ref}`);
    }
    return new SpecSourceError(
      'fetch-failed',
      `could not fetch ${this.#ref} from ${this.#shownUrl}: ${this.#detail(error)}`,
    );
  }

  /** git's own reason, one line, with every credential masked. */
  #detail(error: unknown): string {
    if (error instanceof GitPluginError) {
      if (error.plugin === 'timeout')
        return `git printed nothing for ${SILENCE_LIMIT_MS / 1000} s and was stopped`;
      if (error.plugin === 'abort') return 'the source was closed';
    }
    const text = error instanceof Error ? error.message : String(error);
    return this.#redact(gitReason(text)).slice(0, 500);
  }

  #redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (secret.length > 0) out = out.split(secret).join('***');
    }
    // Userinfo in any URL git echoes back (git strips passwords, not tokens given as user names).
    return out.replace(/(https?:\/\/)[^/@\s]+@/gi, '$1***@');
  }
}

/**
 * The line of git's stderr that says what went wrong. Transport failures end in a generic "Could
 * not read from remote repository."; the specific reason is another fatal line or, for ssh, the
 * line ssh printed just before.
 */
function gitReason(text: string): string {
  const lines = text
    .split(/[\r\n]+/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const isFatal = (line: string): boolean => /^(fatal|error):/.test(line);
  const first = lines.findIndex(isFatal);
  if (first < 0) return lines.at(-1) ?? 'git failed';
  const fatals = lines.filter(isFatal).map((line) => line.replace(/^(fatal|error):\s*/, ''));
  const specific = fatals.filter((line) => !line.startsWith('Could not read from remote repository'));
  if (specific.length > 0) return [...new Set(specific)].join('; ');
  const before = lines
    .slice(0, first)
    .filter((line) => !/^(hint|remote|warning):/i.test(line))
    .at(-1);
  return before ?? fatals[0] ?? 'git failed';
}

/** What the environment's credential variables turn into: git environment, guard permits, secrets. */
function gitCredentials(env: Readonly<Record<string, string | undefined>>): {
  env: Record<string, string>;
  unsafe: NonNullable<SimpleGitOptions['unsafe']>;
  secrets: string[];
} {
  const out: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  const unsafe: NonNullable<SimpleGitOptions['unsafe']> = {};
  const secrets: string[] = [];

  const key = env.HEAL_GIT_SSH_KEY;
  if (key !== undefined && key !== '') {
    if (hasControl(key))
      throw new SpecSourceError('invalid', 'HEAL_GIT_SSH_KEY contains a control character');
    const file = resolve(key);
    if (!existsSync(file)) {
      throw new SpecSourceError('invalid', `HEAL_GIT_SSH_KEY names ${file}, which does not exist`);
    }
    // git runs this through a shell; the path is single-quoted so no character in it means anything.
    // BatchMode: a key with a passphrase, or an unknown host key, fails instead of waiting for a tty.
    out.GIT_SSH_COMMAND = `ssh -i ${shellQuote(file)} -o IdentitiesOnly=yes -o BatchMode=yes`;
    unsafe.allowUnsafeSshCommand = true;
  }

  const token = env.HEAL_GIT_TOKEN;
  if (token !== undefined && token !== '') {
    // A line break would let the "token" add headers of its own.
    if (hasControl(token))
      throw new SpecSourceError('invalid', 'HEAL_GIT_TOKEN contains a control character');
    out.GIT_CONFIG_COUNT = '1';
    out.GIT_CONFIG_KEY_0 = 'http.extraHeader';
    out.GIT_CONFIG_VALUE_0 = `Authorization: Bearer ${token}`;
    unsafe.allowUnsafeConfigEnvCount = true;
    secrets.push(token, encodeURIComponent(token));
  }
  return { env: out, unsafe, secrets };
}

/** The inherited environment minus what git must not see (its own knobs, heal's secrets), plus ours. */
function childEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  ours: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const lower = name.toLowerCase();
    if (value === undefined || lower.startsWith('git_') || lower.startsWith('heal_') || GUARDED.has(lower))
      continue;
    out[name] = value;
  }
  // English messages: the fetch errors are recognized by their wording.
  return { ...out, LC_ALL: 'C', ...ours };
}

function defaultCacheRoot(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.cache');
  return join(base, 'heal');
}

function check(what: 'url' | 'ref' | 'path', value: string, problem: string | null): void {
  if (problem === null) return;
  const safe = value.replace(/(https?:\/\/)[^/@\s]+@/gi, '$1***@');
  const shown = hasControl(safe) || safe.length > 200 ? '' : ` ${JSON.stringify(safe)}`;
  throw new SpecSourceError('invalid', `git ${what}${shown} ${problem}`);
}

/** `git check-ref-format --allow-onelevel`, plus no leading `-`. */
export function refProblem(ref: string): string | null {
  if (ref.length === 0) return 'is empty';
  if (ref.length > 255) return 'is longer than 255 characters';
  if (ref.startsWith('-')) return 'starts with "-"';
  if (hasControl(ref) || ref.includes(' ')) return 'contains a space or a control character';
  if (/[~^:?*[\\]/.test(ref)) return 'contains one of ~ ^ : ? * [ \\';
  if (ref.includes('..')) return 'contains ".."';
  if (ref.includes('@{')) return 'contains "@{"';
  if (ref === '@') return 'is "@"';
  if (ref.startsWith('/') || ref.endsWith('/') || ref.includes('//')) return 'has an empty component';
  if (ref.endsWith('.')) return 'ends with "."';
  for (const component of ref.split('/')) {
    if (component.startsWith('.')) return 'has a component starting with "."';
    if (component.endsWith('.lock')) return 'has a component ending with ".lock"';
  }
  return null;
}

/**
 * The name of the folder holding the spec in a checkout of the repository: the spec's folder, or
 * for a spec at the root the repository's name, so the stack is named alike by `heal watch --repo`
 * and by `heal plan` in a clone, whichever way the URL is spelled.
 */
export function specFolderName(url: string, path: string): string {
  const folder = posix.dirname(path);
  return folder === '.' ? repositoryName(url) : posix.basename(folder);
}

/**
 * The folder `git clone URL` makes: the URL's last path segment without `.git`
 * (`https://host/org/app.git`, `https://host/org/app/`, `git@host:org/app.git`, `/srv/app/.git`: `app`).
 */
export function repositoryName(url: string): string {
  const segments = url
    .replace(/[?#].*$/, '')
    .split(/[/:\\]/)
    .filter((segment) => segment !== '');
  let last = segments.pop() ?? '';
  if (last === '.git') last = segments.pop() ?? '';
  return last.replace(/\.git$/, '');
}

/** A relative path that stays inside the clone and out of its .git folder. */
export function pathProblem(path: string): string | null {
  if (path.length === 0) return 'is empty';
  if (path.startsWith('-')) return 'starts with "-"';
  if (hasControl(path)) return 'contains a control character';
  if (isAbsolute(path)) return 'is absolute; give it relative to the repository root';
  const parts = path.split('/');
  if (parts.includes('..')) return 'leads out of the repository ("..")';
  if (parts.includes('.git')) return 'points into .git';
  if (path.endsWith('/') || parts.at(-1) === '.') return 'names a folder, not a file';
  return null;
}

export function urlProblem(url: string): string | null {
  if (url.length === 0) return 'is empty';
  if (url.startsWith('-')) return 'starts with "-"';
  if (hasControl(url)) return 'contains a control character';
  if (/^[a-z][a-z0-9+.-]*::/i.test(url))
    return 'uses a remote helper (transport::address), which heal refuses';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined && !SCHEMES.has(scheme)) {
    return `uses ${scheme}://; heal fetches over https, http, ssh, git or file`;
  }
  // It would sit in git's argv for anyone running ps to read.
  if (/^https?:\/\/[^/@]*:[^/@]*@/i.test(url)) return 'holds a password; put the token in HEAL_GIT_TOKEN';
  return null;
}

/** git's rule: no scheme, and no colon before the first slash (else it is `host:path` over ssh). */
function isLocalPath(url: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return false;
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  return colon < 0 || (slash >= 0 && slash < colon);
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
