/**
 * The git spec source against real repositories: a bare repo in a temp folder stands for the
 * remote, a work clone pushes commits to it, and the source follows it through a temp cache.
 * No Docker here; the file sits in the integration tier because it runs git and waits on timers.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gitSource, SpecSourceError, type SourceLog, type SpecSource } from '../../src/watch/source.js';

let root: string;
let bare: string;
let work: string;
let cases = 0;
const opened: SpecSource[] = [];

/** A clean environment for git in the test's own commands (no GIT_DIR and the like leaking in). */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('GIT_') && !name.startsWith('HEAL_')) env[name] = value;
  }
  return { ...env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=heal test', '-c', 'user.email=test@heal.invalid', ...args], {
    cwd,
    env: gitEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** Commits `files` (a null content removes the file) in the work clone, pushes, returns the sha. */
function commit(files: Record<string, string | null>, message = 'change'): string {
  for (const [name, content] of Object.entries(files)) {
    if (content === null) git(work, 'rm', '--quiet', '--', name);
    else writeFileSync(join(work, name), content);
  }
  git(work, 'add', '--all');
  git(work, 'commit', '--quiet', '--allow-empty', '-m', message);
  git(work, 'push', '--quiet', 'origin', 'HEAD:main');
  return git(work, 'rev-parse', 'HEAD');
}

/** A fresh cache folder per test, so no test sees another's clone. */
function cacheDir(): string {
  cases += 1;
  return join(root, `cache-${cases}`);
}

function open(options: Partial<Parameters<typeof gitSource>[0]> = {}): SpecSource {
  const source = gitSource({
    url: bare,
    cacheDir: cacheDir(),
    intervalMs: 60_000,
    env: gitEnv(),
    ...options,
  });
  opened.push(source);
  return source;
}

function recorder(): SourceLog & { lines: { msg: string; fields: object }[] } {
  const lines: { msg: string; fields: object }[] = [];
  return {
    lines,
    info: (fields, msg) => void lines.push({ msg, fields }),
    warn: (fields, msg) => void lines.push({ msg, fields }),
  };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((done) => setTimeout(done, 20));
  }
}

async function failure(promise: Promise<unknown>): Promise<SpecSourceError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SpecSourceError);
  return error as SpecSourceError;
}

