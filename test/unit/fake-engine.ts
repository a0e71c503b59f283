import { createServer, type Server } from 'node:http';
import type { Plan } from '../../src/planner/plan-types.js';

/**
 * A Docker Engine that only answers the list calls `heal plan` and `heal ps` make, on a unix
 * socket, so a unit test can run those commands' own code (observe, plan, the JSON they print)
 * without the test bed. What it lists is what applying a plan would leave: the containers of its
 * create bodies, running, and its networks and volumes (the stack key's, by the plan's own
 * action). The same commands run against real engines in test/e2e/stack-key.test.ts.
 */
export type FakeEngine = {
  readonly socket: string;
  /** Runs the plan's create actions for this host, as the executor would, every one succeeding. */
  applyPlan(plan: Plan): void;
  /** A volume as `docker volume create --label ...` makes it. */
  addVolume(name: string, labels: Readonly<Record<string, string>>): void;
  close(): Promise<void>;
};

type Listed = Record<string, unknown>;

export async function startFakeEngine(host: string, socket: string): Promise<FakeEngine> {
  const containers: Listed[] = [];
  const networks: Listed[] = [];
  const volumes: Listed[] = [];
  const lists: Record<string, () => unknown> = {
    '/_ping': () => 'OK',
    '/info': () => ({
      Name: host,
      ServerVersion: '20.10.24',
      OSType: 'linux',
      Containers: containers.length,
    }),
    '/containers/json': () => containers,
    '/networks': () => networks,
    '/volumes': () => ({ Volumes: volumes, Warnings: null }),
    '/images/json': () => [],
  };
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').replace(/^\/v[\d.]+/, '').replace(/\?.*$/, '');
    const list = lists[path];
    response.writeHead(list ? 200 : 404, { 'content-type': 'application/json' });
    response.end(JSON.stringify(list ? list() : { message: `the fake engine has no ${path}` }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    applyPlan(plan) {
      for (const action of plan.actions) {
        if (action.host !== host) continue;
        if (action.kind === 'create-network')
          networks.push({ Name: action.network, Labels: action.config.Labels });
        if (action.kind === 'create-volume')
          volumes.push({ Name: action.volume, Labels: action.config.Labels });
        if (action.kind !== 'create') continue;
        containers.push({
          Id: `${host}-${action.create.query.name}`.padEnd(64, '0'),
          Names: [`/${action.create.query.name}`],
          Image: action.create.body.Image,
          Labels: action.create.body.Labels,
          State: 'running',
          Status: 'Up 2 minutes',
          Created: 1_700_000_000,
        });
      }
    },
    addVolume: (name, labels) => void volumes.push({ Name: name, Labels: labels }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
