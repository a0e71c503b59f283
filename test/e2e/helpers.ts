/**
 * For end-to-end tests: the built CLI run in a work folder as a user runs it, and what the test
 * bed's engines show, read straight from their sockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dockerOn } from '../testbed.js';

const HEAL = new URL('../../bin/heal.js', import.meta.url).pathname;

export type Run = { code: number; stdout: string; stderr: string; ms: number; endedAt: number };

/** A heal process still running: its pid, what it printed so far, and its end. */
export type Started = {
  readonly pid: number;
  readonly done: Promise<Run>;
  stdout(): string;
  stderr(): string;
  running(): boolean;
};

const children = new Set<ChildProcess>();

/** Starts `node bin/heal.js ARGS` in `cwd`, stdin closed (not a terminal). */
export function startHeal(cwd: string, args: readonly string[]): Started {
  const started = Date.now();
  const child = spawn('node', [HEAL, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  let running = true;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      running = false;
      children.delete(child);
      const endedAt = Date.now();
      resolve({ code: code ?? -1, stdout, stderr, ms: endedAt - started, endedAt });
    });
  });
  if (child.pid === undefined) throw new Error('could not start node bin/heal.js');
  return { pid: child.pid, done, stdout: () => stdout, stderr: () => stderr, running: () => running };
}

export function heal(cwd: string, ...args: string[]): Promise<Run> {
  return startHeal(cwd, args).done;
}

/** SIGKILLs, by pid, every heal this file started that still runs (a test that timed out). */
export function killStartedHeals(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** Polls `check` every 100 ms until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A container as the engine lists it, with heal's labels. */
export type EngineContainer = {
  id: string;
  name: string;
  host: string;
  state: string;
  stack: string;
  service: string;
  slot: number | null;
};

/** `docker ps -a --filter FILTER` on one host. */
export async function containersOn(host: string, filter: string): Promise<EngineContainer[]> {
  const format = [
    '{{.ID}}',
    '{{.Names}}',
    '{{.State}}',
    '{{.Label "io.heal.stack"}}',
    '{{.Label "io.heal.service"}}',
    '{{.Label "io.heal.slot"}}',
  ].join('\t');
  const out = await dockerOn(host, 'ps', '-a', '--no-trunc', '--filter', filter, '--format', format);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', name = '', state = '', stack = '', service = '', slot = ''] = line.split('\t');
      return { id, name, host, state, stack, service, slot: slot === '' ? null : Number(slot) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `docker ps -a --filter FILTER` on every host named. */
export async function containersOnAll(hosts: readonly string[], filter: string): Promise<EngineContainer[]> {
  return (await Promise.all(hosts.map((host) => containersOn(host, filter)))).flat();
}

/** The environment a container was created with (`KEY=value` entries). */
export async function envOf(host: string, id: string): Promise<string[]> {
  return JSON.parse(await dockerOn(host, 'inspect', '--format', '{{json .Config.Env}}', id)) as string[];
}

/** What `GET http://ADDRESS:PORT/PATH` serves, trimmed; null when nothing answers in time. */
export async function page(address: string, port = 8080, path = '/'): Promise<string | null> {
  try {
    const response = await fetch(`http://${address}:${port}${path}`, { signal: AbortSignal.timeout(3_000) });
    return response.ok ? (await response.text()).trim() : null;
  } catch {
    return null;
  }
}

/** Removes from `hosts` every container, network and volume of `stack`, and its lock lease. */
export async function cleanStack(hosts: readonly string[], stack: string): Promise<void> {
  const owned = `label=io.heal.stack=${stack}`;
  const lines = (text: string): string[] => text.split('\n').filter(Boolean);
  // The hosts are independent engines: cleaned at once, as heal itself works on them.
  await Promise.all(
    hosts.map(async (host) => {
      const ids = [
        ...lines(await dockerOn(host, 'ps', '-aq', '--filter', owned)),
        ...lines(await dockerOn(host, 'ps', '-aq', '--filter', `name=^heal-lock-${stack}$`)),
      ];
      if (ids.length > 0) await dockerOn(host, 'rm', '-f', '-v', ...ids);
      const networks = lines(await dockerOn(host, 'network', 'ls', '-q', '--filter', owned));
      if (networks.length > 0) await dockerOn(host, 'network', 'rm', ...networks);
      const volumes = lines(await dockerOn(host, 'volume', 'ls', '-q', '--filter', owned));
      if (volumes.length > 0) await dockerOn(host, 'volume', 'rm', '-f', ...volumes);
    }),
  );
}