function thrown(run: () => unknown): SpecSourceError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SpecSourceError);
    return error as SpecSourceError;
  }
  throw new Error('expected a SpecSourceError');
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'heal-source-git-'));
  bare = join(root, 'remote.git');
  work = join(root, 'work');
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(root, 'clone', '--quiet', bare, work);
  git(work, 'checkout', '--quiet', '-B', 'main');
  commit({ 'stack.yml': 'name: blog\n' }, 'first');
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((source) => source.close()));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('gitSource refresh', () => {
  it('checks out the ref and returns the exact commit and the spec file', async () => {
    const head = commit({ 'stack.yml': 'name: one\n' });
    const cache = cacheDir();
    const source = open({ cacheDir: cache });

    const revision = await source.refresh();

    expect(revision.revision).toBe(head);
    expect(revision.file.startsWith(cache)).toBe(true);
    expect(revision.file.endsWith('/stack.yml')).toBe(true);
    expect(readFileSync(revision.file, 'utf8')).toBe('name: one\n');
    expect(revision.cwd).toBe(join(revision.file, '..'));
    expect(source.describe).toBe(`git ${bare} main:stack.yml`);
    // The stack's default name: the repository's, as a clone would call its folder, not the cache's.
    expect(revision.folderName).toBe('remote');
  });

  it('follows a file:// URL, a spec path in a subfolder, and a tag (peeled to its commit)', async () => {
    mkdirSync(join(work, 'deploy'), { recursive: true });
    const tagged = commit({ 'deploy/prod.yml': 'name: prod\n' });
    git(work, 'tag', '--annotate', '-m', 'release', 'v1');
    git(work, 'push', '--quiet', 'origin', 'v1');
    commit({ 'deploy/prod.yml': 'name: later\n' });

    const source = open({ url: `file://${bare}`, ref: 'v1', path: 'deploy/prod.yml' });
    const revision = await source.refresh();

    expect(revision.revision).toBe(tagged);
    expect(readFileSync(revision.file, 'utf8')).toBe('name: prod\n');
    expect(revision.folderName).toBe('deploy');
  });

  it('moves to a new commit on the next refresh, and leaves the file alone in between', async () => {
    const first = commit({ 'stack.yml': 'name: before\n' });
    const source = open();
    const before = await source.refresh();
    const second = commit({ 'stack.yml': 'name: after\n' });

    // A reconcile that read `before` still reads its content until it refreshes again.
    expect(readFileSync(before.file, 'utf8')).toBe('name: before\n');
    const after = await source.refresh();

    expect([before.revision, after.revision]).toEqual([first, second]);
    expect(readFileSync(after.file, 'utf8')).toBe('name: after\n');
  });

  it('resets a checkout edited by hand: changed, added and ignored files', async () => {
    const head = commit({ 'stack.yml': 'name: pristine\n', '.gitignore': 'scratch/\n' });
    const log = recorder();
    const source = open({ log });
    const revision = await source.refresh();
    writeFileSync(revision.file, 'name: edited\n');
    writeFileSync(join(revision.cwd, 'extra.yml'), 'x: 1\n');
    mkdirSync(join(revision.cwd, 'scratch'));
    writeFileSync(join(revision.cwd, 'scratch', 'notes'), 'ignored\n');

    const again = await source.refresh();

    expect(again.revision).toBe(head);
    expect(readFileSync(again.file, 'utf8')).toBe('name: pristine\n');
    expect(existsSync(join(again.cwd, 'extra.yml'))).toBe(false);
    expect(existsSync(join(again.cwd, 'scratch'))).toBe(false);
    expect(log.lines.map((line) => line.msg)).toContain('spec checkout edited by hand; resetting');
  });

  it('serializes concurrent refreshes', async () => {
    const head = commit({ 'stack.yml': 'name: concurrent\n' });
    const source = open();

    const revisions = await Promise.all([source.refresh(), source.refresh(), source.refresh()]);

    expect(revisions.map((revision) => revision.revision)).toEqual([head, head, head]);
  });

  it('throws a clear error for a ref the remote does not have, with no checkout made', async () => {
    const source = open({ ref: 'no-such-branch' });

    const error = await failure(source.refresh());

    expect(error.kind).toBe('ref-missing');
    expect(error.message).toBe(`${bare} has no branch or tag no-such-branch`);
  });

  it('keeps the last checkout when a fetch fails, and recovers when the remote is back', async () => {
    const head = commit({ 'stack.yml': 'name: kept\n' });
    const source = open();
    const revision = await source.refresh();
    const moved = `${bare}.away`;
    renameSync(bare, moved);
    try {
      const error = await failure(source.refresh());
      expect(error.kind).toBe('fetch-failed');
      expect(error.message).toMatch(new RegExp(`^could not fetch main from ${bare}: .+`));
      expect(readFileSync(revision.file, 'utf8')).toBe('name: kept\n');
    } finally {
      renameSync(moved, bare);
    }
    expect((await source.refresh()).revision).toBe(head);
  });

  it('refuses a spec path that a committed symlink leads out of the clone', async () => {
    const outside = join(root, 'outside.yml');
    writeFileSync(outside, 'name: secret\n');
    unlinkSync(join(work, 'stack.yml'));
    symlinkSync(outside, join(work, 'stack.yml'));
    commit({}, 'symlink out');
    try {
      const error = await failure(open().refresh());
      expect(error.kind).toBe('outside-clone');
      expect(error.message).toMatch(
        /^stack\.yml at [0-9a-f]{12} of .+ leads out of the repository \(symlink\)$/,
      );
    } finally {
      unlinkSync(join(work, 'stack.yml'));
      commit({ 'stack.yml': 'name: blog\n' }, 'symlink gone');
    }
  });

  it('rejects refresh() after close()', async () => {
    const source = open();
    await source.close();
    await expect(source.refresh()).rejects.toThrow('spec source is closed');
  });
});

