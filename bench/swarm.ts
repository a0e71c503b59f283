/**
 * Docker Swarm mode on the test bed's own hosts, for the rows that compare heal with it: h1 the
 * only manager (`docker swarm init --advertise-addr`), h2 and h3 workers joined with the worker
 * token, services at Swarm's defaults. withSwarm() leaves the swarm afterwards and removes the
 * docker_gwbridge networks it made, so the hosts are as they were.
 */
import type { TestbedEnv } from '../test/testbed.js';
import {
  containersOn,
  docker,
  engine,
  healthArgs,
  hostOf,
  HOSTS,
  removeAll,
  type Finished,
  waitFor,
} from './util.js';

export const MANAGER = 'h1';

/** The label Swarm puts on each task's container. */
export const serviceLabel = (service: string): string => `com.docker.swarm.service.name=${service}`;

async function swarmState(env: TestbedEnv, host: string): Promise<string> {
  return (await docker(env, host, ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim();
}

async function networkNames(env: TestbedEnv, host: string): Promise<string[]> {
  const answer = await engine(hostOf(env, host).socket, 'GET', '/networks');
  return (JSON.parse(answer.body) as { Name: string }[]).map((network) => network.Name);
}

/** Runs `work` with h1..h3 in one swarm, then takes the swarm down whatever happened. */
export async function withSwarm<T>(env: TestbedEnv, work: () => Promise<T>): Promise<T> {
  const hadGwbridge = new Map<string, boolean>();
  for (const host of HOSTS) {
    const state = await swarmState(env, host);
    if (state !== 'inactive') {
      // Only a bench that died mid-run leaves one behind: this bed runs no swarm of its own.
      console.error(`bench: ${host} is already in a swarm (${state}); leaving it first`);
      await docker(env, host, ['swarm', 'leave', '--force']);
    }
    hadGwbridge.set(host, (await networkNames(env, host)).includes('docker_gwbridge'));
  }
  try {
    await docker(env, MANAGER, ['swarm', 'init', '--advertise-addr', hostOf(env, MANAGER).address]);
    const token = (await docker(env, MANAGER, ['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    for (const host of HOSTS.filter((name) => name !== MANAGER))
      await docker(env, host, ['swarm', 'join', '--token', token, `${hostOf(env, MANAGER).address}:2377`]);
    await waitNodesReady(env, 60_000);
    return await work();
  } finally {
    for (const host of [...HOSTS].reverse()) {
      try {
        if ((await swarmState(env, host)) !== 'inactive')
          await docker(env, host, ['swarm', 'leave', '--force']);
        if (!hadGwbridge.get(host))
          await engine(hostOf(env, host).socket, 'DELETE', '/networks/docker_gwbridge');
      } catch (error) {
        console.error(`bench: could not take ${host} out of the swarm: ${String(error)}`);
      }
    }
  }
}

/** Waits until the manager lists every host as a Ready node. */
export function waitNodesReady(env: TestbedEnv, timeoutMs: number): Promise<true> {
  return waitFor('every swarm node Ready', timeoutMs, async () => {
    const out = (await docker(env, MANAGER, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'])).stdout;
    const ready = out
      .split('\n')
      .filter((line) => line.endsWith(' Ready'))
      .map((line) => line.split(' ')[0]);
    return HOSTS.every((host) => ready.includes(host)) ? true : undefined;
  });
}

/** `docker service create` at Swarm's defaults (restart delay 5 s, ...), optionally with the test images' healthcheck. */
export function createService(
  env: TestbedEnv,
  options: {
    readonly name: string;
    readonly replicas: number;
    readonly health: boolean;
    readonly detach: boolean;
  },
): Promise<Finished> {
  return docker(
    env,
    MANAGER,
    [
      'service',
      'create',
      '--name',
      options.name,
      '--replicas',
      String(options.replicas),
      `--detach=${options.detach}`,
      ...healthArgs(options.health),
      env.images.web1,
    ],
    180_000,
  );
}

/** `docker service rm`, then waits (≤ 30 s) for its containers to go, and removes any left on `hosts`. */
export async function removeService(
  env: TestbedEnv,
  name: string,
  hosts: readonly string[] = HOSTS,
): Promise<void> {
  try {
    await docker(env, MANAGER, ['service', 'rm', name]);
  } catch (error) {
    if (!/not found/i.test(String(error))) console.error(`bench: service rm ${name}: ${String(error)}`);
  }
  try {
    await waitFor(`service ${name}'s containers to go`, 30_000, async () =>
      (await containersOn(env, hosts, serviceLabel(name))).length === 0 ? true : undefined,
    );
  } catch {
    await removeAll(env, hosts, serviceLabel(name));
  }
}
