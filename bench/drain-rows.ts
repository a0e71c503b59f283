/**
 * Draining a host under load (issue 19), heal beside Swarm on the same hosts, one after the other.
 *
 * heal: a stack of 3 web replicas (one per host) behind the routing mesh, `heal watch` following
 * it with short grace periods (grace 2 s, drain_after 3 s); a bounded load through every host's
 * published port (round-robin, as a balancer listing the three hosts would send it); at t0 h2 is
 * given memory pressure (`scripts/testbed press-memory`: a fake /proc/meminfo in its mount
 * namespace only). Swarm: a service of 3 replicas, one per node, its port published in host mode
 * (Swarm's ingress mesh needs IPVS, which this kernel lacks), the same load over the three
 * nodes' ports; at t0 `docker node update --availability drain h2`. For each: the seconds from t0
 * until h2 runs no replica, and the requests failed from t0 until TAIL_MS after that. The memory
 * is relieved, the node made active, the stack and the service removed, whatever happened.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { proxyName } from '../src/mesh/names.js';
import { runLoad, startLoad, type LoadRun } from '../test/load/load.js';
import { bedSpecHead, type TestbedEnv } from '../test/testbed.js';
import {
  type DrainRun,
  type DrainSide,
  drainFigures,
  healSteps,
  drainRows as rowsOf,
  TAIL_MS,
} from './drain-figures.js';
import { removeMeshStack } from './mesh-rows.js';
import type { ResultRow } from './results-row.js';
import { MANAGER, removeService, serviceLabel, withSwarm } from './swarm.js';
import {
  allowTestbedKeys,
  containersOn,
  docker,
  healthArgs,
  HOSTS,
  inTempDir,
  isReady,
  sleep,
  startDaemon,
  testbed,
  waitFor,
} from './util.js';

const STACK = 'bdrain';
const SERVICE = 'bdrain-swarm';
const VICTIM = 'h2';
const HEAL_PORT = 88;
const SWARM_PORT = 89;
const REPLICAS = 3;
/** The load, as the drain e2e test sends it: 3 at a time, 20 a second, 2 s per request. */
const LOAD = { concurrency: 3, ratePerSecond: 20, timeoutMs: 2_000 };
/** Bounds on the waits: the heal drain took ~12 s, Swarm's ~1.5 s, when this row was written. */
const EMPTY_TIMEOUT_MS = 120_000;
const READY_TIMEOUT_MS = 180_000;

const urls = (env: TestbedEnv, port: number): string[] =>
  env.hosts.map((host) => `http://${host.address}:${port}/host`);

const message = (error: unknown): string =>
  error instanceof Error ? error.message.split('\n')[0]! : String(error);

function specText(env: TestbedEnv): string {
  return [
    ...bedSpecHead(env, STACK, [
      `  mesh: { image: ${env.images.proxy}, drain_timeout: 2s }`,
      '  watch: { interval: 2s }',
      '  conditions: { grace: 2s, drain_after: 3s, recover: 4s, memory_available: 100Mi }',
    ]),
    'services:',
    '  web:',
    `    image: ${env.images.web1}`,
    `    ports: ["${HEAL_PORT}:8080"]`,
    "    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }",
    '    stop_grace_period: 2s',
    '    deploy:',
    `      replicas: ${REPLICAS}`,
    '',
  ].join('\n');
}

/** Running replicas per host: heal's (its proxies left out) or Swarm's tasks, by label. */
async function perHost(env: TestbedEnv, label: string, leaveOut = ''): Promise<Record<string, number>> {
  const counts: Record<string, number> = Object.fromEntries(HOSTS.map((host) => [host, 0]));
  for (const container of await containersOn(env, HOSTS, label))
    if (container.state === 'running' && container.name !== leaveOut) counts[container.host]! += 1;
  return counts;
}

const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** Every host's port answers a few requests in a row (bounded). */
function answersOnEveryHost(env: TestbedEnv, port: number): Promise<true> {
  return waitFor(`port ${port} to answer on every host`, 60_000, async () => {
    const probe = await runLoad({
      targets: urls(env, port),
      concurrency: 1,
      maxRequests: 6,
      maxDurationMs: 10_000,
      timeoutMs: LOAD.timeoutMs,
    });
    return probe.records.every((record) => record.ok) ? true : undefined;
  });
}

/**
 * Under load on `port`: starts the drain at t0, waits until VICTIM runs nothing, keeps the load
 * for TAIL_MS more, and returns what was seen.
 */
