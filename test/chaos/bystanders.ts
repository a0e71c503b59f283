/**
 * Containers heal does not own, on every host: what heal must never touch. Each is read back by
 * inspect (id, name, state, start time) and compared with how it was when it was recorded.
 */
import type { TestbedEnv } from '../testbed.js';
import { dockerAt } from '../e2e/watch-helpers.js';
import { engineGet } from './monitor.js';

type Inspected = { Id: string; Name: string; State: { Status: string; StartedAt: string } };

export type Bystander = {
  readonly host: string;
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly startedAt: string;
};

async function inspect(env: TestbedEnv, host: string, id: string): Promise<Bystander | null> {
  const socket = env.hosts.find((item) => item.name === host)?.socket ?? '';
  try {
    const found = (await engineGet(socket, `/containers/${id}/json`, 5_000)) as Inspected;
    return {
      host,
      id: found.Id,
      name: found.Name.replace(/^\//, ''),
      status: found.State.Status,
      startedAt: found.State.StartedAt,
    };
  } catch (error) {
    if ((error as Error).message.includes(' 404 ')) return null;
    throw error;
  }
}

export class Bystanders {
  readonly #env: TestbedEnv;
  #known: Bystander[] = [];

  constructor(env: TestbedEnv) {
    this.#env = env;
  }

  /** Starts a container without heal's labels on `host` (`docker run -d ARGS`) and records it. */
  async start(host: string, args: readonly string[]): Promise<Bystander> {
    const id = (await dockerAt(this.#env, host, ['run', '-d', ...args])).trim();
    const found = await inspect(this.#env, host, id);
    if (!found) throw new Error(`${host}: bystander ${id} vanished at once`);
    this.#known.push(found);
    return found;
  }

  /** Records every bystander as it is now (after a fault that legitimately stopped some). */
  async rebase(): Promise<void> {
    const now = await Promise.all(this.#known.map((item) => inspect(this.#env, item.host, item.id)));
    this.#known = this.#known.map((item, index) => now[index] ?? item);
  }

  /**
   * The bystanders touched since they were recorded: removed or renamed anywhere; stopped,
   * started or restarted on a host not in `struck` (where the fault itself may have stopped them).
   */
  async touched(struck: ReadonlySet<string>): Promise<string[]> {
    const found: string[] = [];
    for (const before of this.#known) {
      const now = await inspect(this.#env, before.host, before.id);
      if (!now) found.push(`${before.host}/${before.name} was removed`);
      else if (now.name !== before.name)
        found.push(`${before.host}/${before.name} was renamed to ${now.name}`);
      else if (
        !struck.has(before.host) &&
        (now.status !== before.status || now.startedAt !== before.startedAt)
      )
        found.push(`${before.host}/${before.name} went from ${before.status} to ${now.status}`);
    }
    return found;
  }

  /** Removes every bystander (the suite's own clean-up). */
  async removeAll(): Promise<void> {
    for (const item of this.#known)
      await dockerAt(this.#env, item.host, ['rm', '-f', item.id]).catch(() => undefined);
    this.#known = [];
  }
}
