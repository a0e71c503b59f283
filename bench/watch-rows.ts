/**
 * The daemon as GitOps runs it: a commit pushed to a (local, bare) git repository until the hosts
 * run what it says, told by a signed webhook or found by polling; and the daemon's own cost while
 * nothing happens (resident memory, CPU) watching the bed's three hosts.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestbedEnv } from '../test/testbed.js';
import {
  allowTestbedKeys,
  type Daemon,
  HOSTS,
  inTempDir,
  median,
  removeHealStack,
  repeat,
  round,
  runOk,
  type Sample,
  seconds,
  sleep,
  specText,
  startDaemon,
  waitConverged,
  waitReady,
} from './util.js';

const RUNS = 3;
const SECRET = 'heal-bench-webhook-secret';

export type GitSamples = { webhook: Sample; polling: Sample };

/**
 * `heal watch --repo` on a bare repository; each run commits one more replica and pushes it. Webhook
 * runs POST /hooks/git (GitHub's X-Hub-Signature-256) right after the push; polling runs wait for
 * the daemon to notice (x-heal.watch.interval left at its default). The figure runs from the push
 * to the new replica running; `detect` is when the daemon loaded the new revision (its log), and
 * `resyncInterval` the period the daemon reconciles (and fetches) at by itself, measured after.
 * Every fetch finds a new commit, whoever makes it: the git poller (15 s ± 10%), the resync timer
 * (x-heal.watch.interval), or a reconcile a Docker event queued.
 */
export function commitToConverged(env: TestbedEnv, stack: string): Promise<GitSamples> {
  return inTempDir(stack, async (dir) => {
    const bare = join(dir, 'repo.git');
    const work = join(dir, 'work');
    const git = (cwd: string, ...args: string[]) =>
      runOk('git', ['-c', 'user.name=heal bench', '-c', 'user.email=bench@heal.invalid', ...args], {
        cwd,
        timeoutMs: 30_000,
      });
    await git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
    await git(dir, 'init', '--quiet', '--initial-branch=main', work);
    let replicas = 2;
    const commit = async (): Promise<void> => {
      const spec = { name: stack, replicas, image: env.images.web1, health: false };
      writeFileSync(join(work, 'stack.yml'), specText(env, spec));
      await git(work, 'add', 'stack.yml');
      await git(work, 'commit', '--quiet', '-m', `web: ${replicas} replicas`);
    };
    const push = async (): Promise<string> => {
      await git(work, 'push', '--quiet', bare, 'main');
      return (await git(work, 'rev-parse', 'HEAD')).stdout.trim();
    };
    await removeHealStack(env, stack);
    await commit();
    const first = await push();
    const daemon = await startDaemon(
      dir,
      ['--repo', bare, '--ref', 'main', '--path', 'stack.yml', ...allowTestbedKeys(env)],
      {
        HEAL_WEBHOOK_SECRET: SECRET,
        XDG_CACHE_HOME: join(dir, 'cache'),
      },
    );
    const label = `io.heal.stack=${stack}`;
    try {
      await waitConverged(daemon, 60_000, first);
      const change =
        (hook: boolean) => async (): Promise<{ value: number; extra: Record<string, number> }> => {
          // Quiet first: the reconciles the last change's own events queue (up to 1 s later) also
          // fetch, and would find the commit before the poller does.
          // Polling: push at a random point of the poll cycle (15 s by default), not always at the
          // same one, so the runs sample the wait a user sees.
          await waitConverged(daemon, 60_000);
          await sleep(3_000 + (hook ? 0 : Math.random() * 15_000));
          replicas += 1;
          await commit();
          const pushedAt = Date.now();
          const revision = await push();
          if (hook) await postHook(daemon, revision);
          const ready = await waitReady(env, {
            hosts: HOSTS,
            label,
            count: replicas,
            healthy: false,
            timeoutMs: 60_000,
          });
          await waitConverged(daemon, 60_000, revision);
          const loaded = loadedAt(daemon, revision);
          return {
            value: seconds(pushedAt, ready),
            extra:
              loaded === null ? {} : { detect: seconds(pushedAt, loaded), apply: seconds(loaded, ready) },
          };
        };
      const webhook = await repeat('heal watch: commit → converged (webhook)', RUNS, change(true));
      const polling = await repeat('heal watch: commit → converged (polling)', RUNS, change(false));
      const gaps = await resyncGaps(daemon, 2, 50_000);
      const resync: Record<string, number> = gaps.length > 0 ? { resyncInterval: round(median(gaps)) } : {};
      return { webhook, polling: { ...polling, extra: { ...polling.extra, ...resync } } };
    } finally {
      await daemon.stop();
      await removeHealStack(env, stack);
    }
  });
}

