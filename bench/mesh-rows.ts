/**
 * The routing mesh (issue 16) under load on the bed's three hosts, with the load generator of
 * test/load: what a request through any host's port 80 costs beside the same request straight to
 * a replica's own (ephemeral) port, and how many requests fail while a rolling update replaces
 * every replica. A figure only when the mesh is what answers: a row says `not measured: <why>`
 * when heal cannot apply the stack, a host runs no mesh proxy, port 80 does not answer, or the
 * replicas publish nothing to compare with. Never a made-up figure.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { proxyName } from '../src/mesh/names.js';
import { type LoadOptions, runLoad, startLoad } from '../test/load/load.js';
import { FAIL_REASONS, type LoadSummary, type RequestRecord, summarize } from '../test/load/summary.js';
import type { TestbedEnv } from '../test/testbed.js';
import type { ResultRow } from './results-row.js';
import {
  containersOn,
  engine,
  type EngineContainer,
  heal,
  hostOf,
  HOSTS,
  inTempDir,
  isReady,
  removeHealStack,
  round,
  sleep,
  type SpecShape,
  specText,
  testbed,
  waitFor,
} from './util.js';

/** More replicas than hosts: a port bound straight on the host (no mesh) could not place them. */
const LATENCY = { name: 'bmesh', replicas: 6 };
const ROLLOUT = { name: 'bmeshroll', replicas: 12, parallelism: 3 };
const HOST_OFF = { name: 'bmeshoff', replicas: 6, victim: 'h3', watchMs: 15_000 };
export type MeshOrder = 'stop-first' | 'start-first';
/** Latency: rounds of direct then mesh requests, one at a time (no queueing in the figure). */
const ROUNDS = 3;
const PER_ROUND = 200;
const REQUEST_TIMEOUT_MS = 2_000;
const APPLY_TIMEOUT_MS = 150_000;
const READY_TIMEOUT_MS = 120_000;
/** How long port 80 may take to answer once the replicas are healthy (the proxies' first checks). */
const ANSWER_TIMEOUT_MS = 20_000;

type Prepared = { readonly ready: true } | { readonly ready: false; readonly why: string };

const notMeasured = (name: string, unit: string, why: string): ResultRow => ({
  name,
  heal: null,
  swarm: null,
  floor: null,
  unit,
  note: `not measured: ${why}`,
});

/** The last non-empty line of a command's output: what it said when it failed. */
function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .at(-1)
      ?.slice(0, 200) ?? '(no output)'
  );
}

const portUrl = (env: TestbedEnv, host: string, path = '/host'): string =>
  `http://${hostOf(env, host).address}:80${path}`;

/** The stack's replicas of `web` (its mesh proxies left out), on every host. */
async function replicasOf(env: TestbedEnv, stack: string): Promise<EngineContainer[]> {
  const proxy = proxyName(stack, 'web');
  return (await containersOn(env, HOSTS, `io.heal.stack=${stack}`)).filter(
    (container) => container.name !== proxy && container.labels['io.heal.service'] === 'web',
  );
}

/** Waits until `count` healthy replicas run `image`; the time they were first seen, or null. */
async function waitReplicas(
  env: TestbedEnv,
  stack: string,
  count: number,
  image: string,
): Promise<number | null> {
  return waitFor(`${count} healthy replicas of ${stack}`, READY_TIMEOUT_MS, async () => {
    const seen = Date.now();
    const ready = (await replicasOf(env, stack)).filter((container) => isReady(container, true));
    return ready.length === count && ready.every((container) => container.image.startsWith(image))
      ? seen
      : undefined;
  }).catch(() => null);
}

/** The hosts with no running container named `name`. */
async function hostsWithout(env: TestbedEnv, name: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ name: [`^/${name}$`] }));
  const missing: string[] = [];
  for (const host of HOSTS) {
    const answer = await engine(hostOf(env, host).socket, 'GET', `/containers/json?filters=${filters}`);
    const running = answer.status === 200 && (JSON.parse(answer.body) as unknown[]).length > 0;
    if (!running) missing.push(host);
  }
  return missing;
}

