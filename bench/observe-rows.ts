/**
 * What one reconcile costs each host: observe() on the test bed, with every Engine API call
 * counted as it goes through the host clients (a proxy on `call`), and how long it takes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openFleet } from '../src/executor/fleet.js';
import type { HostClient } from '../src/executor/host-client.js';
import { observe, type Reach } from '../src/executor/observe.js';
import { loadStack } from '../src/spec/load.js';
import type { Host } from '../src/spec/types.js';
import type { TestbedEnv } from '../test/testbed.js';
import type { ResultRow } from './results-row.js';
import { inTempDir, median, specText } from './util.js';

const ROUNDS = 7;

export function observeRows(env: TestbedEnv): Promise<ResultRow[]> {
  return inTempDir('observe', async (dir) => {
    writeFileSync(
      join(dir, 'stack.yml'),
      specText(env, { name: 'bobserve', replicas: 0, image: env.images.web1, health: false }),
    );
    const stack = await loadStack({ file: 'stack.yml', environment: {}, cwd: dir });
    const fleet = openFleet(stack, { acceptNewHostKeys: false, connectTimeoutMs: 5_000 });
    let calls = 0;
    const counted = async (host: Host): Promise<Reach> => {
      const reached = await fleet.reach(host);
      if ('error' in reached) return reached;
      const client: HostClient = Object.create(reached.client) as HostClient;
      client.call = (operation, work) => {
        calls += 1;
        return reached.client.call(operation, work);
      };
      return { client };
    };
    try {
      await observe(stack, counted, Date.now); // connects
      const perHost: number[] = [];
      const times: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        calls = 0;
        const started = performance.now();
        const observed = await observe(stack, counted, Date.now);
        times.push(performance.now() - started);
        if (observed.hosts.some((host) => !host.reachable)) throw new Error('a test bed host did not answer');
        perHost.push(calls / observed.hosts.length);
      }
      return [
        {
          name: 'observe(): Engine API calls per host per reconcile',
          heal: median(perHost),
          swarm: null,
          floor: null,
          unit: 'calls',
        },
        {
          name: 'observe() of 3 hosts (warm connections)',
          heal: Math.round(median(times) * 10) / 10,
          swarm: null,
          floor: null,
          unit: 'ms',
        },
      ];
    } finally {
      await fleet.close();
    }
  });
}