describe('gitSource following', () => {
  it('calls onChange after poke() when the ref has a new commit', async () => {
    commit({ 'stack.yml': 'name: poke-1\n' });
    const source = open({ intervalMs: 60_000 });
    let changes = 0;
    source.start(() => void (changes += 1));
    await source.refresh();

    source.poke();
    await new Promise((done) => setTimeout(done, 500));
    expect(changes).toBe(0); // Nothing new: no call.

    const next = commit({ 'stack.yml': 'name: poke-2\n' });
    source.poke();
    await until(() => changes === 1);
    const revision = await source.refresh();

    expect(revision.revision).toBe(next);
    expect(readFileSync(revision.file, 'utf8')).toBe('name: poke-2\n');
  });

  it('finds a new commit by polling every intervalMs', async () => {
    commit({ 'stack.yml': 'name: poll-1\n' });
    const source = open({ intervalMs: 200 });
    let changes = 0;
    source.start(() => void (changes += 1));
    await source.refresh();

    const next = commit({ 'stack.yml': 'name: poll-2\n' });
    await until(() => changes === 1);
    // Once per new commit, not once per poll.
    await new Promise((done) => setTimeout(done, 700));
    expect(changes).toBe(1);

    expect((await source.refresh()).revision).toBe(next);
  });

  it('announces a commit again when the refresh it prompted failed', async () => {
    commit({ 'stack.yml': 'name: retry-1\n' });
    const source = open();
    let changes = 0;
    source.start(() => void (changes += 1));
    await source.refresh();

    const next = commit({ 'stack.yml': 'name: retry-2\n' });
    source.poke();
    await until(() => changes === 1);
    const moved = `${bare}.away`;
    renameSync(bare, moved);
    try {
      await failure(source.refresh());
    } finally {
      renameSync(moved, bare);
    }
    source.poke();
    await until(() => changes === 2);

    expect((await source.refresh()).revision).toBe(next);
  });

  it('stops polling on close()', async () => {
    const source = open({ intervalMs: 100 });
    let changes = 0;
    source.start(() => void (changes += 1));
    await source.refresh();
    await source.close();

    commit({ 'stack.yml': 'name: after-close\n' });
    await new Promise((done) => setTimeout(done, 500));

    expect(changes).toBe(0);
  });
});

