/**
 * Deploying from nothing and scaling up, on the bed's three hosts: heal apply / heal scale, Docker
 * Swarm (service create / scale), and the floor (plain `docker run` on each host's socket, hosts in
 * parallel, a host's containers all at once). Every figure is the time from launching the command
 * until the engines themselves list the wanted number of containers ready (running; healthy when
 * the service has a healthcheck), polled every 100 ms. The commands' own wall time goes in extras.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestbedEnv } from '../test/testbed.js';
import { createService, removeService, serviceLabel } from './swarm.js';
import {
  docker,
  FLOOR_LABEL,
  floorRun,
  heal,
  HOSTS,
  inTempDir,
  removeAll,
  removeHealStack,
  repeat,
  type Sample,
  seconds,
  specText,
  spread,
  waitReady,
} from './util.js';

export type Deploy = {
  /** Stack / service / floor name, unique to the measurement. */
  readonly name: string;
  readonly replicas: number;
  readonly health: boolean;
};

const RUNS = 3;
const READY_TIMEOUT_MS = 150_000;

/** heal apply --yes of a spec with `replicas` replicas, from nothing. */
export function deployHeal(env: TestbedEnv, deploy: Deploy): Promise<Sample> {
  const label = `io.heal.stack=${deploy.name}`;
  return repeat(`heal apply ${deploy.name}`, RUNS, () =>
    inTempDir(deploy.name, async (dir) => {
      await removeHealStack(env, deploy.name);
      writeFileSync(join(dir, 'stack.yml'), specText(env, { ...deploy, image: env.images.web1 }));
      const started = Date.now();
      const command = heal(dir, ['apply', '--yes', '-f', 'stack.yml'], READY_TIMEOUT_MS);
      try {
        const ready = await waitReady(env, {
          hosts: HOSTS,
          label,
          count: deploy.replicas,
          healthy: deploy.health,
          timeoutMs: READY_TIMEOUT_MS,
        });
        const done = await command;
        if (done.code !== 0) throw new Error(`heal apply exited ${done.code}: ${done.stdout.slice(-2000)}`);
        return { value: seconds(started, ready), extra: { command: seconds(started, done.endedAt) } };
      } finally {
        await command.catch(() => undefined);
        await removeHealStack(env, deploy.name);
      }
    }),
  );
}

/** Plain `docker run -d` of the same containers on each host's socket. */
export function deployFloor(env: TestbedEnv, deploy: Deploy): Promise<Sample> {
  const value = `${deploy.name}-floor`;
  const label = `${FLOOR_LABEL}=${value}`;
  return repeat(`floor docker run ${deploy.name}`, RUNS, async () => {
    await removeAll(env, HOSTS, label);
    const started = Date.now();
    const launches = Promise.all(
      spread(value, deploy.replicas).map(([host, names]) =>
        floorRun(env, host, names, { image: env.images.web1, label: value, health: deploy.health }),
      ),
    ).then(() => Date.now());
    try {
      const ready = await waitReady(env, {
        hosts: HOSTS,
        label,
        count: deploy.replicas,
        healthy: deploy.health,
        timeoutMs: READY_TIMEOUT_MS,
      });
      return { value: seconds(started, ready), extra: { command: seconds(started, await launches) } };
    } finally {
      await launches.catch(() => undefined);
      await removeAll(env, HOSTS, label);
    }
  });
}

/** `docker service create --detach=false` with Swarm's defaults. */
export function deploySwarm(env: TestbedEnv, deploy: Deploy): Promise<Sample> {
  const name = `${deploy.name}-swarm`;
  return repeat(`swarm service create ${deploy.name}`, RUNS, async () => {
    await removeService(env, name);
    const started = Date.now();
    const command = createService(env, {
      name,
      replicas: deploy.replicas,
      health: deploy.health,
      detach: false,
    });
    try {
      const ready = await waitReady(env, {
        hosts: HOSTS,
        label: serviceLabel(name),
        count: deploy.replicas,
        healthy: deploy.health,
        timeoutMs: READY_TIMEOUT_MS,
      });
      const done = await command;
      return { value: seconds(started, ready), extra: { command: seconds(started, done.endedAt) } };
    } finally {
      await command.catch(() => undefined);
      await removeService(env, name);
    }
  });
}

