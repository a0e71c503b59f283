/**
 * Shared by the bed benchmarks: the engines straight over their sockets (list, kill, remove),
 * processes (the built CLI, docker, the test bed script), bounded waits, heal specs for the bed,
 * and the medians behind each row. Every wait is bounded in time; every loop in count.
 */
import { runBounded } from '../src/executor/apply.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestbedEnv, TestbedHost } from '../test/testbed.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const HEAL = `${ROOT}bin/heal.js`;
export const TESTBED = `${ROOT}scripts/testbed`;
export const HOSTS = ['h1', 'h2', 'h3'] as const;
/** Every container a floor measurement starts carries this label (value: the measurement). */
export const FLOOR_LABEL = 'io.heal.bench.floor';
/** The test images' healthcheck, as a shell command (compose string form, `--health-cmd`). */
export const HEALTH_CMD = 'wget -qO- localhost:8080/health';
/** One probe a second: the first comes one interval after start (Docker 20.10 has no start_interval). */
export const HEALTH_INTERVAL = '1s';
export const HEALTH_TIMEOUT = '2s';
/** How often a wait looks at the engines: resolution of the timings, and their only load on dockerd. */
const POLL_MS = 100;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function hostOf(env: TestbedEnv, name: string): TestbedHost {
  const host = env.hosts.find((candidate) => candidate.name === name);
  if (!host) throw new Error(`the test bed has no host ${name}`);
  return host;
}

// ---------------------------------------------------------------- the Engine API on a socket

export type EngineAnswer = { status: number; body: string };