describe('gitSource current(): what to load, never waiting on the remote', () => {
  let server: Server;
  let port: number;
  let served: string;
  /** While set, the remote accepts requests and never answers them (a hung git server). */
  let hang = false;
  const hung: ServerResponse[] = [];

  /** Git's "dumb" HTTP protocol: the bare repository's files, served as they are. */
  beforeAll(async () => {
    served = join(root, 'served.git');
    git(root, 'clone', '--quiet', '--bare', bare, served);
    git(served, 'update-server-info');
    server = createServer((request, response) => {
      if (hang) return void hung.push(response);
      const path = decodeURIComponent((request.url ?? '/').split('?')[0]!).replace(/^\/repo\.git\//, '');
      const file = join(served, path);
      if (path.includes('..') || !existsSync(file)) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const response of hung.splice(0)) response.destroy();
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });

  /** A commit pushed to the served remote. */
  function publish(files: Record<string, string>): string {
    const sha = commit(files);
    git(work, 'push', '--quiet', served, 'HEAD:main');
    git(served, 'update-server-info');
    return sha;
  }

  it('checks out the commit a poke fetched, without fetching, while the remote hangs', async () => {
    const first = publish({ 'stack.yml': 'name: served-1\n' });
    const source = open({ url: `http://127.0.0.1:${port}/repo.git` });
    let changes = 0;
    source.start(() => void (changes += 1));
    expect((await source.current()).revision).toBe(first);

    const next = publish({ 'stack.yml': 'name: served-2\n' });
    source.poke();
    await until(() => changes === 1);

    // The git server hangs; a poke's fetch waits on it.
    hang = true;
    try {
      source.poke();
      await until(() => hung.length > 0);
      const revision = await source.current();
      expect(revision.revision).toBe(next);
      expect(readFileSync(revision.file, 'utf8')).toBe('name: served-2\n');
      // Answered while the fetch still hangs: current() never queued behind it.
      expect(hung.every((response) => !response.writableEnded)).toBe(true);
    } finally {
      hang = false;
      for (const response of hung.splice(0)) response.destroy();
    }
  });

  it('fetches when nothing was fetched yet (the start)', async () => {
    const head = publish({ 'stack.yml': 'name: served-3\n' });
    const source = open({ url: `http://127.0.0.1:${port}/repo.git` });
    expect((await source.current()).revision).toBe(head);
  });
});

describe('gitSource input checks (before any git runs)', () => {
  it('rejects a ref that would be a git option, and runs nothing', () => {
    const marker = join(root, 'pwned-ref');
    const cache = cacheDir();

    const error = thrown(() =>
      gitSource({ url: bare, ref: `--upload-pack=touch ${marker}`, cacheDir: cache, intervalMs: 1000 }),
    );

    expect(error.kind).toBe('invalid');
    expect(error.message).toBe(`git ref "--upload-pack=touch ${marker}" starts with "-"`);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(cache)).toBe(false);
  });

  it('rejects a spec path that leaves the clone', () => {
    const cache = cacheDir();
    const error = thrown(() =>
      gitSource({ url: bare, path: '../etc/passwd', cacheDir: cache, intervalMs: 1000 }),
    );

    expect(error.message).toBe('git path "../etc/passwd" leads out of the repository ("..")');
    expect(existsSync(cache)).toBe(false);
  });

  it.each([
    ['a..b', 'contains ".."'],
    ['main:refs/heads/evil', 'contains one of ~ ^ : ? * [ \\'],
    ['@{-1}', 'contains "@{"'],
    ['refs/heads/x.lock', 'has a component ending with ".lock"'],
    ['feature/.hidden', 'has a component starting with "."'],
    ['with space', 'contains a space or a control character'],
    ['line\nbreak', 'contains a space or a control character'],
    ['double//slash', 'has an empty component'],
    ['ends.', 'ends with "."'],
    ['', 'is empty'],
  ])('rejects the ref %j: %s', (ref, problem) => {
    const error = thrown(() => gitSource({ url: bare, ref, cacheDir: cacheDir(), intervalMs: 1000 }));
    expect(error.message.endsWith(problem)).toBe(true);
  });

  it.each([
    ['/etc/passwd', 'is absolute; give it relative to the repository root'],
    ['-stack.yml', 'starts with "-"'],
    ['.git/config', 'points into .git'],
    ['deploy/', 'names a folder, not a file'],
  ])('rejects the path %j', (path, problem) => {
    const error = thrown(() => gitSource({ url: bare, path, cacheDir: cacheDir(), intervalMs: 1000 }));
    expect(error.message.endsWith(problem)).toBe(true);
  });

  it('rejects URLs that are options, remote helpers, odd schemes, or carry a password', () => {
    const marker = join(root, 'pwned-url');
    const cases: [string, string][] = [
      [`--upload-pack=touch ${marker}`, 'starts with "-"'],
      [`ext::sh -c touch% ${marker}`, 'uses a remote helper (transport::address), which heal refuses'],
      ['ftp://example.com/repo.git', 'uses ftp://; heal fetches over https, http, ssh, git or file'],
      ['https://me:hunter2@example.com/repo.git', 'holds a password; put the token in HEAL_GIT_TOKEN'],
    ];
    for (const [url, problem] of cases) {
      const error = thrown(() => gitSource({ url, cacheDir: cacheDir(), intervalMs: 1000 }));
      expect(error.message.endsWith(problem)).toBe(true);
      expect(error.message).not.toContain('hunter2');
    }
    expect(existsSync(marker)).toBe(false);
  });
});

describe('gitSource credentials', () => {
  const token = 'tok-9f8e7d6c5b4a-secret';
  let server: Server;
  let seen: { url: string | undefined; headers: IncomingHttpHeaders }[];
  let port: number;

  beforeAll(async () => {
    seen = [];
    server = createServer((request, response) => {
      seen.push({ url: request.url, headers: request.headers });
      response.writeHead(403, { 'content-type': 'text/plain' }).end(`denied ${token}\n`);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((done) => server.close(done));
  });

  it('keeps HEAL_GIT_TOKEN out of the error when the remote cannot be reached', async () => {
    const log = recorder();
    const source = open({
      url: 'http://127.0.0.1:1/repo.git',
      env: { ...gitEnv(), HEAL_GIT_TOKEN: token },
      log,
    });

    const error = await failure(source.refresh());

    expect(error.kind).toBe('fetch-failed');
    expect(error.message).toMatch(/^could not fetch main from http:\/\/127\.0\.0\.1:1\/repo\.git: .+/);
    expect(error.message).not.toContain(token);
    expect(String(error.stack)).not.toContain(token);

    // The poller's warning too.
    source.start(() => undefined);
    source.poke();
    await until(() => log.lines.some((line) => line.msg === 'spec fetch failed'));
    expect(JSON.stringify(log.lines)).not.toContain(token);
    expect(source.describe).not.toContain(token);
  });

  it('sends HEAL_GIT_TOKEN as a Bearer header, not in the URL, and masks what the server echoes', async () => {
    const url = `http://127.0.0.1:${port}/team/repo.git`;
    const source = open({ url, env: { ...gitEnv(), HEAL_GIT_TOKEN: token } });

    const error = await failure(source.refresh());

    expect(error.kind).toBe('fetch-failed');
    expect(error.message).not.toContain(token);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((request) => request.headers.authorization === `Bearer ${token}`)).toBe(true);
    expect(seen.some((request) => request.url?.includes(token))).toBe(false);
  });

  it('quotes HEAL_GIT_SSH_KEY for the shell that runs GIT_SSH_COMMAND', async () => {
    // Every shell trick in one folder name; ssh must get the path as one argument, untouched.
    const dir = join(root, "keys $(touch pwned) `touch pwned`; touch pwned 'it''s'");
    mkdirSync(dir);
    const key = join(dir, 'id_ed25519');
    writeFileSync(key, 'not a real key\n', { mode: 0o600 });
    const cache = cacheDir();
    const source = open({
      url: 'ssh://git@127.0.0.1:1/repo.git',
      cacheDir: cache,
      env: { ...gitEnv(), HEAL_GIT_SSH_KEY: key },
    });

    const error = await failure(source.refresh());

    expect(error.kind).toBe('fetch-failed');
    // ssh itself ran (a broken quote would fail in the shell) and said why it gave up.
    expect(error.message).toBe(
      'could not fetch main from ssh://git@127.0.0.1:1/repo.git: ssh: connect to host 127.0.0.1 port 1: Connection refused',
    );
    const found = execFileSync('find', [root, '-name', 'pwned'], { encoding: 'utf8' });
    expect(found).toBe('');
  });

  it('refuses a HEAL_GIT_SSH_KEY that does not exist, before any git runs', () => {
    const missing = join(root, 'no-such-key');
    const error = thrown(() =>
      gitSource({ url: bare, cacheDir: cacheDir(), intervalMs: 1000, env: { HEAL_GIT_SSH_KEY: missing } }),
    );
    expect(error.message).toBe(`HEAL_GIT_SSH_KEY names ${missing}, which does not exist`);
  });
});
