/**
 * Healing a host that stops answering, on the bed's three hosts: switched off (`scripts/testbed
 * kill h3`: every process SIGKILLed, the NIC down), frozen (`freeze h3`: every process stopped,
 * TCP still open, nothing answers) or cut off (`cut h3`: its engine still runs its replicas, out of
 * reach). heal runs as its daemon; Swarm at its defaults (a silent node is down after its
 * heartbeat period times 3, ~15 s). Each figure runs from the fault until the engines of h1 and h2
 * list every replica running, polled every 100 ms; then h3 is restored (revive, thaw, mend). No
 * floor: plain Docker does not move containers off a host.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestbedEnv } from '../test/testbed.js';
import { createService, removeService, serviceLabel, waitNodesReady } from './swarm.js';
import {
  allowTestbedKeys,
  HOSTS,
  inTempDir,
  removeHealStack,
  repeat,
  type Sample,
  seconds,
  sleep,
  specText,
  startDaemon,
  testbed,
  waitConverged,
  waitReady,
} from './util.js';

const RUNS = 3;
const REPLICAS = 6;
/** The host that fails: never the swarm's manager. */
const VICTIM_HOST = 'h3';
const SURVIVORS = HOSTS.filter((host) => host !== VICTIM_HOST);
/** How long a run may wait for the replicas to come back before it counts as failed. */
const HEAL_TIMEOUT_MS = 90_000;

/** How h3 fails, and the `scripts/testbed` verbs that do it and undo it. */
export type HostFault = 'off' | 'frozen' | 'cut';
const VERBS: Record<HostFault, { readonly fail: string; readonly restore: string; readonly what: string }> = {
  off: { fail: 'kill', restore: 'revive', what: 'host switched off' },
  frozen: { fail: 'freeze', restore: 'thaw', what: 'host frozen' },
  cut: { fail: 'cut', restore: 'mend', what: 'host cut off' },
};

/**
 * Fails h3 with two replicas on it, times until six run on h1 and h2, then restores h3.
 * `deploy` puts the replicas in place and returns the label and a cleanup for after the restore.
 */
async function hostFaultRun(
  env: TestbedEnv,
  fault: HostFault,
  deploy: () => Promise<{ label: string; cleanup: () => Promise<void> }>,
): Promise<number> {
  let cleanup: (() => Promise<void>) | null = null;
  let failed = false;
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
    const failedAt = Date.now();
    failed = true;
    await testbed(VERBS[fault].fail, VICTIM_HOST);
    const back = await waitReady(env, {
      hosts: SURVIVORS,
      label: deployed.label,
      count: REPLICAS,
      healthy: false,
      timeoutMs: HEAL_TIMEOUT_MS,
    });
    return seconds(failedAt, back);
  } finally {
    if (failed) await testbed(VERBS[fault].restore, VICTIM_HOST);
    if (cleanup) await cleanup();
  }
}

/** h3 fails under `heal watch`: its replicas recreated on the others. */
export function hostFaultHeal(env: TestbedEnv, stack: string, fault: HostFault): Promise<Sample> {
  return repeat(`heal watch: ${VERBS[fault].what}`, RUNS, () =>
    inTempDir(stack, (dir) =>
      hostFaultRun(env, fault, async () => {
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

/** A worker that fails under Swarm: its tasks rescheduled once the manager marks it down. */
export function hostFaultSwarm(env: TestbedEnv, name: string, fault: HostFault): Promise<Sample> {
  return repeat(`swarm: ${VERBS[fault].what}`, RUNS, () =>
    hostFaultRun(env, fault, async () => {
      await removeService(env, name);
      await createService(env, { name, replicas: REPLICAS, health: false, detach: false });
      return {
        label: serviceLabel(name),
        cleanup: async () => {
          await removeService(env, name, SURVIVORS);
          // The restored worker rejoins by itself; its old tasks' containers go once it has.
          await waitNodesReady(env, 90_000);
          await removeService(env, name);
        },
      };
    }),
  );
}
