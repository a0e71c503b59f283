/**
 * Busy engines: a bounded, steady background load on every host's dockerd while a measurement
 * runs, as other work on the same machines would make it. Per host, one shell loop creates,
 * starts and removes a throwaway container (`docker run --rm`) every `pauseSeconds` while another
 * lists and inspects; each loop stops by itself after `maxRounds` rounds or `maxSeconds`, and
 * stop() ends both by pid. The pause keeps it a load, not a saturation: with none, six loops on
 * this 2-core machine kept the engines' own kill-to-start at 4-6 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestbedEnv } from '../test/testbed.js';
import { hostOf, HOSTS, removeAll } from './util.js';

/** Every container the load starts carries this label, so that a leftover can be removed. */
const BUSY_LABEL = 'io.heal.bench.busy';

export type BusyLoad = {
  /** Rounds each loop finished so far, over all hosts: how much load there was. */
  rounds(): number;
  /** Ends every loop (SIGTERM to each one's process group) and removes what they left. */
  stop(): Promise<void>;
};

export type BusyOptions = {
  readonly maxRounds: number;
  readonly maxSeconds: number;
  readonly pauseSeconds: number;
};

/** Starts the load on h1..h3; the caller stops it (it also stops by itself at its bounds). */
export function busyEngines(env: TestbedEnv, options: BusyOptions): BusyLoad {
  const children: ChildProcess[] = [];
  const exited: Promise<unknown>[] = [];
  let rounds = 0;
  for (const host of HOSTS) {
    const docker = `docker -H unix://${hostOf(env, host).socket}`;
    const loops = [
      `${docker} run --rm --network none --label ${BUSY_LABEL}=1 ${env.images.web1} true`,
      `${docker} ps -a -q | head -n 20 | xargs -r ${docker} inspect >/dev/null`,
    ];
    for (const body of loops) {
      const script = `for i in $(seq ${options.maxRounds}); do ${body} >/dev/null 2>&1; echo; sleep ${options.pauseSeconds}; done`;
      // `timeout` bounds the loop in time even if this process dies; detached: its own process group.
      const child = spawn('timeout', [String(options.maxSeconds), 'bash', '-c', script], {
        detached: true,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      child.stdout?.on('data', (chunk: Buffer) => (rounds += chunk.toString().split('\n').length - 1));
      children.push(child);
      exited.push(new Promise((resolve) => child.on('close', resolve)));
    }
  }
  return {
    rounds: () => rounds,
    async stop() {
      for (const child of children) {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
      await Promise.all(exited);
      await removeAll(env, HOSTS, BUSY_LABEL);
    },
  };
}