/**
 * The daemon's own resync period, as it runs: the gaps (s) between the reconciles it does by itself
 * while nothing changes (each also fetches the repository), read from /status.
 */
async function resyncGaps(daemon: Daemon, count: number, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  const times: number[] = [];
  await sleep(3_000); // past the reconciles the last change's own events queued
  let last = (await daemon.status()).lastReconcile?.at;
  while (times.length < count + 1 && Date.now() < deadline) {
    await sleep(100);
    const at = (await daemon.status()).lastReconcile?.at;
    if (at === undefined || at === last) continue;
    last = at;
    times.push(Date.parse(at));
  }
  return times.slice(1).map((time, index) => seconds(times[index]!, time));
}

/** A GitHub push notification, signed with the daemon's secret. */
async function postHook(daemon: Daemon, revision: string): Promise<void> {
  const body = JSON.stringify({ ref: 'refs/heads/main', after: revision });
  const signature = createHmac('sha256', SECRET).update(body).digest('hex');
  const response = await fetch(`${daemon.url}/hooks/git`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${signature}`,
    },
    body,
    signal: AbortSignal.timeout(5_000),
  });
  if (response.status !== 202)
    throw new Error(`POST /hooks/git answered ${response.status}: ${await response.text()}`);
}

/** When the daemon logged `spec loaded` for `revision` (ms since the epoch), or null. */
function loadedAt(daemon: Daemon, revision: string): number | null {
  for (const line of daemon.log().split('\n')) {
    if (!line.includes(revision) || !line.includes('"spec loaded"')) continue;
    const parsed = JSON.parse(line) as { time?: string };
    if (parsed.time) return Date.parse(parsed.time);
  }
  return null;
}

export type IdleSamples = { rssMB: Sample; cpuPercent: Sample };

/**
 * `heal watch -f` converged on 3 replicas (one per host, healthchecked once a second), then left
 * alone for `windowMs`: resident memory (VmRSS, the highest of samples every 5 s) and CPU (utime +
 * stime over the window, as a percentage of one core), from /proc.
 */
export function idleDaemon(env: TestbedEnv, stack: string, windowMs = 60_000): Promise<IdleSamples> {
  return inTempDir(stack, async (dir) => {
    await removeHealStack(env, stack);
    writeFileSync(
      join(dir, 'stack.yml'),
      specText(env, { name: stack, replicas: 3, image: env.images.web1, health: true }),
    );
    const daemon = await startDaemon(dir, ['-f', 'stack.yml', ...allowTestbedKeys(env)]);
    try {
      await waitReady(env, {
        hosts: HOSTS,
        label: `io.heal.stack=${stack}`,
        count: 3,
        healthy: true,
        timeoutMs: 60_000,
      });
      await waitConverged(daemon, 60_000);
      await sleep(5_000);
      const ticksPerSecond = Number((await runOk('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
      const startTicks = cpuTicks(daemon.pid);
      const started = Date.now();
      let rss = rssMB(daemon.pid);
      for (let sample = 0; sample < Math.ceil(windowMs / 5_000); sample += 1) {
        await sleep(Math.min(5_000, started + windowMs - Date.now()));
        rss = Math.max(rss, rssMB(daemon.pid));
      }
      const elapsed = (Date.now() - started) / 1000;
      const cpu = ((cpuTicks(daemon.pid) - startTicks) / ticksPerSecond / elapsed) * 100;
      const status = await daemon.status();
      return {
        rssMB: { value: round1(rss), runs: [round1(rss)] },
        cpuPercent: {
          value: Math.round(cpu * 100) / 100,
          runs: [Math.round(cpu * 100) / 100],
          extra: {
            windowSeconds: Math.round(elapsed),
            converged: status.lastReconcile?.outcome === 'converged' ? 1 : 0,
          },
        },
      };
    } finally {
      await daemon.stop();
      await removeHealStack(env, stack);
    }
  });
}

/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15.
  return Number(fields[11]) + Number(fields[12]);
}

function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