export type Scale = { readonly name: string; readonly from: number; readonly to: number };

/** `heal scale web=TO --apply` on a stack heal applied at FROM replicas. */
export function scaleHeal(env: TestbedEnv, scale: Scale): Promise<Sample> {
  const label = `io.heal.stack=${scale.name}`;
  return repeat(`heal scale ${scale.name}`, RUNS, () =>
    inTempDir(scale.name, async (dir) => {
      await removeHealStack(env, scale.name);
      try {
        const spec = { name: scale.name, replicas: scale.from, image: env.images.web1, health: false };
        writeFileSync(join(dir, 'stack.yml'), specText(env, spec));
        const setup = await heal(dir, ['apply', '--yes', '-f', 'stack.yml'], READY_TIMEOUT_MS);
        if (setup.code !== 0)
          throw new Error(`heal apply exited ${setup.code}: ${setup.stdout.slice(-2000)}`);
        await waitReady(env, { hosts: HOSTS, label, count: scale.from, healthy: false, timeoutMs: 30_000 });
        const started = Date.now();
        const command = heal(
          dir,
          ['scale', `web=${scale.to}`, '--apply', '-f', 'stack.yml'],
          READY_TIMEOUT_MS,
        );
        try {
          const ready = await waitReady(env, {
            hosts: HOSTS,
            label,
            count: scale.to,
            healthy: false,
            timeoutMs: READY_TIMEOUT_MS,
          });
          const done = await command;
          if (done.code !== 0) throw new Error(`heal scale exited ${done.code}: ${done.stdout.slice(-2000)}`);
          return { value: seconds(started, ready), extra: { command: seconds(started, done.endedAt) } };
        } finally {
          await command.catch(() => undefined);
        }
      } finally {
        await removeHealStack(env, scale.name);
      }
    }),
  );
}

/** FROM containers by `docker run`, then `docker run` of the TO - FROM more. */
export function scaleFloor(env: TestbedEnv, scale: Scale): Promise<Sample> {
  const value = `${scale.name}-floor`;
  const label = `${FLOOR_LABEL}=${value}`;
  const options = { image: env.images.web1, label: value, health: false };
  return repeat(`floor docker run ${scale.name}`, RUNS, async () => {
    await removeAll(env, HOSTS, label);
    try {
      await Promise.all(
        spread(value, scale.from).map(([host, names]) => floorRun(env, host, names, options)),
      );
      await waitReady(env, { hosts: HOSTS, label, count: scale.from, healthy: false, timeoutMs: 30_000 });
      const started = Date.now();
      const launches = Promise.all(
        spread(value, scale.to - scale.from, scale.from + 1).map(([host, names]) =>
          floorRun(env, host, names, options),
        ),
      );
      try {
        const ready = await waitReady(env, {
          hosts: HOSTS,
          label,
          count: scale.to,
          healthy: false,
          timeoutMs: READY_TIMEOUT_MS,
        });
        return seconds(started, ready);
      } finally {
        await launches.catch(() => undefined);
      }
    } finally {
      await removeAll(env, HOSTS, label);
    }
  });
}

/** `docker service scale NAME=TO` (it waits, as the CLI does by default) on a service created at FROM. */
export function scaleSwarm(env: TestbedEnv, scale: Scale): Promise<Sample> {
  const name = `${scale.name}-swarm`;
  const label = serviceLabel(name);
  return repeat(`swarm service scale ${scale.name}`, RUNS, async () => {
    await removeService(env, name);
    try {
      await createService(env, { name, replicas: scale.from, health: false, detach: false });
      await waitReady(env, { hosts: HOSTS, label, count: scale.from, healthy: false, timeoutMs: 30_000 });
      const started = Date.now();
      const command = docker(env, 'h1', ['service', 'scale', `${name}=${scale.to}`]);
      try {
        const ready = await waitReady(env, {
          hosts: HOSTS,
          label,
          count: scale.to,
          healthy: false,
          timeoutMs: READY_TIMEOUT_MS,
        });
        const done = await command;
        return { value: seconds(started, ready), extra: { command: seconds(started, done.endedAt) } };
      } finally {
        await command.catch(() => undefined);
      }
    } finally {
      await removeService(env, name);
    }
  });
}