/** One Engine API call on a host's socket (the root namespace's end of it). */
export function engine(
  socket: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<EngineAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: socket,
        method,
        path: `/v1.41${path}`,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
        timeout: timeoutMs,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${path} on ${socket}: no answer in ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export type EngineContainer = {
  readonly id: string;
  readonly host: string;
  readonly name: string;
  /** As the container was created with it: `reg/web:v2`, or `reg/web:v2@sha256:…` for a Swarm task. */
  readonly image: string;
  readonly state: string;
  /** `Up 3 seconds (healthy)` */
  readonly status: string;
  readonly labels: Readonly<Record<string, string>>;
};

/** Containers (all states) carrying `label` (`key` or `key=value`) on the hosts named. */
export async function containersOn(
  env: TestbedEnv,
  hosts: readonly string[],
  label: string,
): Promise<EngineContainer[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
  const lists = await Promise.all(
    hosts.map(async (host) => {
      const answer = await engine(
        hostOf(env, host).socket,
        'GET',
        `/containers/json?all=1&filters=${filters}`,
      );
      if (answer.status !== 200) throw new Error(`${host}: list containers: ${answer.status} ${answer.body}`);
      const raw = JSON.parse(answer.body) as {
        Id: string;
        Names: string[];
        Image: string;
        State: string;
        Status: string;
        Labels: Record<string, string> | null;
      }[];
      return raw.map((item): EngineContainer => ({
        id: item.Id,
        host,
        name: (item.Names[0] ?? '').replace(/^\//, ''),
        image: item.Image,
        state: item.State,
        status: item.Status,
        labels: item.Labels ?? {},
      }));
    }),
  );
  return lists.flat();
}

/** Running, and healthy when `healthy` (the healthcheck has passed; `(health: starting)` has not). */
export function isReady(container: EngineContainer, healthy: boolean): boolean {
  if (container.state !== 'running') return false;
  return !healthy || /\(healthy\)/.test(container.status);
}

/** When the container was last started (ms since the epoch), from inspect; null when it is gone. */
export async function startedAt(env: TestbedEnv, host: string, id: string): Promise<number | null> {
  const answer = await engine(hostOf(env, host).socket, 'GET', `/containers/${id}/json`);
  if (answer.status === 404) return null;
  const state = (JSON.parse(answer.body) as { State: { StartedAt: string } }).State;
  return Date.parse(state.StartedAt);
}

/** SIGKILLs one container through the API (what `docker kill` does). */
export async function killContainer(env: TestbedEnv, host: string, id: string): Promise<void> {
  const answer = await engine(hostOf(env, host).socket, 'POST', `/containers/${id}/kill`);
  if (answer.status !== 204) throw new Error(`${host}: kill ${id}: ${answer.status} ${answer.body}`);
}

/**
 * Force-removes every container carrying `label` on the hosts named (a few at a time per host),
 * then the networks named. A host that does not answer is skipped: its leftovers are reported.
 */
export async function removeAll(
  env: TestbedEnv,
  hosts: readonly string[],
  label: string,
  networks: readonly string[] = [],
): Promise<void> {
  await Promise.all(
    hosts.map(async (host) => {
      const socket = hostOf(env, host).socket;
      try {
        const mine = await containersOn(env, [host], label);
        await bounded(mine, 4, async (container) => {
          await engine(socket, 'DELETE', `/containers/${container.id}?force=1&v=1`, undefined, 60_000);
        });
        for (const network of networks) await engine(socket, 'DELETE', `/networks/${network}`);
      } catch (error) {
        console.error(`bench: could not clean ${label} on ${host}: ${String(error)}`);
      }
    }),
  );
}

/** Removes what a heal stack left on the hosts: its containers, its network, its lock lease. */
export async function removeHealStack(
  env: TestbedEnv,
  stack: string,
  hosts: readonly string[] = HOSTS,
): Promise<void> {
  await removeAll(env, hosts, `io.heal.stack=${stack}`, [`${stack}_default`]);
  await Promise.all(
    hosts.map((host) =>
      engine(hostOf(env, host).socket, 'DELETE', `/containers/heal-lock-${stack}?force=1`).catch(
        () => undefined,
      ),
    ),
  );
}

/** Runs `work` over `items`, at most `limit` at a time: the executor's own bound. */
export const bounded = runBounded;

// ---------------------------------------------------------------- waits

/** Calls `check` every POLL_MS until it returns a value other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await check();
    } catch {
      value = undefined; // an engine busy or restarting: look again
    }
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/**
 * Waits until exactly `count` containers carrying `label` on `hosts` are ready (running; healthy
 * when `healthy`), and returns when that was first seen (ms since the epoch).
 */
export async function waitReady(
  env: TestbedEnv,
  options: {
    readonly hosts: readonly string[];
    readonly label: string;
    readonly count: number;
    readonly healthy: boolean;
    readonly timeoutMs: number;
    /** A further condition on the ready set (a killed container is not among them, ...). */
    readonly also?: (ready: EngineContainer[]) => Promise<boolean>;
  },
): Promise<number> {
  return waitFor(`${options.count} ready containers with ${options.label}`, options.timeoutMs, async () => {
    const seen = Date.now();
    const all = await containersOn(env, options.hosts, options.label);
    const ready = all.filter((container) => isReady(container, options.healthy));
    if (ready.length !== options.count) return undefined;
    if (options.also && !(await options.also(ready))) return undefined;
    return seen;
  });
}

// ---------------------------------------------------------------- processes

export type Finished = { code: number; stdout: string; stderr: string; ms: number; endedAt: number };

/** Runs a program to its end (killed after `timeoutMs`); never throws on a non-zero exit. */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Finished> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout = tail(stdout + chunk.toString())));
    child.stderr.on('data', (chunk: Buffer) => (stderr = tail(stderr + chunk.toString())));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const endedAt = Date.now();
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr, ms: endedAt - started, endedAt });
    });
  });
}

/** Like run(), but a non-zero exit is an error that quotes the end of its output. */
export async function runOk(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Finished> {
  const done = await run(file, args, options);
  if (done.code !== 0) {
    const output = `${done.stdout}\n${done.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${file} ${args.join(' ')} exited ${done.code}:\n${output}`);
  }
  return done;
}

/** The docker CLI on one host's socket. */
export function docker(
  env: TestbedEnv,
  host: string,
  args: readonly string[],
  timeoutMs = 120_000,
): Promise<Finished> {
  return runOk('docker', ['-H', `unix://${hostOf(env, host).socket}`, ...args], { timeoutMs });
}

/** `scripts/testbed VERB ARGS` (kill, revive, status, ...). */
export function testbed(...args: string[]): Promise<Finished> {
  return runOk(TESTBED, args, { timeoutMs: 180_000 });
}

/** The built CLI, `node bin/heal.js ARGS`, in `cwd`. */
export function heal(cwd: string, args: readonly string[], timeoutMs = 300_000): Promise<Finished> {
  return run(process.execPath, [HEAL, ...args], { cwd, timeoutMs });
}

