/**
 * The chaos suite's eyes, outside heal: every host's engine read straight over its socket a few
 * times a second. From the samples it tells whether the fleet matches a shape (census), how long
 * a service had fewer replicas up than its rollout may take down, and whether a container heal
 * does not own was touched.
 */
import { request } from 'node:http';
import type { TestbedEnv } from '../testbed.js';
import { HEALTHCHECKED, PARALLELISM, STACK } from './stack.js';

const POLL_MS = 250;
const ANSWER_MS = 1_500;

/** A container as the engine's list reports it. */
export type Seen = {
  readonly host: string;
  readonly id: string;
  readonly name: string;
  readonly image: string;
  readonly state: string;
  /** `Up 3 seconds (healthy)`, `Exited (0) 2 seconds ago`, ... */
  readonly status: string;
  readonly labels: Readonly<Record<string, string>>;
};

export type Sample = {
  readonly at: number;
  /** Per host: its containers, or null when its engine did not answer in time. */
  readonly hosts: ReadonlyMap<string, readonly Seen[] | null>;
};

/** What a census expects of one service. */
export type Wanted = { readonly replicas: number; readonly image: string };

type ListedContainer = {
  Id: string;
  Names?: string[];
  Image: string;
  State: string;
  Status: string;
  Labels?: Record<string, string>;
};

