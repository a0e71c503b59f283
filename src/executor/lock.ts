import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Host, Stack } from '../spec/types.js';
import type { HostClient } from './host-client.js';
import type { Reach } from './observe.js';

/**
 * One lock per stack, kept where every heal sees it: a labelled network, `heal-lock-<stack>`, on
 * the first reachable host by name. Creating a network with CheckDuplicate is atomic, so two
 * heals cannot both create it. The lock is a lease: it names its holder, machine, pid and
 * command, and expires `ttl` after it was (re)taken by the lock host's own clock, or at once
 * when its holder was a process on this machine that no longer runs. The holder renews it.
 */
export class LockHeldError extends Error {
  override readonly name = 'LockHeldError';
}

export type LockOptions = {
  readonly reach: (host: Host) => Promise<Reach>;
  /** What holds it, for the message another heal prints: `heal apply`, `heal watch`. */
  readonly command: string;
  /** Wait this long for a held lock; 0 fails at once. */
  readonly waitMs?: number;
  readonly ttlMs?: number;
};

export type Lock = {
  readonly host: string;
  /** Ends the lease; safe to call twice. */
  release(): Promise<void>;
  /** True once another heal took the lock over (ours had expired): stop acting. */
  lost(): boolean;
};

const DEFAULT_TTL_MS = 60_000;
const LABEL_PREFIX = 'io.heal.lock.';

type Holder = { holder: string; machine: string; pid: string; command: string; since: string };

export async function acquireLock(stack: Stack, options: LockOptions): Promise<Lock> {
  const ttl = options.ttlMs ?? DEFAULT_TTL_MS;
  const deadline = Date.now() + (options.waitMs ?? 0);
  const client = await lockHost(stack, options.reach);
  const name = `heal-lock-${stack.name}`;
  const me: Holder = {
    holder: randomUUID(),
    machine: hostname(),
    pid: String(process.pid),
    command: options.command,
    since: new Date().toISOString(),
  };
  for (;;) {
    if (await tryCreate(client, name, stack.name, me, ttl)) break;
    const held = await current(client, name);
    if (held && (await expired(client, held, ttl))) {
      await removeIf(client, name, held.id);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = held
        ? `${held.holder.command} (pid ${held.holder.pid} on ${held.holder.machine}) since ${held.holder.since}`
        : 'another heal';
      throw new LockHeldError(
        `stack ${stack.name} is locked by ${who}; retry later or pass --lock-wait 2m to wait for it`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }

  let lost = false;
  let released = false;
  const renew = setInterval(() => {
    void (async () => {
      const held = await current(client, name).catch(() => undefined);
      if (held === undefined) return;
      if (!held || held.holder.holder !== me.holder) {
        lost = true;
        return;
      }
      // Renewing is re-creating: only our own lease is removed, and if another heal slips in
      // between, our create fails and we know we lost it.
      await removeIf(client, name, held.id);
      if (!(await tryCreate(client, name, stack.name, me, ttl))) lost = true;
    })().catch(() => undefined);
  }, ttl / 3);
  renew.unref();

  return {
    host: client.host.name,
    lost: () => lost,
    async release() {
      if (released) return;
      released = true;
      clearInterval(renew);
      const held = await current(client, name).catch(() => null);
      if (held && held.holder.holder === me.holder) await removeIf(client, name, held.id);
    },
  };
}

async function lockHost(stack: Stack, reach: (host: Host) => Promise<Reach>): Promise<HostClient> {
  const hosts = Object.values(stack.heal.hosts).sort((a, b) => (a.name < b.name ? -1 : 1));
  const errors: string[] = [];
  for (const host of hosts) {
    const reached = await reach(host);
    if ('error' in reached) {
      errors.push(reached.error.message);
      continue;
    }
    // A client that was connected may have lost its host since: only one that answers now counts.
    try {
      await reached.client.ping();
      return reached.client;
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
    }
  }
  throw new LockHeldError(
    `cannot take the lock of stack ${stack.name}: no host answers (${errors.join('; ')})`,
  );
}

async function tryCreate(
  client: HostClient,
  name: string,
  stack: string,
  me: Holder,
  ttl: number,
): Promise<boolean> {
  const labels = Object.fromEntries(
    Object.entries({ ...me, stack, ttl: String(ttl) }).map(([key, value]) => [LABEL_PREFIX + key, value]),
  );
  return client.call(`lock ${stack}`, (docker) =>
    docker.createNetwork({ Name: name, CheckDuplicate: true, Internal: true, Labels: labels } as never).then(
      () => true,
      (error: { statusCode?: number }) => {
        if (error.statusCode === 409) return false;
        throw error;
      },
    ),
  );
}

type Held = { id: string; created: number; holder: Holder };

async function current(client: HostClient, name: string): Promise<Held | null> {
  const networks = await client.call('read lock', (docker) =>
    docker.listNetworks({ filters: { name: [name] } }),
  );
  const network = networks.find((item) => item.Name === name);
  if (!network) return null;
  const label = (key: string): string => network.Labels?.[LABEL_PREFIX + key] ?? '';
  return {
    id: network.Id,
    created: Date.parse(network.Created),
    holder: {
      holder: label('holder'),
      machine: label('machine'),
      pid: label('pid'),
      command: label('command'),
      since: label('since'),
    },
  };
}

/** By the lock host's clock, so clocks of machines running heal need not agree. */
async function expired(client: HostClient, held: Held, ttl: number): Promise<boolean> {
  if (held.holder.machine === hostname()) {
    const pid = Number(held.holder.pid);
    // A lease naming this very process is one it could not release (its host stopped answering
    // mid-apply): a process holds one lease of a stack at a time, so that one is over.
    if (pid === process.pid || !alive(pid)) return true;
  }
  const info = await client.call('read clock', (docker) => docker.info() as Promise<{ SystemTime?: string }>);
  const now = Date.parse(info.SystemTime ?? '');
  return Number.isFinite(now) && Number.isFinite(held.created) && now - held.created > ttl;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function removeIf(client: HostClient, name: string, id: string): Promise<void> {
  await client.call(`unlock ${name}`, (docker) =>
    docker
      .getNetwork(id)
      .remove()
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error;
      }),
  );
}
