/**
 * For the daemon's end-to-end tests: a bare git repository as the remote, `heal watch` spawned
 * as a user runs it, and readers for what it serves (/status, /metrics, /hooks/git), what it
 * logs, and what the engines run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TestbedEnv } from '../testbed.js';

const HEAL = new URL('../../bin/heal.js', import.meta.url).pathname;

function run(file: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || error.message}`));
        else resolve(String(stdout));
      },
    );
  });
}

/** A bare repository (what heal fetches) and a working clone the test commits and pushes from. */
export class GitRemote {
  readonly bare: string;
  readonly #work: string;

  private constructor(root: string) {
    this.bare = join(root, 'remote.git');
    this.#work = join(root, 'work');
  }

  static async create(root: string): Promise<GitRemote> {
    const remote = new GitRemote(root);
    mkdirSync(remote.#work, { recursive: true });
    await run('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote.bare], root, 10_000);
    await remote.#git('init', '--quiet', '--initial-branch=main');
    await remote.#git('remote', 'add', 'origin', remote.bare);
    return remote;
  }

  /**
   * Commits `text` as stack.yml, and `files` beside it (a content starting with `-> ` makes a
   * symbolic link to the rest), and pushes it to main; returns the commit's sha.
   */
  async push(text: string, message: string, files: Readonly<Record<string, string>> = {}): Promise<string> {
    writeFileSync(join(this.#work, 'stack.yml'), text);
    for (const [name, content] of Object.entries(files)) {
      const path = join(this.#work, name);
      rmSync(path, { force: true });
      if (content.startsWith('-> ')) symlinkSync(content.slice(3), path);
      else writeFileSync(path, content);
    }
    await this.#git('add', '--all');
    await this.#git(
      '-c',
      'user.name=heal e2e',
      '-c',
      'user.email=e2e@heal.invalid',
      '-c',
      'commit.gpgsign=false',
      'commit',
      '--quiet',
      '--allow-empty',
      '-m',
      message,
    );
    await this.#git('push', '--quiet', 'origin', 'HEAD:main');
    return (await this.#git('rev-parse', 'HEAD')).trim();
  }

  #git(...args: string[]): Promise<string> {
    return run('git', args, this.#work, 10_000);
  }
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One JSON line of the daemon's log. */
export type LogLine = { level: string; time: string; msg: string; [field: string]: unknown };

export type Exit = { code: number | null; signal: NodeJS.Signals | null; at: number };

/** A `heal watch` process: its pid, its port, what it logged so far, and its end. */
export type Watch = {
  readonly pid: number;
  readonly port: number;
  readonly exited: Promise<Exit>;
  running(): boolean;
  lines(): LogLine[];
  stdout(): string;
  stderr(): string;
  signal(signal: NodeJS.Signals): void;
};

const children = new Set<ChildProcess>();

/** Starts `node bin/heal.js watch ARGS` with `--listen 127.0.0.1:PORT` and extra environment. */
export function startWatch(
  cwd: string,
  args: readonly string[],
  port: number,
  env: Readonly<Record<string, string>>,
): Watch {
  const child = spawn('node', [HEAL, 'watch', ...args, '--listen', `127.0.0.1:${port}`], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  let running = true;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running = false;
      children.delete(child);
      resolve({ code, signal, at: Date.now() });
    });
  });
  if (child.pid === undefined) throw new Error('could not start node bin/heal.js watch');
  const pid = child.pid;
  return {
    pid,
    port,
    exited,
    running: () => running,
    lines: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine),
    stdout: () => stdout,
    stderr: () => stderr,
    signal: (signal) => {
      if (running) process.kill(pid, signal);
    },
  };
}

/** SIGKILLs, by pid, every daemon this file started that still runs. */
export function killStartedWatches(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** What `GET /status` serves. */
export type Status = {
  stack: string | null;
  revision: string | null;
  specError: string | null;
  partitioned: boolean;
  lastReconcile: {
    at: string;
    outcome: string;
    ms: number;
    actions: number;
    failed: number;
    message: string | null;
  } | null;
  hosts: { name: string; state: string; since: number; error: string | null }[];
  services: {
    service: string;
    desired: number | null;
    running: number;
    healthy: number;
    dirty: number;
    crashLooping: boolean;
    rollout: { state: string; configHash: string; reason: string } | null;
  }[];
};

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, text: await response.text() };
}

export async function statusOf(port: number): Promise<Status> {
  const { status, text } = await get(port, '/status');
  if (status !== 200) throw new Error(`GET /status answered ${status}: ${text}`);
  return JSON.parse(text) as Status;
}

export async function metricsOf(port: number): Promise<string> {
  const { status, text } = await get(port, '/metrics');
  if (status !== 200) throw new Error(`GET /metrics answered ${status}: ${text}`);
  return text;
}

export { get as httpGet };

/** The value of the sample `name{labels...}` whose labels include every one given; undefined when absent. */
export function metric(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** GitHub's `X-Hub-Signature-256` for `body`. */
export function githubSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** POSTs a GitHub push notification to /hooks/git, signed as given. */
export async function postHook(
  port: number,
  body: string,
  signature: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/hooks/git`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-hub-signature-256': signature,
    },
    body,
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, text: await response.text() };
}

/** A container of the stack as an engine lists it. */
export type Replica = {
  host: string;
  id: string;
  name: string;
  state: string;
  status: string;
  service: string;
  slot: string;
  configHash: string;
  generation: string;
};

/**
 * `docker ps -a` of the stack's containers on one host, straight on its engine's socket, bounded
 * in time (a frozen engine never answers). Rejects when the engine does not answer.
 */
export async function replicasOn(
  env: TestbedEnv,
  host: string,
  stack: string,
  timeoutMs = 5_000,
): Promise<Replica[]> {
  const socket = env.hosts.find((item) => item.name === host)?.socket;
  if (socket === undefined) throw new Error(`no host ${host} in the test bed`);
  const format = [
    '{{.ID}}',
    '{{.Names}}',
    '{{.State}}',
    '{{.Status}}',
    '{{.Label "io.heal.service"}}',
    '{{.Label "io.heal.slot"}}',
    '{{.Label "io.heal.config-hash"}}',
    '{{.Label "io.heal.generation"}}',
  ].join('\t');
  const out = await run(
    'docker',
    [
      '-H',
      `unix://${socket}`,
      'ps',
      '-a',
      '--no-trunc',
      '--filter',
      `label=io.heal.stack=${stack}`,
      '--format',
      format,
    ],
    '/',
    timeoutMs,
  );
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [
        id = '',
        name = '',
        state = '',
        status = '',
        service = '',
        slot = '',
        configHash = '',
        generation = '',
      ] = line.split('\t');
      return { host, id, name, state, status, service, slot, configHash, generation };
    });
}