async function drainUnderLoad(
  env: TestbedEnv,
  port: number,
  count: () => Promise<Record<string, number>>,
  start: () => Promise<unknown>,
): Promise<DrainRun> {
  const load: LoadRun = startLoad({
    targets: urls(env, port),
    ...LOAD,
    maxRequests: 6_000,
    maxDurationMs: EMPTY_TIMEOUT_MS + 60_000,
  });
  try {
    await sleep(2_000); // the load in its stride before the drain
    const t0 = Date.now();
    await start();
    let fewestRunning = Infinity;
    const emptyAt = await waitFor(`${VICTIM} to run no replica`, EMPTY_TIMEOUT_MS, async () => {
      const seen = Date.now();
      const counts = await count();
      fewestRunning = Math.min(fewestRunning, sum(counts));
      return counts[VICTIM] === 0 ? seen : undefined;
    });
    await sleep(TAIL_MS);
    const result = await load.stop();
    const runningAfter = sum(await count());
    return { t0, emptyAt, records: result.records, fewestRunning, runningAfter };
  } finally {
    await load.stop();
  }
}

/** heal's side: `heal watch` with short grace periods, memory pressure on VICTIM at t0. */
async function healDrain(env: TestbedEnv): Promise<DrainSide> {
  const label = `io.heal.stack=${STACK}`;
  const proxy = proxyName(STACK, 'web');
  return inTempDir('drain', async (dir) => {
    writeFileSync(join(dir, 'stack.yml'), specText(env));
    await removeMeshStack(env, dir, STACK);
    let pressed = false;
    try {
      const daemon = await startDaemon(dir, ['-f', 'stack.yml', ...allowTestbedKeys(env)]);
      try {
        await waitFor('1 replica of web on each host', READY_TIMEOUT_MS, async () => {
          const ready = (await containersOn(env, HOSTS, label)).filter(
            (container) => container.name !== proxy && isReady(container, true),
          );
          return HOSTS.every((host) => ready.filter((container) => container.host === host).length === 1)
            ? true
            : undefined;
        });
        await answersOnEveryHost(env, HEAL_PORT);
        const run = await drainUnderLoad(
          env,
          HEAL_PORT,
          () => perHost(env, label, proxy),
          async () => {
            pressed = true;
            await testbed('press-memory', VICTIM, '40');
          },
        );
        return drainFigures({ ...run, steps: healSteps(daemon.log(), VICTIM, run.t0) });
      } catch (error) {
        const drains = daemon
          .log()
          .split('\n')
          .filter((line) => /cordon|drain|condition/i.test(line))
          .slice(-8)
          .join('\n');
        console.error(`bench: heal drain failed; the daemon's last drain lines:\n${drains}`);
        throw error;
      } finally {
        await daemon.stop();
      }
    } finally {
      if (pressed)
        await testbed('relieve-memory', VICTIM).catch((error: unknown) =>
          console.error(`bench: relieve-memory ${VICTIM} failed: ${message(error)}`),
        );
      await removeMeshStack(env, dir, STACK);
    }
  });
}

/** Swarm's side, in a swarm of h1..h3: a host-mode published port, a manual drain of VICTIM at t0. */
async function swarmDrain(env: TestbedEnv): Promise<DrainSide> {
  const label = serviceLabel(SERVICE);
  let drained = false;
  try {
    await docker(
      env,
      MANAGER,
      [
        'service',
        'create',
        '--name',
        SERVICE,
        '--replicas',
        String(REPLICAS),
        '--replicas-max-per-node',
        '1',
        '--publish',
        `mode=host,published=${SWARM_PORT},target=8080`,
        '--detach=false',
        ...healthArgs(true),
        env.images.web1,
      ],
      READY_TIMEOUT_MS,
    );
    await waitFor('1 healthy task on each node', READY_TIMEOUT_MS, async () => {
      const ready = (await containersOn(env, HOSTS, label)).filter((container) => isReady(container, true));
      return HOSTS.every((host) => ready.filter((container) => container.host === host).length === 1)
        ? true
        : undefined;
    });
    await answersOnEveryHost(env, SWARM_PORT);
    const run = await drainUnderLoad(
      env,
      SWARM_PORT,
      () => perHost(env, label),
      async () => {
        drained = true;
        await docker(env, MANAGER, ['node', 'update', '--availability', 'drain', VICTIM]);
      },
    );
    return drainFigures(run);
  } finally {
    if (drained)
      await docker(env, MANAGER, ['node', 'update', '--availability', 'active', VICTIM]).catch(
        (error: unknown) => console.error(`bench: node update active ${VICTIM} failed: ${message(error)}`),
      );
    await removeService(env, SERVICE);
  }
}

/** Both sides, heal first (no swarm on the hosts), then Swarm in a swarm formed and left for it. */
export async function drainRows(env: TestbedEnv): Promise<ResultRow[]> {
  const heal = await healDrain(env).catch((error: unknown): DrainSide => {
    console.error(`bench: heal drain: ${message(error)}`);
    return { why: message(error) };
  });
  const swarm = await withSwarm(env, () => swarmDrain(env)).catch((error: unknown): DrainSide => {
    console.error(`bench: swarm drain: ${message(error)}`);
    return { why: message(error) };
  });
  for (const [column, side] of [
    ['heal', heal],
    ['swarm', swarm],
  ] as const)
    if (!('why' in side))
      console.error(
        `bench: drain ${column}: empty after ${side.seconds} s, ${side.failed} of ${side.sent} failed`,
      );
  return rowsOf(heal, swarm);
}
