/**
 * A rolling update of 12 replicas over the bed's three hosts, web v1 → web v2, parallelism 3,
 * delay 0, stop-first, the test images' healthcheck: heal apply of the changed spec, Docker Swarm's
 * `docker service update --image`, and the floor (by hand: for each batch of 3, one container per
 * host, `docker rm -f` the old and `docker run -d` the new, then wait until the batch is healthy).
 * The v1 replicas are deployed and healthy first, untimed. Every figure runs from launching the
 * command until the engines list 12 healthy containers of web v2, polled every 100 ms; the
 * commands' own wall time and when the first v2 container was created go in extras.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestbedEnv } from '../test/testbed.js';
import { createService, MANAGER, removeService, serviceLabel } from './swarm.js';
import {
  containersOn,
  docker,
  engine,
  type EngineContainer,
  FLOOR_LABEL,
  floorRun,
  heal,
  hostOf,
  HOSTS,
  inTempDir,
  isReady,
  removeAll,
  removeHealStack,
  repeat,
  type Finished,
  type RunResult,
  type Sample,
  seconds,
  specText,
  spread,
  waitFor,
  waitReady,
} from './util.js';

export type Rollout = {
  /** Stack / service / floor name, unique to the measurement. */
  readonly name: string;
  readonly replicas: number;
  readonly parallelism: number;
};

const RUNS = 3;
const READY_TIMEOUT_MS = 150_000;
/** The v1 replicas, before the timed part. */
const SETUP_TIMEOUT_MS = 60_000;

/** A container of `image`: Swarm's tasks name it with a digest after the tag. */
const runsImage = (container: EngineContainer, image: string): boolean =>
  container.image === image || container.image.startsWith(`${image}@`);

/** Waits until `count` healthy containers with `label` run web v2 (none of v1 among the healthy). */
function waitUpdated(env: TestbedEnv, label: string, count: number): Promise<number> {
  return waitReady(env, {
    hosts: HOSTS,
    label,
    count,
    healthy: true,
    timeoutMs: READY_TIMEOUT_MS,
    also: async (ready) => ready.every((container) => runsImage(container, env.images.web2)),
  });
}

/** Seconds from `started` until the first container of web v2 with `label` was created. */
/**
 * Times one update from its command's start until the engines list `count` healthy v2 replicas
 * (the value), with when the command returned and when the first new container was created.
 */
async function timedUpdate(
  env: TestbedEnv,
  label: string,
  count: number,
  run: () => Promise<Finished>,
): Promise<RunResult> {
  const started = Date.now();
  const command = run();
  try {
    const ready = await waitUpdated(env, label, count);
    const done = await command;
    return {
      value: seconds(started, ready),
      extra: {
        command: seconds(started, done.endedAt),
        firstCreate: await firstCreated(env, label, started),
      },
    };
  } finally {
    await command.catch(() => undefined);
  }
}

async function firstCreated(env: TestbedEnv, label: string, started: number): Promise<number> {
  const updated = (await containersOn(env, HOSTS, label)).filter((container) =>
    runsImage(container, env.images.web2),
  );
  const created = await Promise.all(
    updated.map(async (container) => {
      const answer = await engine(
        hostOf(env, container.host).socket,
        'GET',
        `/containers/${container.id}/json`,
      );
      return Date.parse((JSON.parse(answer.body) as { Created: string }).Created);
    }),
  );
  return seconds(started, Math.min(...created));
}

/** Removes the volumes heal labels with the stack (rollout marks), on every host. */
async function removeHealVolumes(env: TestbedEnv, stack: string): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`io.heal.stack=${stack}`] }));
  for (const host of HOSTS) {
    const socket = hostOf(env, host).socket;
    const answer = await engine(socket, 'GET', `/volumes?filters=${filters}`);
    const volumes = (JSON.parse(answer.body) as { Volumes: { Name: string }[] | null }).Volumes ?? [];
    for (const volume of volumes) await engine(socket, 'DELETE', `/volumes/${volume.Name}`);
  }
}