/** The stack's containers on every host named, read in parallel. */
export async function replicasOnAll(
  env: TestbedEnv,
  hosts: readonly string[],
  stack: string,
): Promise<Replica[]> {
  return (await Promise.all(hosts.map((host) => replicasOn(env, host, stack)))).flat();
}

/** `docker ARGS` on one host's engine socket. */
export function dockerAt(
  env: TestbedEnv,
  host: string,
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<string> {
  const socket = env.hosts.find((item) => item.name === host)?.socket;
  if (socket === undefined) throw new Error(`no host ${host} in the test bed`);
  return run('docker', ['-H', `unix://${socket}`, ...args], '/', timeoutMs);
}

/**
 * What keeps the containers from being exactly one running container per slot of each service
 * (`replicas`: service → desired count) and nothing else, no duplicate and no leftover in any
 * state, as sentences; empty when they are.
 */
export function censusProblems(
  containers: readonly Replica[],
  replicas: Readonly<Record<string, number>>,
): string[] {
  const problems: string[] = [];
  const bySlot = new Map<string, Replica[]>();
  for (const container of containers) {
    const key = `${container.service}.${container.slot}`;
    bySlot.set(key, [...(bySlot.get(key) ?? []), container]);
  }
  for (const [service, count] of Object.entries(replicas)) {
    for (let slot = 1; slot <= count; slot += 1) {
      const found = bySlot.get(`${service}.${slot}`) ?? [];
      bySlot.delete(`${service}.${slot}`);
      if (found.length !== 1 || found[0]!.state !== 'running')
        problems.push(
          `${service}.${slot}: ${found.map((item) => `${item.host}/${item.name} ${item.state}`).join(', ') || 'missing'}`,
        );
    }
  }
  for (const [key, found] of bySlot)
    problems.push(
      `${key} should not exist: ${found.map((item) => `${item.host}/${item.name} ${item.state}`).join(', ')}`,
    );
  return problems;
}

/** Polls `check` every `everyMs` until it returns a value other than undefined. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