/** Each host's port 80 answers GET /host (bounded); the first host that does not, and how it failed. */
async function port80Answers(env: TestbedEnv): Promise<string | null> {
  for (const host of HOSTS) {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    for (;;) {
      const probe = await runLoad({
        targets: [portUrl(env, host)],
        concurrency: 1,
        maxRequests: 1,
        maxDurationMs: REQUEST_TIMEOUT_MS,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      if (probe.ok === 1) break;
      const record = probe.records[0];
      const last = record
        ? `${record.reason ?? 'failed'}${record.status ? ` ${record.status}` : ''}`
        : 'not sent';
      if (Date.now() > deadline)
        return `port 80 on ${host} does not answer (${last}) ${ANSWER_TIMEOUT_MS / 1000} s after the replicas were healthy`;
      await sleep(500);
    }
  }
  return null;
}

/**
 * Applies the stack (its spec in `dir`) and checks that the mesh is what answers: the replicas
 * healthy, a proxy running on every host, port 80 answering on every host.
 */
async function applyMeshStack(
  env: TestbedEnv,
  dir: string,
  shape: SpecShape,
  what: string,
): Promise<Prepared> {
  writeFileSync(join(dir, 'stack.yml'), specText(env, shape));
  const applied = await heal(dir, ['apply', '--yes', '-f', 'stack.yml'], APPLY_TIMEOUT_MS);
  if (applied.code !== 0)
    return {
      ready: false,
      why: `heal apply of ${what} exited ${applied.code}: ${lastLine(`${applied.stdout}\n${applied.stderr}`)}`,
    };
  if ((await waitReplicas(env, shape.name, shape.replicas, shape.image)) === null)
    return { ready: false, why: `${what}: ${shape.replicas} healthy replicas not seen` };
  const proxy = proxyName(shape.name, 'web');
  const missing = await hostsWithout(env, proxy);
  if (missing.length > 0)
    return {
      ready: false,
      why: `no mesh proxy ${proxy} runs on ${missing.join(', ')}: port 80 there is not the routing mesh`,
    };
  const silent = await port80Answers(env);
  return silent === null ? { ready: true } : { ready: false, why: silent };
}

/** Removes the stack: heal down first (it knows the proxies), then anything left by label and name. */
export async function removeMeshStack(env: TestbedEnv, dir: string, stack: string): Promise<void> {
  await heal(dir, ['down', '--yes', '--volumes', '-f', 'stack.yml'], APPLY_TIMEOUT_MS).catch(() => undefined);
  await removeHealStack(env, stack);
  const proxy = proxyName(stack, 'web');
  await Promise.all(
    HOSTS.map((host) =>
      engine(hostOf(env, host).socket, 'DELETE', `/containers/${proxy}?force=1`).catch(() => undefined),
    ),
  );
}

/** Each replica's own host port for 8080 (`http://ADDRESS:PORT/host`), or why there is none. */
async function directUrls(env: TestbedEnv, stack: string): Promise<string[] | string> {
  const urls: string[] = [];
  for (const replica of await replicasOf(env, stack)) {
    const answer = await engine(hostOf(env, replica.host).socket, 'GET', `/containers/${replica.id}/json`);
    const ports = (
      JSON.parse(answer.body) as {
        NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
      }
    ).NetworkSettings.Ports;
    const binding = ports?.['8080/tcp']?.find((candidate) => candidate.HostPort !== '');
    if (!binding) return `replica ${replica.name} on ${replica.host} publishes no host port for 8080`;
    const address = ['', '0.0.0.0', '::'].includes(binding.HostIp)
      ? hostOf(env, replica.host).address
      : binding.HostIp;
    urls.push(`http://${address}:${binding.HostPort}/host`);
  }
  return urls;
}

/** Extra figures of a load summary, for a row's `extra`. */
function loadExtra(prefix: string, summary: LoadSummary): Record<string, number> {
  const extra: Record<string, number> = {
    [`${prefix}.sent`]: summary.sent,
    [`${prefix}.failed`]: summary.failed,
    [`${prefix}.replicas`]: summary.distinctBodies,
  };
  if (summary.p50Ms !== null) extra[`${prefix}.p50Ms`] = summary.p50Ms;
  if (summary.p99Ms !== null) extra[`${prefix}.p99Ms`] = summary.p99Ms;
  if (summary.failureWindow) extra[`${prefix}.failureWindowMs`] = summary.failureWindow.ms;
  for (const reason of FAIL_REASONS) {
    const count = summary.byReason[reason];
    if (count) extra[`${prefix}.${reason}`] = count;
  }
  return extra;
}

const LATENCY_P50 = "mesh: a request through any host's port 80 vs straight to a replica, p50";
const LATENCY_P99 = "mesh: a request through any host's port 80 vs straight to a replica, p99";

/**
 * The mesh's added latency: 6 replicas behind `80:8080`; rounds of PER_ROUND requests straight to
 * the replicas' own host ports (the floor), then as many through the hosts' port 80 (heal), one at
 * a time, so both see the same machine. Two rows: p50 and p99, with their ratio.
 */
export async function meshLatencyRows(env: TestbedEnv): Promise<ResultRow[]> {
  return measureLatency(env).catch((error: unknown) => {
    const why = `the measurement failed: ${error instanceof Error ? error.message : String(error)}`;
    return [notMeasured(LATENCY_P50, 'ms', why), notMeasured(LATENCY_P99, 'ms', why)];
  });
}

async function measureLatency(env: TestbedEnv): Promise<ResultRow[]> {
  return inTempDir(LATENCY.name, async (dir) => {
    await removeMeshStack(env, dir, LATENCY.name);
    try {
      const prepared = await applyMeshStack(
        env,
        dir,
        {
          name: LATENCY.name,
          replicas: LATENCY.replicas,
          image: env.images.web1,
          health: true,
          ports: ['80:8080'],
          meshImage: env.images.proxy,
        },
        `${LATENCY.replicas} replicas behind 80:8080`,
      );
      if (!prepared.ready)
        return [notMeasured(LATENCY_P50, 'ms', prepared.why), notMeasured(LATENCY_P99, 'ms', prepared.why)];
      const direct = await directUrls(env, LATENCY.name);
      if (typeof direct === 'string')
        return [notMeasured(LATENCY_P50, 'ms', direct), notMeasured(LATENCY_P99, 'ms', direct)];
      const mesh = HOSTS.map((host) => portUrl(env, host));
      const one = (targets: string[]): LoadOptions => ({
        targets,
        concurrency: 1,
        maxRequests: PER_ROUND,
        maxDurationMs: 60_000,
        timeoutMs: REQUEST_TIMEOUT_MS,
        keepBodies: true,
      });
      const directRecords: RequestRecord[] = [];
      const meshRecords: RequestRecord[] = [];
      for (let roundIndex = 0; roundIndex < ROUNDS; roundIndex += 1) {
        directRecords.push(...(await runLoad(one(direct))).records);
        meshRecords.push(...(await runLoad(one(mesh))).records);
      }
      const floor = summarize(directRecords);
      const through = summarize(meshRecords);
      console.error(
        `bench: mesh latency: direct p50 ${floor.p50Ms} p99 ${floor.p99Ms} ms; port 80 p50 ${through.p50Ms} p99 ${through.p99Ms} ms`,
      );
      const extra = { ...loadExtra('mesh', through), ...loadExtra('direct', floor) };
      const row = (name: string, heal: number | null, base: number | null): ResultRow => ({
        name,
        heal,
        swarm: null,
        floor: base,
        unit: 'ms',
        extra: { ...extra, ...(heal !== null && base ? { ratio: round(heal / base) } : {}) },
        ...(through.failed > 0
          ? { note: `${through.failed} of ${through.sent} requests through port 80 failed` }
          : {}),
      });
      return [row(LATENCY_P50, through.p50Ms, floor.p50Ms), row(LATENCY_P99, through.p99Ms, floor.p99Ms)];
    } finally {
      await removeMeshStack(env, dir, LATENCY.name);
    }
  });
}

/**
 * Requests failed while a rolling update (web v1 → v2, 12 replicas, parallelism 3, delay 0)
 * replaces every replica, under a steady load on every host's port 80: 4 at a time, 50 a second.
 * Counted from the update's start until the engines show 12 healthy v2 replicas, plus one second.
 */
export async function meshRolloutRow(env: TestbedEnv, order: MeshOrder): Promise<ResultRow> {
  const name = `mesh: requests failed during a rolling update of 12 replicas under load (${order})`;
  return measureRollout(env, order, name).catch((error: unknown) =>
    notMeasured(
      name,
      'requests',
      `the measurement failed: ${error instanceof Error ? error.message : String(error)}`,
    ),
  );
}

async function measureRollout(env: TestbedEnv, order: MeshOrder, name: string): Promise<ResultRow> {
  const stack = `${ROLLOUT.name}${order === 'start-first' ? 's' : ''}`;
  return inTempDir(stack, async (dir) => {
    await removeMeshStack(env, dir, stack);
    const shape = (image: string): SpecShape => ({
      name: stack,
      replicas: ROLLOUT.replicas,
      image,
      health: true,
      ports: ['80:8080'],
      meshImage: env.images.proxy,
      updateConfig: `{ parallelism: ${ROLLOUT.parallelism}, delay: 0s, order: ${order} }`,
    });
    try {
      const prepared = await applyMeshStack(
        env,
        dir,
        shape(env.images.web1),
        '12 replicas of web v1 behind 80:8080',
      );
      if (!prepared.ready) return notMeasured(name, 'requests', prepared.why);
      const load = startLoad({
        targets: HOSTS.map((host) => portUrl(env, host)),
        concurrency: 4,
        ratePerSecond: 50,
        maxRequests: 12_000,
        maxDurationMs: 240_000,
        timeoutMs: REQUEST_TIMEOUT_MS,
        keepBodies: true,
      });
      try {
        await sleep(2_000); // the load in its stride before the update
        const from = Date.now();
        writeFileSync(join(dir, 'stack.yml'), specText(env, shape(env.images.web2)));
        const applied = await heal(dir, ['apply', '--yes', '-f', 'stack.yml'], APPLY_TIMEOUT_MS);
        if (applied.code !== 0)
          return notMeasured(
            name,
            'requests',
            `heal apply of web v2 exited ${applied.code}: ${lastLine(`${applied.stdout}\n${applied.stderr}`)}`,
          );
        const updated = await waitReplicas(env, stack, ROLLOUT.replicas, env.images.web2);
        if (updated === null) return notMeasured(name, 'requests', '12 healthy replicas of web v2 not seen');
        await sleep(1_000);
        const to = Date.now();
        await load.stop();
        const before = load.summary({ to: from });
        const during = load.summary({ from, to });
        console.error(`bench: mesh rollout ${order}: ${during.failed} of ${during.sent} failed`);
        return {
          name,
          heal: during.failed,
          swarm: null,
          floor: null,
          unit: 'requests',
          extra: {
            ...loadExtra('during', during),
            'before.failed': before.failed,
            seconds: round((to - from) / 1000),
          },
          target: { text: `0 failed: ${during.failed} of ${during.sent}`, met: during.failed === 0 },
        };
      } finally {
        await load.stop();
      }
    } finally {
      await removeMeshStack(env, dir, stack);
    }
  });
}

const HOST_OFF_ROW = 'mesh: window of failed requests after a host is switched off under load';

/**
 * A host switched off under load (`scripts/testbed kill h3`, two of 6 replicas on it): the load
 * goes to the port 80 of the two other hosts (an outside balancer drops a dead host; its own port
 * cannot answer), and the figure is the window from the first to the last failed request within
 * 15 s of the kill: how long the proxies kept sending to the dead replicas. heal's daemon does not
 * run: the window is the proxies' own checks. h3 is revived after.
 */
export async function meshHostOffRow(env: TestbedEnv): Promise<ResultRow> {
  return measureHostOff(env).catch((error: unknown) =>
    notMeasured(
      HOST_OFF_ROW,
      's',
      `the measurement failed: ${error instanceof Error ? error.message : String(error)}`,
    ),
  );
}

async function measureHostOff(env: TestbedEnv): Promise<ResultRow> {
  const survivors = HOSTS.filter((host) => host !== HOST_OFF.victim);
  return inTempDir(HOST_OFF.name, async (dir) => {
    await removeMeshStack(env, dir, HOST_OFF.name);
    let killed = false;
    try {
      const prepared = await applyMeshStack(
        env,
        dir,
        {
          name: HOST_OFF.name,
          replicas: HOST_OFF.replicas,
          image: env.images.web1,
          health: true,
          ports: ['80:8080'],
          meshImage: env.images.proxy,
        },
        `${HOST_OFF.replicas} replicas behind 80:8080`,
      );
      if (!prepared.ready) return notMeasured(HOST_OFF_ROW, 's', prepared.why);
      const onVictim = (await replicasOf(env, HOST_OFF.name)).filter((c) => c.host === HOST_OFF.victim);
      if (onVictim.length === 0)
        return notMeasured(HOST_OFF_ROW, 's', `no replica on ${HOST_OFF.victim}: nothing to lose`);
      const load = startLoad({
        targets: survivors.map((host) => portUrl(env, host)),
        concurrency: 4,
        ratePerSecond: 50,
        maxRequests: 3_000,
        maxDurationMs: 60_000,
        timeoutMs: REQUEST_TIMEOUT_MS,
        keepBodies: true,
      });
      try {
        await sleep(3_000);
        const from = Date.now();
        killed = true;
        await testbed('kill', HOST_OFF.victim);
        await sleep(HOST_OFF.watchMs);
        const to = Date.now();
        await load.stop();
        const before = load.summary({ to: from });
        const during = load.summary({ from, to });
        const window = during.failureWindow ? round(during.failureWindow.ms / 1000) : 0;
        console.error(`bench: mesh host off: ${during.failed} of ${during.sent} failed within ${window} s`);
        return {
          name: HOST_OFF_ROW,
          heal: window,
          swarm: null,
          floor: null,
          unit: 's',
          extra: {
            ...loadExtra('during', during),
            'before.failed': before.failed,
            ...(during.failureWindow ? { firstFailedAfterKillMs: during.failureWindow.first - from } : {}),
          },
          target: {
            text: `≤ 3 s: ${window} s (${during.failed} of ${during.sent} failed)`,
            met: window <= 3,
          },
        };
      } finally {
        await load.stop();
      }
    } finally {
      if (killed) await testbed('revive', HOST_OFF.victim).catch(() => undefined);
      await removeMeshStack(env, dir, HOST_OFF.name);
    }
  });
}
