/**
 * `node dist-bench/bench/kill-trace.js [--busy] [--runs=N]`: where heal's time goes between a
 * `docker kill` and the replica running again. Runs `heal watch --log-level debug` on the bed
 * (which must be up: `scripts/testbed up 3`), kills a replica per run, and prints each line the
 * daemon logged after the kill with its offset in ms. A tool to read, not a row of the table.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestbedEnv } from '../test/testbed.js';
import { busyEngines } from './busy.js';
import {
  allowTestbedKeys,
  containersOn,
  HOSTS,
  inTempDir,
  killContainer,
  removeHealStack,
  sleep,
  specText,
  startDaemon,
  startedAt,
  TESTBED,
  waitConverged,
  waitReady,
} from './util.js';

const env = JSON.parse(execFileSync(TESTBED, ['env'], { encoding: 'utf8' })) as TestbedEnv;
const busy = process.argv.includes('--busy');
const runs = Number(process.argv.find((argument) => argument.startsWith('--runs='))?.slice(7) ?? 5);
const stack = 'btrace';
const label = `io.heal.stack=${stack}`;

await inTempDir(stack, async (dir) => {
  await removeHealStack(env, stack);
  writeFileSync(
    join(dir, 'stack.yml'),
    specText(env, { name: stack, replicas: 6, image: env.images.web1, health: false }),
  );
  const daemon = await startDaemon(dir, [
    '-f',
    'stack.yml',
    '--log-level',
    'debug',
    ...allowTestbedKeys(env),
  ]);
  const load = busy ? busyEngines(env, { maxRounds: 1_000, maxSeconds: 300, pauseSeconds: 0.5 }) : null;
  try {
    for (let run = 1; run <= runs; run += 1) {
      await waitConverged(daemon, 60_000);
      await sleep(1_000);
      const running = (await containersOn(env, HOSTS, label)).filter((item) => item.state === 'running');
      const victim = running
        .filter((item) => item.host === HOSTS[(run - 1) % 3])
        .sort((a, b) => a.name.localeCompare(b.name))[0]!;
      const logged = daemon.log().length;
      const killedAt = Date.now();
      await killContainer(env, victim.host, victim.id);
      const back = await waitReady(env, {
        hosts: HOSTS,
        label,
        count: 6,
        healthy: false,
        timeoutMs: 60_000,
        also: async (ready) => {
          if (!ready.some((item) => item.id === victim.id)) return true;
          return ((await startedAt(env, victim.host, victim.id)) ?? 0) > killedAt;
        },
      });
      await sleep(300);
      console.log(`\n# run ${run}: ${victim.host} ${victim.name}: running again after ${back - killedAt} ms`);
      for (const line of daemon.log().slice(logged).split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        const { time, msg, level: _level, pid: _pid, hostname: _hostname, ...fields } = entry;
        console.log(
          `${String(Date.parse(String(time)) - killedAt).padStart(6)} ${String(msg)} ${JSON.stringify(fields)}`,
        );
      }
    }
  } finally {
    await load?.stop();
    await daemon.stop();
    await removeHealStack(env, stack);
  }
});