/** One Engine API GET on a unix socket, bounded in time. */
export function engineGet(socket: string, path: string, timeoutMs = ANSWER_MS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: `/v1.41${path}`, timeout: timeoutMs }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        if ((response.statusCode ?? 500) >= 300)
          reject(new Error(`GET ${path}: ${response.statusCode} ${text}`));
        else resolve(JSON.parse(text) as unknown);
      });
      response.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function listOn(env: TestbedEnv, host: string): Promise<Seen[] | null> {
  const socket = env.hosts.find((item) => item.name === host)?.socket;
  if (socket === undefined) throw new Error(`the test bed has no host ${host}`);
  try {
    const listed = (await engineGet(socket, '/containers/json?all=1')) as ListedContainer[];
    return listed.map((item) => ({
      host,
      id: item.Id,
      name: (item.Names?.[0] ?? '').replace(/^\//, ''),
      image: item.Image,
      state: item.State,
      status: item.Status,
      labels: item.Labels ?? {},
    }));
  } catch {
    return null;
  }
}

export function isOwned(container: Seen): boolean {
  return container.labels['io.heal.stack'] === STACK;
}

/** Running, and healthy when the service has a healthcheck. */
export function isUp(container: Seen): boolean {
  if (container.state !== 'running') return false;
  const service = container.labels['io.heal.service'] ?? '';
  return !HEALTHCHECKED.has(service) || container.status.includes('(healthy)');
}

export class Monitor {
  readonly #env: TestbedEnv;
  readonly #hosts: readonly string[];
  readonly #samples: Sample[] = [];
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(env: TestbedEnv, hosts: readonly string[]) {
    this.#env = env;
    this.#hosts = hosts;
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#poll();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #poll(): Promise<void> {
    while (this.#running) {
      const started = Date.now();
      await this.sampleNow();
      // Keep an hour of samples at most: the suite looks back over one fault at a time.
      if (this.#samples.length > 15_000) this.#samples.splice(0, 5_000);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, POLL_MS - (Date.now() - started))));
    }
  }

  /** Reads every host now and records the sample. */
  async sampleNow(): Promise<Sample> {
    const at = Date.now();
    const lists = await Promise.all(this.#hosts.map((host) => listOn(this.#env, host)));
    const sample = { at, hosts: new Map(this.#hosts.map((host, index) => [host, lists[index] ?? null])) };
    this.#samples.push(sample);
    return sample;
  }

  samplesSince(from: number): Sample[] {
    return this.#samples.filter((sample) => sample.at >= from);
  }

  /**
   * Seconds since `from` during which some service had more of its first `minimum` slots down
   * than its rollout parallelism plus what the fault itself took (`taken`, per service). A host
   * of `faultHosts` that did not answer has its slots down; any other one makes that sample
   * unknown (`unknownSeconds`), never a count against heal.
   */
  belowMinimumSeconds(
    from: number,
    minimum: Readonly<Record<string, number>>,
    taken: Readonly<Record<string, number>>,
    faultHosts: ReadonlySet<string> = new Set(),
  ): { seconds: number; worst: string | null; unknownSeconds: number } {
    let seconds = 0;
    let unknown = 0;
    let worst: string | null = null;
    let worstDown = 0;
    const samples = this.samplesSince(from);
    for (let index = 0; index < samples.length; index += 1) {
      const sample = samples[index]!;
      const next = samples[index + 1];
      const span = ((next?.at ?? sample.at + POLL_MS) - sample.at) / 1000;
      if ([...sample.hosts].some(([host, list]) => list === null && !faultHosts.has(host))) {
        unknown += span;
        continue;
      }
      const containers = [...sample.hosts.values()].flatMap((list) => list ?? []).filter(isOwned);
      let below = false;
      for (const [service, count] of Object.entries(minimum)) {
        const upSlots = new Set(
          containers
            .filter((item) => item.labels['io.heal.service'] === service && isUp(item))
            .map((item) => Number(item.labels['io.heal.slot']))
            .filter((slot) => slot >= 1 && slot <= count),
        );
        const down = count - upSlots.size;
        const allowed = (PARALLELISM[service] ?? 1) + (taken[service] ?? 0);
        if (down > allowed) {
          below = true;
          if (down - allowed > worstDown) {
            worstDown = down - allowed;
            worst = `${service}: ${down} of ${count} slots down at +${((sample.at - from) / 1000).toFixed(1)} s (allowed ${allowed})`;
          }
        }
      }
      if (below) seconds += span;
    }
    return { seconds: Math.round(seconds * 10) / 10, worst, unknownSeconds: Math.round(unknown * 10) / 10 };
  }
}

/** The stack's containers in a sample, leaving out the hosts in `away` and the ones that did not answer. */
export function ownedIn(sample: Sample, away: ReadonlySet<string>): Seen[] {
  return [...sample.hosts.entries()]
    .filter(([host]) => !away.has(host))
    .flatMap(([, list]) => list ?? [])
    .filter(isOwned);
}

export type Census = {
  /** Slots with more than one container that is running. */
  readonly duplicates: number;
  /** Containers of the stack no wanted slot accounts for (any state), or a second one of a slot. */
  readonly orphans: number;
  /** Everything that keeps the fleet from matching, as sentences; empty when it matches. */
  readonly problems: readonly string[];
};

/**
 * Compares the stack's containers on the hosts that answered with what is wanted: each slot of
 * each service exactly once, up, of the wanted image; nothing else of the stack in any state.
 */
export function census(
  sample: Sample,
  wanted: Readonly<Record<string, Wanted>>,
  away: ReadonlySet<string> = new Set(),
): Census {
  const problems: string[] = [];
  for (const [host, list] of sample.hosts)
    if (list === null && !away.has(host)) problems.push(`${host}: engine does not answer`);
  const bySlot = new Map<string, Seen[]>();
  for (const container of ownedIn(sample, away)) {
    const key = `${container.labels['io.heal.service']}.${container.labels['io.heal.slot']}`;
    bySlot.set(key, [...(bySlot.get(key) ?? []), container]);
  }
  let duplicates = 0;
  let orphans = 0;
  const describe = (items: readonly Seen[]): string =>
    items.map((item) => `${item.host}/${item.name} ${item.status} ${item.image}`).join(', ');
  for (const [service, { replicas, image }] of Object.entries(wanted)) {
    for (let slot = 1; slot <= replicas; slot += 1) {
      const found = bySlot.get(`${service}.${slot}`) ?? [];
      bySlot.delete(`${service}.${slot}`);
      if (found.filter((item) => item.state === 'running').length > 1) duplicates += 1;
      orphans += Math.max(0, found.length - 1);
      const only = found[0];
      if (found.length !== 1 || !only || !isUp(only) || only.image !== image)
        problems.push(`${service}.${slot}: ${describe(found) || 'missing'}`);
    }
  }
  for (const [key, found] of bySlot) {
    orphans += found.length;
    if (found.filter((item) => item.state === 'running').length > 1) duplicates += 1;
    problems.push(`${key} is not wanted: ${describe(found)}`);
  }
  return { duplicates, orphans, problems };
}