/** Keeps the last 64 KiB of a child's output: enough to say why it failed. */
function tail(text: string): string {
  return text.length > 65_536 ? text.slice(-65_536) : text;
}

/**
 * `--allow-ssh` for the test bed's SSH key and known_hosts: heal watch takes SSH files from no
 * other folder than the operator allows for them (a data folder, `--allow-path`, does not do).
 */
export function allowTestbedKeys(env: TestbedEnv): string[] {
  return ['--allow-ssh', dirname(env.identityFile)];
}

/** A `heal watch` daemon: its pid, its HTTP address once listening, its log, and its end. */
export type Daemon = {
  readonly pid: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  log(): string;
  /** GET /status, parsed. */
  status(): Promise<DaemonStatus>;
  /** SIGTERM, then SIGKILL after 20 s; resolves when it has exited. */
  stop(): Promise<void>;
};

export type DaemonStatus = {
  revision: string | null;
  lastReconcile: { outcome: string; at: string } | null;
  services: { service: string; desired: number | null; running: number }[];
};

/** Starts `node bin/heal.js watch ARGS --listen 127.0.0.1:0` and waits (≤ 30 s) until its HTTP answers. */
export async function startDaemon(
  cwd: string,
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): Promise<Daemon> {
  const child = spawn(process.execPath, [HEAL, 'watch', ...args, '--listen', '127.0.0.1:0'], {
    cwd,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not start heal watch');
  let output = '';
  let exited = false;
  const done = new Promise<void>((resolve) =>
    child.on('close', () => {
      exited = true;
      resolve();
    }),
  );
  child.stdout.on('data', (chunk: Buffer) => (output = tail(output + chunk.toString())));
  child.stderr.on('data', (chunk: Buffer) => (output = tail(output + chunk.toString())));
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await done;
    clearTimeout(timer);
  };
  let port: number;
  try {
    port = await waitFor('heal watch to listen', 30_000, async () => {
      if (exited) throw new Error('heal watch exited');
      for (const line of output.split('\n')) {
        if (!line.includes('http listening')) continue;
        const parsed = JSON.parse(line) as { port?: number };
        if (typeof parsed.port === 'number') return parsed.port;
      }
      return undefined;
    });
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\n${output.split('\n').slice(-15).join('\n')}`, { cause: error });
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    pid: child.pid,
    url,
    log: () => output,
    status: async () => {
      const response = await fetch(`${url}/status`, { signal: AbortSignal.timeout(5_000) });
      return (await response.json()) as DaemonStatus;
    },
    stop,
  };
}

/** Waits until the daemon's last reconcile says converged (and, when given, at `revision`). */
export function waitConverged(daemon: Daemon, timeoutMs: number, revision?: string): Promise<true> {
  return waitFor('heal watch to converge', timeoutMs, async () => {
    const status = await daemon.status();
    if (status.lastReconcile?.outcome !== 'converged') return undefined;
    if (revision !== undefined && status.revision !== revision) return undefined;
    return true;
  });
}

// ---------------------------------------------------------------- specs and work folders

export type SpecShape = {
  readonly name: string;
  readonly replicas: number;
  readonly image: string;
  /** The test images' healthcheck, one probe a second. */
  readonly health: boolean;
  /** `deploy.update_config`, in flow style: `{ parallelism: 3, delay: 0s }`. */
  readonly updateConfig?: string;
  /** `ports`, short syntax: `80:8080`. */
  readonly ports?: readonly string[];
  /** `x-heal.mesh.image`: the routing mesh's HAProxy (the bed is offline: its registry's proxy image). */
  readonly meshImage?: string;
};

/** A heal spec naming the bed's three hosts, one service `web`, no published ports unless given. */
export function specText(env: TestbedEnv, shape: SpecShape): string {
  return [
    `name: ${shape.name}`,
    'x-heal:',
    `  ssh: { user: root, identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
    '  hosts:',
    ...HOSTS.map((name) => `    ${name}: { ssh: ${hostOf(env, name).address} }`),
    ...(shape.meshImage ? [`  mesh: { image: ${shape.meshImage} }`] : []),
    'services:',
    '  web:',
    `    image: ${shape.image}`,
    ...(shape.ports ? [`    ports: [${shape.ports.map((port) => `'${port}'`).join(', ')}]`] : []),
    ...(shape.health
      ? [
          `    healthcheck: { test: '${HEALTH_CMD}', interval: ${HEALTH_INTERVAL}, timeout: ${HEALTH_TIMEOUT} }`,
        ]
      : []),
    '    deploy:',
    `      replicas: ${shape.replicas}`,
    ...(shape.updateConfig ? [`      update_config: ${shape.updateConfig}`] : []),
    '',
  ].join('\n');
}

/** A fresh folder under the system's tmp, removed after `work`. */
export async function inTempDir<T>(prefix: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `heal-bench-${prefix}-`));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `docker run -d` of `names` on `host`'s socket, all at once, each labelled for the floor. */
export async function floorRun(
  env: TestbedEnv,
  host: string,
  names: readonly string[],
  options: {
    readonly image: string;
    readonly label: string;
    readonly health: boolean;
    /** A user-defined network to join, with an alias; the default bridge without. */
    readonly network?: { readonly name: string; readonly alias: string };
  },
): Promise<void> {
  const network = options.network
    ? ['--network', options.network.name, '--network-alias', options.network.alias]
    : [];
  await Promise.all(
    names.map((name) =>
      docker(env, host, [
        'run',
        '-d',
        '--name',
        name,
        '--label',
        `${FLOOR_LABEL}=${options.label}`,
        ...network,
        ...healthArgs(options.health),
        options.image,
      ]),
    ),
  );
}

/** `count` containers spread round-robin over the three hosts: `[host, names[]]` per host. */
export function spread(prefix: string, count: number, from = 1): [string, string[]][] {
  const byHost = new Map<string, string[]>(HOSTS.map((host) => [host, []]));
  for (let index = from; index < from + count; index += 1) {
    byHost.get(HOSTS[(index - 1) % HOSTS.length]!)!.push(`${prefix}-${index}`);
  }
  return [...byHost];
}

// ---------------------------------------------------------------- samples and rows

/** The runs of one measurement and their median; null when every run failed. */
export type Sample = {
  readonly value: number | null;
  readonly runs: readonly number[];
  readonly extra?: Readonly<Record<string, number>>;
  readonly error?: string;
};

export type RunResult =
  number | { readonly value: number; readonly extra?: Readonly<Record<string, number>> };

/**
 * Runs `measure` up to `times` times (stopping early once `budgetMs` is spent), each run's failure
 * logged and kept out of the median. Extra figures are medians over the runs too.
 */
export async function repeat(
  what: string,
  times: number,
  measure: (run: number) => Promise<RunResult>,
  budgetMs = 240_000,
): Promise<Sample> {
  const started = Date.now();
  const runs: number[] = [];
  const extras = new Map<string, number[]>();
  let error: string | undefined;
  for (let index = 1; index <= times; index += 1) {
    if (index > 1 && Date.now() - started > budgetMs) break;
    try {
      const result = await measure(index);
      const value = typeof result === 'number' ? result : result.value;
      runs.push(round(value));
      console.error(`bench: ${what} #${index}: ${round(value)}`);
      if (typeof result !== 'number')
        for (const [key, extra] of Object.entries(result.extra ?? {}))
          extras.set(key, [...(extras.get(key) ?? []), extra]);
    } catch (caught) {
      error = caught instanceof Error ? caught.message : String(caught);
      console.error(`bench: ${what} #${index} failed: ${error}`);
    }
  }
  const extra = Object.fromEntries([...extras].map(([key, values]) => [key, round(median(values))]));
  return {
    value: runs.length > 0 ? round(median(runs)) : null,
    runs,
    ...(extras.size > 0 ? { extra } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}

/** Seconds since `start` (ms since the epoch) until `end`. */
export function seconds(start: number, end: number): number {
  return (end - start) / 1000;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** The docker CLI flags of the bench's healthcheck, the same for `docker run` and `docker service create`. */
export function healthArgs(health: boolean): string[] {
  return health
    ? ['--health-cmd', HEALTH_CMD, '--health-interval', HEALTH_INTERVAL, '--health-timeout', HEALTH_TIMEOUT]
    : [];
}