/** heal apply --yes of the spec changed from web v1 to web v2, on a stack heal applied at v1. */
export function rolloutHeal(env: TestbedEnv, rollout: Rollout): Promise<Sample> {
  const label = `io.heal.stack=${rollout.name}`;
  const shape = {
    name: rollout.name,
    replicas: rollout.replicas,
    health: true,
    updateConfig: `{ parallelism: ${rollout.parallelism}, delay: 0s }`,
  };
  const cleanup = async (): Promise<void> => {
    await removeHealStack(env, rollout.name);
    await removeHealVolumes(env, rollout.name);
  };
  return repeat(`heal apply rollout ${rollout.name}`, RUNS, () =>
    inTempDir(rollout.name, async (dir) => {
      await cleanup();
      try {
        const spec = join(dir, 'stack.yml');
        writeFileSync(spec, specText(env, { ...shape, image: env.images.web1 }));
        const setup = await heal(dir, ['apply', '--yes', '-f', 'stack.yml'], READY_TIMEOUT_MS);
        if (setup.code !== 0)
          throw new Error(`heal apply (v1) exited ${setup.code}: ${setup.stdout.slice(-2000)}`);
        await waitReady(env, {
          hosts: HOSTS,
          label,
          count: rollout.replicas,
          healthy: true,
          timeoutMs: SETUP_TIMEOUT_MS,
        });
        writeFileSync(spec, specText(env, { ...shape, image: env.images.web2 }));
        return await timedUpdate(env, label, rollout.replicas, async () => {
          const done = await heal(dir, ['apply', '--yes', '-f', 'stack.yml'], READY_TIMEOUT_MS);
          if (done.code !== 0) throw new Error(`heal apply exited ${done.code}: ${done.stdout.slice(-2000)}`);
          return done;
        });
      } finally {
        await cleanup();
      }
    }),
  );
}

/** By hand: batch after batch, `docker rm -f` + `docker run -d` of one container per host, then its health. */
export function rolloutFloor(env: TestbedEnv, rollout: Rollout): Promise<Sample> {
  const value = `${rollout.name}-floor`;
  const label = `${FLOOR_LABEL}=${value}`;
  const placed = spread(value, rollout.replicas);
  const hostOfName = new Map(placed.flatMap(([host, names]) => names.map((name) => [name, host] as const)));
  // Replica i sits on host (i - 1) mod 3, so each batch of 3 consecutive replicas is one per host.
  const names = Array.from({ length: rollout.replicas }, (_, index) => `${value}-${index + 1}`);
  const batches = Array.from({ length: Math.ceil(names.length / rollout.parallelism) }, (_, index) =>
    names.slice(index * rollout.parallelism, (index + 1) * rollout.parallelism),
  );
  return repeat(`floor docker rm + run rollout ${rollout.name}`, RUNS, async () => {
    await removeAll(env, HOSTS, label);
    try {
      await Promise.all(
        placed.map(([host, hostNames]) =>
          floorRun(env, host, hostNames, { image: env.images.web1, label: value, health: true }),
        ),
      );
      await waitReady(env, {
        hosts: HOSTS,
        label,
        count: rollout.replicas,
        healthy: true,
        timeoutMs: SETUP_TIMEOUT_MS,
      });
      const started = Date.now();
      let ready = started;
      for (const batch of batches) {
        await Promise.all(
          batch.map(async (name) => {
            const host = hostOfName.get(name)!;
            await docker(env, host, ['rm', '-f', name]);
            await floorRun(env, host, [name], { image: env.images.web2, label: value, health: true });
          }),
        );
        ready = await waitFor(`batch ${batch.join(', ')} healthy`, READY_TIMEOUT_MS, async () => {
          const seen = Date.now();
          const healthy = (await containersOn(env, HOSTS, label)).filter(
            (container) =>
              batch.includes(container.name) &&
              runsImage(container, env.images.web2) &&
              isReady(container, true),
          );
          return healthy.length === batch.length ? seen : undefined;
        });
      }
      return {
        value: seconds(started, ready),
        extra: { firstCreate: await firstCreated(env, label, started) },
      };
    } finally {
      await removeAll(env, HOSTS, label);
    }
  });
}

/** `docker service update --image web:v2 --update-parallelism P --update-delay 0s` (it waits, as the CLI does). */
export function rolloutSwarm(env: TestbedEnv, rollout: Rollout): Promise<Sample> {
  const name = `${rollout.name}-swarm`;
  const label = serviceLabel(name);
  return repeat(`swarm service update ${rollout.name}`, RUNS, async () => {
    await removeService(env, name);
    try {
      await createService(env, { name, replicas: rollout.replicas, health: true, detach: false });
      await waitReady(env, {
        hosts: HOSTS,
        label,
        count: rollout.replicas,
        healthy: true,
        timeoutMs: SETUP_TIMEOUT_MS,
      });
      return await timedUpdate(env, label, rollout.replicas, () =>
        docker(
          env,
          MANAGER,
          [
            'service',
            'update',
            '--image',
            env.images.web2,
            '--update-parallelism',
            String(rollout.parallelism),
            '--update-delay',
            '0s',
            name,
          ],
          180_000,
        ),
      );
    } finally {
      await removeService(env, name);
    }
  });
}
