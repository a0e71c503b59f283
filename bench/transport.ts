/**
 * GET /containers/json?all=1 per second on one test bed host, one call at a time and 8 at once, through:
 * (a) heal's persistent SSH transport, (b) docker-modem's own `ssh` protocol (a new SSH connection
 * and `docker system dial-stdio` per call), (c) the host's engine socket straight.
 *
 * Run alone: npx tsc -p tsconfig.json --noEmit false --outDir dist/all; node dist/all/bench/transport.js
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import Dockerode from 'dockerode';
import { connectHost } from '../src/executor/host-client.js';
import type { HostClient } from '../src/executor/host-client.js';
import { checkHostKey, parseKnownHosts } from '../src/executor/ssh/known-hosts.js';
import type { TestbedEnv } from '../test/testbed.js';

export type BenchRow = { readonly name: string; readonly value: number; readonly unit: string };

type Limits = { readonly ms: number; readonly calls: number };

/** Every loop is bounded in time and in count. */
const FAST: Limits = { ms: 600, calls: 20_000 };
const ROUNDS = 7;
const SLOW: Limits = { ms: 10_000, calls: 20 };

export async function benchTransport(
  env: Pick<TestbedEnv, 'hosts' | 'identityFile' | 'knownHosts'>,
  hostName = 'h1',
): Promise<{ rows: BenchRow[] }> {
  const target = env.hosts.find((h) => h.name === hostName);
  if (target === undefined) throw new Error(`no test bed host ${hostName}`);
  const ssh = await connectHost(
    {
      name: target.name,
      kind: 'ssh',
      user: 'root',
      address: target.address,
      port: 22,
      identityFile: env.identityFile,
      socket: '/var/run/docker.sock',
      labels: {},
      role: 'manager',
    },
    { ssh: { user: null, port: null, identityFile: null, knownHosts: env.knownHosts }, env: {} },
  );
  const local = await connectHost(
    {
      name: `${target.name}-socket`,
      kind: 'docker',
      url: `unix://${target.socket}`,
      labels: {},
      role: 'manager',
    },
    { ssh: { user: null, port: null, identityFile: null, knownHosts: null } },
  );
  const modem = modemSsh(target.address, env.identityFile, env.knownHosts);
  const rows: BenchRow[] = [];
  try {
    const listed = (await ssh.docker.listContainers({ all: true })).length;
    rows.push({ name: 'transport containers listed', value: listed, unit: 'containers' });
    const rates: Record<string, number> = {};
    for (const concurrency of [1, 8]) {
      // Interleaved rounds and their median: this machine's other work makes single runs noisy.
      const ssh1: number[] = [];
      const socket1: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ssh1.push(await rate(() => list(ssh), concurrency, FAST));
        socket1.push(await rate(() => list(local), concurrency, FAST));
      }
      rates[`ssh c${concurrency}`] = median(ssh1);
      rates[`socket c${concurrency}`] = median(socket1);
      rates[`modem-ssh c${concurrency}`] = await modemRate(modem, concurrency);
    }
    const at = (name: string): number => rates[name] ?? 0;
    for (const [name, value] of Object.entries(rates)) {
      rows.push({ name: `transport ${name}`, value: round(value), unit: 'calls/s' });
    }
    for (const c of [1, 8]) {
      rows.push({
        name: `transport socket/ssh c${c}`,
        value: round(at(`socket c${c}`) / at(`ssh c${c}`)),
        unit: 'x',
      });
      rows.push({
        name: `transport ssh/modem-ssh c${c}`,
        value: round(at(`ssh c${c}`) / Math.max(at(`modem-ssh c${c}`), 0.01)),
        unit: 'x',
      });
    }
  } finally {
    await Promise.all([ssh.close(), local.close()]);
  }
  return { rows };
}

function list(client: HostClient): Promise<unknown> {
  return client.docker.listContainers({ all: true });
}

/** docker-modem's built-in SSH, host key checked against the same known_hosts. */
function modemSsh(address: string, identityFile: string, knownHosts: string): Dockerode {
  const entries = parseKnownHosts(readFileSync(knownHosts, 'utf8'));
  return new Dockerode({
    protocol: 'ssh',
    host: address,
    port: 22,
    username: 'root',
    sshOptions: {
      privateKey: readFileSync(identityFile),
      hostVerifier: (key: Buffer) => checkHostKey(entries, address, 22, key).status === 'trusted',
    },
  });
}

/**
 * docker-modem's ssh protocol, each call bounded by what is left of the time limit. Its per-call
 * agent can emit 'socket hang up' on a request it has already settled, with no listener left: that
 * would kill the bench, so such strays are counted, not thrown, while this runs.
 */
async function modemRate(modem: Dockerode, concurrency: number): Promise<number> {
  const strays: unknown[] = [];
  const stray = (error: unknown): void => void strays.push(error);
  process.on('uncaughtException', stray);
  try {
    let done = 0;
    let started = 0;
    const t0 = performance.now();
    const deadline = t0 + SLOW.ms;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < SLOW.calls && performance.now() < deadline) {
          started++;
          const abortSignal = AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now())));
          const ok = await modem.listContainers({ all: true, abortSignal }).then(
            () => true,
            () => false,
          );
          if (ok) done++;
        }
      }),
    );
    return (done * 1000) / (performance.now() - t0);
  } finally {
    process.off('uncaughtException', stray);
  }
}

/** Calls per second with `concurrency` loops, after a short warm-up, within `limits`. */
async function rate(call: () => Promise<unknown>, concurrency: number, limits: Limits): Promise<number> {
  await call();
  let done = 0;
  let started = 0;
  const t0 = performance.now();
  const deadline = t0 + limits.ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < limits.calls && performance.now() < deadline) {
        started++;
        await call();
        done++;
      }
    }),
  );
  return (done * 1000) / (performance.now() - t0);
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[sorted.length >> 1] ?? 0;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = JSON.parse(execFileSync('scripts/testbed', ['env'], { encoding: 'utf8' })) as TestbedEnv;
  const { rows } = await benchTransport(env, process.argv[2] ?? 'h1');
  for (const row of rows) console.log(`${row.name.padEnd(34)} ${String(row.value).padStart(10)} ${row.unit}`);
}
