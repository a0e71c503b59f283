/**
 * Healing a replica SIGKILLed (`docker kill`) on the bed's three hosts, with the engines quiet or
 * busy (bench/busy.ts). heal runs as its daemon (`heal watch -f stack.yml`); Swarm at its defaults
 * (restart delay 5 s). Each figure runs from the kill until the engines list every replica running
 * again, polled every 100 ms. 6 replicas of the web image, no healthcheck, no published ports.
 * Docker's own restart policy (`--restart always`) does not bring back a container stopped by
 * `docker kill` (it counts as a manual stop); the floor is the engine's own part of a heal: kill,
 * wait until it has stopped, start, straight on the socket.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestbedEnv } from '../test/testbed.js';
import { busyEngines } from './busy.js';
import { createService, removeService, serviceLabel } from './swarm.js';
import {
  allowTestbedKeys,
  containersOn,
  docker,
  engine,
  type EngineContainer,
  floorRun,
  FLOOR_LABEL,
  HOSTS,
  hostOf,
  inTempDir,
  killContainer,
  removeAll,
  removeHealStack,
  repeat,
  type Sample,
  seconds,
  sleep,
  specText,
  startDaemon,
  startedAt,
  waitConverged,
  waitReady,
} from './util.js';

/** A kill heals in well under a second, or a second later when the first look comes too early: more runs. */
const KILL_RUNS = 5;
const REPLICAS = 6;
/** The busy engines' bounds: enough for every run of one column (repeat() stops after 240 s). */
const BUSY = { maxRounds: 1_000, maxSeconds: 300, pauseSeconds: 0.5 };

/** Whether the engines are left alone or kept busy during the runs. */
export type Load = 'quiet' | 'busy';

/** Runs `work` with the engines busy when `load` says so; the load ends (by pid) whatever happens. */
async function under<T>(env: TestbedEnv, load: Load, work: () => Promise<T>): Promise<T> {
  if (load === 'quiet') return work();
  const busy = busyEngines(env, BUSY);
  try {
    return await work();
  } finally {
    await busy.stop();
    console.error(`bench: busy engines: ${busy.rounds()} rounds of load`);
  }
}

/** Run `run` kills a replica on h1, h2, h3 in turn: a different slot each time, so no restart backoff. */
function victimFor(ready: readonly EngineContainer[], run: number): EngineContainer {
  const host = HOSTS[(run - 1) % HOSTS.length]!;
  const victim = ready
    .filter((container) => container.host === host)
    .sort((a, b) => a.name.localeCompare(b.name))[0];
  if (!victim) throw new Error(`no replica runs on ${host}`);
  return victim;
}

/** Ready again: `count` running, and the victim is either not among them or was started after the kill. */
function backAfterKill(env: TestbedEnv, victim: EngineContainer, killedAt: number) {
  return async (ready: EngineContainer[]): Promise<boolean> => {
    if (!ready.some((container) => container.id === victim.id)) return true;
    const started = await startedAt(env, victim.host, victim.id);
    return started !== null && started > killedAt;
  };
}

/** Kills a replica by pid, waits for it to be replaced or restarted; `settle` runs between runs. */
function killRuns(
  env: TestbedEnv,
  what: string,
  label: string,
  settle: () => Promise<unknown>,
): Promise<Sample> {
  return repeat(what, KILL_RUNS, async (run) => {
    await settle();
    await waitReady(env, { hosts: HOSTS, label, count: REPLICAS, healthy: false, timeoutMs: 60_000 });
    const running = (await containersOn(env, HOSTS, label)).filter(
      (container) => container.state === 'running',
    );
    const victim = victimFor(running, run);
    const killedAt = Date.now();
    await killContainer(env, victim.host, victim.id);
    const back = await waitReady(env, {
      hosts: HOSTS,
      label,
      count: REPLICAS,
      healthy: false,
      timeoutMs: 60_000,
      also: backAfterKill(env, victim, killedAt),
    });
    return seconds(killedAt, back);
  });
}

/** `docker kill` of one replica with `heal watch` running. */
export function killHeal(env: TestbedEnv, stack: string, load: Load): Promise<Sample> {
  return inTempDir(stack, async (dir) => {
    await removeHealStack(env, stack);
    writeFileSync(
      join(dir, 'stack.yml'),
      specText(env, { name: stack, replicas: REPLICAS, image: env.images.web1, health: false }),
    );
    const daemon = await startDaemon(dir, ['-f', 'stack.yml', ...allowTestbedKeys(env)]);
    try {
      return await under(env, load, () =>
        killRuns(env, `heal watch: docker kill, ${load}`, `io.heal.stack=${stack}`, async () => {
          await waitConverged(daemon, 60_000);
          await sleep(1_000);
        }),
      );
    } finally {
      await daemon.stop();
      await removeHealStack(env, stack);
    }
  });
}

/** `docker kill` of one task's container of a Swarm service. */
export async function killSwarm(env: TestbedEnv, name: string, load: Load): Promise<Sample> {
  await removeService(env, name);
  try {
    await createService(env, { name, replicas: REPLICAS, health: false, detach: false });
    return await under(env, load, () =>
      killRuns(env, `swarm: docker kill, ${load}`, serviceLabel(name), () => sleep(1_000)),
    );
  } finally {
    await removeService(env, name);
  }
}

/**
 * The engine's own part of a heal, straight on h1's socket: kill, wait until it has stopped (what
 * the `die` event says), start. No tool restarts a container faster than its engine does this.
 * The container is the kind heal restarts: on a user-defined network with the service's name as
 * alias (what compose gives every service), whose start costs the engine more than one on the
 * default bridge (its sandbox and embedded DNS: +0.5 s quiet here, about +1 s busy).
 */
export async function killFloor(env: TestbedEnv, load: Load): Promise<Sample> {
  const label = 'kill';
  const network = 'bfloor-kill-net';
  const socket = hostOf(env, 'h1').socket;
  const call = async (method: string, path: string, ok: number[]): Promise<void> => {
    const answer = await engine(socket, method, path);
    if (!ok.includes(answer.status)) throw new Error(`${method} ${path}: ${answer.status} ${answer.body}`);
  };
  await removeAll(env, ['h1'], `${FLOOR_LABEL}=${label}`, [network]);
  try {
    await docker(env, 'h1', ['network', 'create', network]);
    await floorRun(env, 'h1', ['bfloor-kill'], {
      image: env.images.web1,
      label,
      health: false,
      network: { name: network, alias: 'web' },
    });
    return await under(env, load, () =>
      repeat(`floor: kill, start, ${load}`, KILL_RUNS, async () => {
        await sleep(1_000);
        const killedAt = Date.now();
        await call('POST', '/containers/bfloor-kill/kill', [204]);
        await call('POST', '/containers/bfloor-kill/wait?condition=not-running', [200]);
        await call('POST', '/containers/bfloor-kill/start', [204]);
        return seconds(killedAt, Date.now());
      }),
    );
  } finally {
    await removeAll(env, ['h1'], `${FLOOR_LABEL}=${label}`, [network]);
  }
}
