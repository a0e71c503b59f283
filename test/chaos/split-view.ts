/**
 * Two daemons with split views of the fleet: a second `heal watch` follows the same repository
 * but reaches h1 through a TCP relay that the fault cuts, so that h1 falls silent for it alone.
 * It declares h1 down and moves its replicas while the suite's daemon sees every host up; the
 * stack lock (a lease on a majority of h1..h3) must keep them from ever acting at once, and the
 * fleet must end with every slot once.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applyWindows, overlaps, relayedKnownHosts, startRelay } from '../e2e/split-helpers.js';
import { freePort, startWatch, type Watch } from '../e2e/watch-helpers.js';
import type { Fault } from './faults.js';
import type { Chaos } from './harness.js';
import { VIEW_VARIABLES } from './stack.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

const saidOf = (daemon: Watch, msg: string, host: string): boolean =>
  daemon.lines().some((line) => line.msg === msg && line.host === host);

export const splitView: Fault = {
  name: 'two daemons with split views (h1 cut off from one)',
  short: false,
  run: (chaos: Chaos) =>
    chaos.fault('two daemons with split views (h1 cut off from one)', async (run) => {
      const h1 = chaos.env.hosts.find((host) => host.name === 'h1');
      if (!h1) throw new Error('the test bed has no h1');
      const relay = await startRelay(h1.address);
      const ssh = join(chaos.root, 'relayed-ssh');
      mkdirSync(ssh, { recursive: true });
      writeFileSync(
        join(ssh, 'known_hosts'),
        relayedKnownHosts(readFileSync(chaos.env.knownHosts, 'utf8'), h1.address, relay.port),
      );
      const from = chaos.daemon.lines().length;
      const ours = chaos.daemon;
      const other = startWatch(
        chaos.root,
        [
          ...['--repo', chaos.remote.bare, '--ref', 'main', '--path', 'stack.yml', '--log-level', 'debug'],
          ...['--allow-env', `${VIEW_VARIABLES.h1},${VIEW_VARIABLES.knownHosts}`],
          ...['--allow-ssh', dirname(chaos.env.identityFile), '--allow-ssh', ssh],
          ...['--allow-path', dirname(chaos.files.secretFile)],
        ],
        await freePort(),
        {
          [VIEW_VARIABLES.h1]: `root@127.0.0.1:${relay.port}`,
          [VIEW_VARIABLES.knownHosts]: join(ssh, 'known_hosts'),
          XDG_CACHE_HOME: join(chaos.root, 'cache-other'),
          ...chaos.credentials(),
        },
      );
      // Its output is scanned for secrets with every other daemon's.
      chaos.daemons.push(other);
      try {
        await until('the second daemon to finish a reconcile', 60_000, () =>
          other.lines().some((line) => line.msg === 'reconcile done'),
        );
        relay.cut();
        run.injectedNow();
        await until('the second daemon to move h1’s replicas', 60_000, () =>
          saidOf(other, 'host down: its replicas move', 'h1'),
        );
        // Both act on what they see; the fleet settles with every slot once.
        await run.converged([], 90_000);
        relay.mend();
        await until('the second daemon to see h1 again', 60_000, () => saidOf(other, 'host up', 'h1'));
        await run.converged([], 90_000);
      } finally {
        other.signal('SIGTERM');
        await Promise.race([other.exited, sleep(20_000)]);
        other.signal('SIGKILL');
        await relay.close();
      }
      const left = applyWindows(ours, from);
      const right = applyWindows(other);
      run.note(`apply windows: ${left.length} of the suite's daemon, ${right.length} of the second`);
      const both = overlaps(left, right);
      if (both.length > 0)
        throw new Error(
          `both daemons applied at once: ${both
            .map(
              ({ left: a, right: b }) =>
                `[${new Date(a.from).toISOString()}…${new Date(a.to).toISOString()}] with [${new Date(b.from).toISOString()}…${new Date(b.to).toISOString()}]`,
            )
            .join('; ')}`,
        );
      return { injected: right.length > 0 };
    }),
};
