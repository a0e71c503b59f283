/**
 * Autoscaling (issue 18) on the bed: the queue test image (its response time grows with the
 * requests in flight, no CPU burnt) behind the mesh, `x-heal-autoscale` on response time, `heal
 * watch` following the file. A closed-loop load of 6 steps up at once; the rows are the seconds
 * from that step until heal's figure of the response time is back under the target with every
 * replica it chose serving, and the count changes heal made during the steady load after that
 * (target: none). heal-only: Swarm has no autoscaler.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLoad } from '../test/load/load.js';
import { bedSpecHead, type TestbedEnv } from '../test/testbed.js';
import type { ResultRow } from './results-row.js';
import {
  allowTestbedKeys,
  engine,
  hostOf,
  HOSTS,
  inTempDir,
  removeHealStack,
  round,
  sleep,
  startDaemon,
  waitFor,
  type Daemon,
} from './util.js';

const STACK = 'bautoscale';
const PORT = 87;
const TARGET_MS = 300;
const INTERVAL_S = 5;
/** How long the load stays steady after settling while changes are counted. */
const STEADY_MS = 60_000;

function specText(env: TestbedEnv): string {
  return [
    ...bedSpecHead(env, STACK, [`  mesh: { image: ${env.images.proxy}, drain_timeout: 5s }`]),
    'services:',
    '  web:',
    `    image: ${env.registry}/queue:v1`,
    `    ports: ["${PORT}:8080"]`,
    "    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }",
    '    stop_grace_period: 2s',
    '    x-heal-autoscale:',
    '      min: 1',
    '      max: 6',
    `      response_time: ${TARGET_MS}ms`,
    `      interval: ${INTERVAL_S}s`,
    '      scale_down: { window: 60s }',
    '',
  ].join('\n');
}

async function metricValue(daemon: Daemon, name: string): Promise<number | null> {
  const response = await fetch(`${daemon.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  let sum: number | null = null;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(`service="web"`))
      sum = (sum ?? 0) + Number(line.split(' ').pop());
  return sum;
}

async function web(daemon: Daemon): Promise<{ desired: number | null; running: number } | undefined> {
  return (await daemon.status()).services.find((row) => row.service === 'web');
}

const notMeasured = (name: string, unit: string, why: string): ResultRow => ({
  name,
  heal: null,
  swarm: null,
  floor: null,
  unit,
  note: `not measured: ${why}`,
});

export async function autoscaleRows(env: TestbedEnv): Promise<ResultRow[]> {
  const settleName = `autoscale: load step → response time under ${TARGET_MS} ms target`;
  const steadyName = `autoscale: count changes in ${STEADY_MS / 1000} s of steady load after settling`;
  await removeHealStack(env, STACK);
  try {
    return await inTempDir('autoscale', async (dir) => {
      writeFileSync(join(dir, 'stack.yml'), specText(env));
      const daemon = await startDaemon(dir, [
        '-f',
        'stack.yml',
        '--log-level',
        'debug',
        ...allowTestbedKeys(env),
      ]);
      const decisions = (): string =>
        daemon
          .log()
          .split('\n')
          .filter((line) => line.includes('"autoscale') || line.includes('"autoscaled"'))
          .slice(-12)
          .join('\n');
      try {
        await waitFor('web at min, serving', 180_000, async () => {
          const row = await web(daemon);
          return row?.desired === 1 && row.running === 1 ? true : undefined;
        });
        await sleep(3_000);
        const load = startLoad({
          targets: env.hosts.map((host) => `http://${host.address}:${PORT}/cgi-bin/queue`),
          concurrency: 6,
          maxRequests: 60_000,
          maxDurationMs: 240_000,
          timeoutMs: 10_000,
        });
        const step = Date.now();
        let settled: number;
        let changesAtSettle: number;
        try {
          settled = await waitFor('the response time back under the target', 150_000, async () => {
            if (process.env.HEAL_BENCH_DEBUG) console.error(decisions().split('\n').at(-1));
            const row = await web(daemon);
            const seconds = await metricValue(daemon, 'heal_autoscale_response_seconds');
            if (!row || row.desired === null || row.desired < 2 || row.running !== row.desired)
              return undefined;
            return seconds !== null && seconds * 1000 < TARGET_MS ? Date.now() : undefined;
          });
          changesAtSettle = (await metricValue(daemon, 'heal_autoscale_changes_total')) ?? 0;
          await sleep(STEADY_MS);
        } catch (error) {
          console.error(`bench: autoscale decisions before the failure:\n${decisions()}`);
          throw error;
        } finally {
          await load.stop();
        }
        const result = await load.done;
        const changes = ((await metricValue(daemon, 'heal_autoscale_changes_total')) ?? 0) - changesAtSettle;
        const replicas = (await web(daemon))?.desired ?? null;
        const extra = { replicas: replicas ?? 0, failed: result.failed, requests: result.ok + result.failed };
        return [
          {
            name: settleName,
            heal: round((settled - step) / 1000),
            swarm: null,
            floor: null,
            unit: 's',
            extra,
            note: `${INTERVAL_S} s interval; ${result.failed} of ${result.ok + result.failed} requests failed; settled at ${replicas} replicas`,
          },
          {
            name: steadyName,
            heal: changes,
            swarm: null,
            floor: null,
            unit: 'changes',
            target: { text: 'none after settling', met: changes === 0 },
          },
        ];
      } finally {
        await daemon.stop();
      }
    });
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    return [notMeasured(settleName, 's', why), notMeasured(steadyName, 'changes', why)];
  } finally {
    await removeHealStack(env, STACK);
    // The scale marks: heal's labelled volumes of the stack.
    await Promise.all(
      HOSTS.map(async (host) => {
        const socket = hostOf(env, host).socket;
        const listed = await engine(
          socket,
          'GET',
          `/volumes?filters=${encodeURIComponent(JSON.stringify({ label: [`io.heal.stack=${STACK}`] }))}`,
        ).catch(() => null);
        const volumes = listed
          ? ((JSON.parse(listed.body) as { Volumes?: { Name: string }[] }).Volumes ?? [])
          : [];
        for (const volume of volumes)
          await engine(socket, 'DELETE', `/volumes/${volume.Name}`).catch(() => undefined);
      }),
    );
  }
}
