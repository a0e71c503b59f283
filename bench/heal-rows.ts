/**
 * Healing on the bed's three hosts: a replica SIGKILLed (`docker kill`), and a host switched off
 * (`scripts/testbed kill h3`). heal runs as its daemon (`heal watch -f stack.yml`); Swarm at its
 * defaults (restart delay 5 s; a silent node is down after its heartbeat period times 3, ~15 s).
 * Each figure runs from the kill until the engines list every replica running again, polled every
 * 100 ms. 6 replicas of the web image, no healthcheck, no published ports. No floor: Docker's own
 * restart policy (`--restart always`) does not bring back a container stopped by `docker kill` (it
 * counts as a manual stop), and plain Docker does not move containers off a dead host.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestbedEnv } from '../test/testbed.js';
import { createService, removeService, serviceLabel, waitNodesReady } from './swarm.js';
import {
  allowTestbedKeys,
  containersOn,
  type EngineContainer,
  HOSTS,
  inTempDir,
  killContainer,
  removeHealStack,
  repeat,
  type Sample,
  seconds,
  sleep,
  specText,
  startDaemon,
  startedAt,
  testbed,
  waitConverged,
  waitReady,
} from './util.js';

const RUNS = 3;
/** A kill heals in well under a second, or a second later when the first look comes too early: more runs. */
const KILL_RUNS = 5;
const REPLICAS = 6;
/** The host switched off: never the swarm's manager. */
const VICTIM_HOST = 'h3';
const SURVIVORS = HOSTS.filter((host) => host !== VICTIM_HOST);
/** How long a run may wait for the replicas to come back before it counts as failed. */
const HEAL_TIMEOUT_MS = 90_000;

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
export function killHeal(env: TestbedEnv, stack: string): Promise<Sample> {
  return inTempDir(stack, async (dir) => {
    await removeHealStack(env, stack);
    writeFileSync(
      join(dir, 'stack.yml'),
      specText(env, { name: stack, replicas: REPLICAS, image: env.images.web1, health: false }),
    );
    const daemon = await startDaemon(dir, ['-f', 'stack.yml', ...allowTestbedKeys(env)]);
    try {
      return await killRuns(env, 'heal watch: docker kill', `io.heal.stack=${stack}`, async () => {
        await waitConverged(daemon, 60_000);
        await sleep(1_000);
      });
    } finally {
      await daemon.stop();
      await removeHealStack(env, stack);
    }
  });
}

/** `docker kill` of one task's container of a Swarm service. */
export async function killSwarm(env: TestbedEnv, name: string): Promise<Sample> {
  await removeService(env, name);
  try {
    await createService(env, { name, replicas: REPLICAS, health: false, detach: false });
    return await killRuns(env, 'swarm: docker kill', serviceLabel(name), () => sleep(1_000));
  } finally {
    await removeService(env, name);
  }
}

/**
 * Switches h3 off with two replicas on it, times until six run on h1 and h2, then boots h3 again.
 * `deploy` puts the replicas in place and returns the label and a cleanup for after the revive.
 */
async function hostDownRun(
  env: TestbedEnv,
  deploy: () => Promise<{ label: string; cleanup: () => Promise<void> }>,
): Promise<number> {
  let cleanup: (() => Promise<void>) | null = null;
  let killed = false;
  try {
    const deployed = await deploy();
    cleanup = deployed.cleanup;
    await waitReady(env, {
      hosts: HOSTS,
      label: deployed.label,
      count: REPLICAS,
      healthy: false,
      timeoutMs: 60_000,
      also: async (ready) => ready.filter((container) => container.host === VICTIM_HOST).length > 0,
    });
    await sleep(1_000);
    const killedAt = Date.now();
    killed = true;
    await testbed('kill', VICTIM_HOST);
    const back = await waitReady(env, {
      hosts: SURVIVORS,
      label: deployed.label,
      count: REPLICAS,
      healthy: false,
      timeoutMs: HEAL_TIMEOUT_MS,
    });
    return seconds(killedAt, back);
  } finally {
    if (killed) await testbed('revive', VICTIM_HOST);
    if (cleanup) await cleanup();
  }
}

/** A host switched off under `heal watch`: its replicas recreated on the others. */
export function hostDownHeal(env: TestbedEnv, stack: string): Promise<Sample> {
  return repeat('heal watch: host switched off', RUNS, () =>
    inTempDir(stack, (dir) =>
      hostDownRun(env, async () => {
        await removeHealStack(env, stack);
        writeFileSync(
          join(dir, 'stack.yml'),
          specText(env, { name: stack, replicas: REPLICAS, image: env.images.web1, health: false }),
        );
        const daemon = await startDaemon(dir, ['-f', 'stack.yml', ...allowTestbedKeys(env)]);
        const cleanup = async (): Promise<void> => {
          await daemon.stop();
          await removeHealStack(env, stack);
        };
        try {
          await waitConverged(daemon, 60_000);
        } catch (error) {
          await cleanup();
          throw error;
        }
        return { label: `io.heal.stack=${stack}`, cleanup };
      }),
    ),
  );
}

/** A worker switched off under Swarm: its tasks rescheduled once the manager marks it down. */
export function hostDownSwarm(env: TestbedEnv, name: string): Promise<Sample> {
  return repeat('swarm: host switched off', RUNS, () =>
    hostDownRun(env, async () => {
      await removeService(env, name);
      await createService(env, { name, replicas: REPLICAS, health: false, detach: false });
      return {
        label: serviceLabel(name),
        cleanup: async () => {
          await removeService(env, name, SURVIVORS);
          // The revived worker rejoins by itself; its old tasks' containers go once it has.
          await waitNodesReady(env, 90_000);
          await removeService(env, name);
        },
      };
    }),
  );
}
