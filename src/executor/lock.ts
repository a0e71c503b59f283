import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Host, Stack } from '../spec/types.js';
import { HostUnreachableError, StoppedError } from './errors.js';
import { type Holder, type LeaseStore, lockStore, type Seen, thisMachine } from './lock-store.js';
import type { Reach } from './observe.js';
import { sleep } from './sleep.js';

/**
 * One heal at a time per stack, under partitions too: a lease taken on a majority of the stack's
 * hosts. On each host the lease is a container named `heal-lock-<stack>`, created and never
 * started; the engine makes a container name unique atomically on every Docker version, so two
 * heals cannot both hold one host, and two majorities always share a host, so two heals with any
 * views of the fleet cannot both hold the lock.
 *
 * The holder renews its lease in place (a counter on each container) and counts it valid only
 * until `ttl` after its last renewal began, by its own monotonic clock: a holder that cannot renew
 * stops acting before anyone may take over. Another heal takes a lease over once it has seen its
 * counter stand still for `ttl` by its own clock (no clock is compared across machines), or at
 * once when the lease names a process of this machine that is gone.
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
  /** Hosts known to be silent (the daemon's suspect and down ones): not waited for, counted as not taken. */
  readonly skip?: ReadonlySet<string>;
};

export type Lock = {
  /** The hosts whose lease this heal holds. */
  readonly hosts: readonly string[];
  /** Aborted, with a StoppedError saying why, once the lease is lost or lapses: stop acting. */
  readonly signal: AbortSignal;
  lost(): boolean;
  /** Ends the lease; safe to call twice. */
  release(): Promise<void>;
};

const DEFAULT_TTL_MS = 30_000;
/** Renewals per ttl: a lease survives a few failed ones. */
const RENEWALS_PER_TTL = 6;
/** The share of ttl after its last renewal began that a holder counts its lease valid. */
const VALID_SHARE = 0.75;

/**
 * The hosts whose vote counts, by name: `x-heal.lock.hosts` when the spec names them, else every
 * host but those reached through a local socket (an engine each machine has its own of), unless
 * the stack has no other host.
 */
export function lockVoters(stack: Stack): Host[] {
  const hosts = Object.values(stack.heal.hosts).sort((a, b) => (a.name < b.name ? -1 : 1));
  const named = stack.heal.lock.hosts;
  if (named !== null) return hosts.filter((host) => named.includes(host.name));
  const shared = hosts.filter((host) => host.kind === 'ssh' || !host.url.startsWith('unix://'));
  return shared.length > 0 ? shared : hosts;
}

/**
 * More than half of the voters. Any two such sets share a host, and so do a set of a list and a
 * set of the same list with one host more or fewer: a list changed one host at a time stays safe.
 */
export function isQuorum(voters: readonly string[], taken: readonly string[]): boolean {
  return taken.filter((name) => voters.includes(name)).length * 2 > voters.length;
}

export async function acquireLock(stack: Stack, options: LockOptions): Promise<Lock> {
  const voters = lockVoters(stack);
  const stores = new Map(voters.map((host) => [host.name, lockStore(stack.name, host, options.reach)]));
  return acquireLease(stack.name, stores, {
    command: options.command,
    ttlMs: options.ttlMs ?? DEFAULT_TTL_MS,
    waitMs: options.waitMs ?? 0,
    skip: options.skip ?? new Set(),
  });
}

/** The lease over any stores (one per voter, in name order): what the unit tests drive. */
export async function acquireLease(
  stack: string,
  stores: ReadonlyMap<string, LeaseStore>,
  options: { command: string; ttlMs: number; waitMs: number; skip: ReadonlySet<string> },
): Promise<Lock> {
  const voters = [...stores.keys()];
  const deadline = performance.now() + options.waitMs;
  const me: Holder = {
    holder: randomUUID(),
    machine: hostname(),
    machineId: thisMachine(),
    pid: String(process.pid),
    command: options.command,
    since: new Date().toISOString(),
    ttl: String(options.ttlMs),
  };
  // Ours from the first create on: a lease of this process that is not in `mine` is a lost one.
  mine.add(me.holder);
  for (;;) {
    const started = performance.now();
    let hold: Held | null = null;
    const round = await decide(voters, (name) =>
      options.skip.has(name) ? Promise.resolve(SILENT) : take(stores.get(name)!, me, options.ttlMs),
    );
    // A lease a slow host grants after the majority was decided: kept if ours holds, else given back.
    for (const [name, late] of round.pending)
      void late.then((result) => {
        if (result.kind !== 'taken') return;
        if (hold?.adopt(name, result.id)) return;
        void stores
          .get(name)!
          .remove(result.id)
          .catch(() => undefined);
      });
    const taken = round.settled.flatMap(({ name, result }) =>
      result.kind === 'taken' ? [{ name, id: result.id }] : [],
    );
    if (
      isQuorum(
        voters,
        taken.map((item) => item.name),
      )
    ) {
      hold = holdLease(stack, stores, voters, taken, me, options.ttlMs, started);
      return hold.lock;
    }
    // Not enough: give back what was taken, so that a heal racing for the same hosts can win.
    await Promise.all(
      taken.map(({ name, id }) =>
        stores
          .get(name)!
          .remove(id)
          .catch(() => undefined),
      ),
    );
    if (performance.now() >= deadline) {
      mine.delete(me.holder);
      throw new LockHeldError(refusal(stack, voters, round.settled, options.ttlMs));
    }
    // Apart by a random share of a second, so two heals racing for the same hosts do not tie again.
    await sleep(Math.min(1_000 + Math.random() * 500, Math.max(0, deadline - performance.now())));
  }
}

const SILENT: Attempt = { kind: 'silent', why: 'not answering' };

/**
 * Asks every voter at once and settles as soon as the answers decide: a majority taken, or no
 * majority possible any more, or every voter answered. A host that hangs does not hold the lock
 * up for its deadline; its answer, when it comes, is in `pending`.
 */
function decide(
  voters: readonly string[],
  ask: (name: string) => Promise<Attempt>,
): Promise<{ settled: { name: string; result: Attempt }[]; pending: Map<string, Promise<Attempt>> }> {
  return new Promise((resolve) => {
    const settled: { name: string; result: Attempt }[] = [];
    const pending = new Map<string, Promise<Attempt>>();
    let done = false;
    const check = (): void => {
      if (done) return;
      const taken = settled.filter(({ result }) => result.kind === 'taken').map(({ name }) => name);
      const decided =
        pending.size === 0 || isQuorum(voters, taken) || !isQuorum(voters, [...taken, ...pending.keys()]);
      if (!decided) return;
      done = true;
      resolve({ settled: [...settled], pending: new Map(pending) });
    };
    for (const name of voters) {
      const answer = ask(name);
      pending.set(name, answer);
      void answer.then((result) => {
        if (done) return;
        pending.delete(name);
        settled.push({ name, result });
        check();
      });
    }
    check();
  });
}

type Attempt =
  | { readonly kind: 'taken'; readonly id: string }
  | { readonly kind: 'held'; readonly holder: Holder }
  | { readonly kind: 'silent'; readonly why: string };

/** This host's lease for `me`: created, or taken over from a holder that is gone. */
async function take(store: LeaseStore, me: Holder, ttlMs: number): Promise<Attempt> {
  try {
    for (let round = 0; round < 2; round += 1) {
      const created = await store.create(me);
      if (created !== null) return { kind: 'taken', id: created };
      const current = await store.read();
      if (current === null) continue;
      if (!expired(store.host, current, ttlMs)) return { kind: 'held', holder: current.holder };
      await store.remove(current.id);
    }
    return { kind: 'silent', why: 'its lease changed hands twice while heal looked' };
  } catch (error) {
    return { kind: 'silent', why: error instanceof HostUnreachableError ? error.sentence : String(error) };
  }
}

/** When each lease was first seen with its counter, by this process's monotonic clock. */
const sightings = new Map<string, { counter: number; at: number }>();
/** The holders of the leases this process holds now. */
const mine = new Set<string>();

/**
 * Whether a lease is over: its holder was a process of this machine that is gone (or this very
 * process, with a lease it no longer holds), or its counter has stood still for ttl since this
 * process first saw it.
 */
function expired(host: string, lease: Seen, ttlMs: number): boolean {
  const { holder } = lease;
  if (holder.machineId !== '' && holder.machineId === thisMachine()) {
    const pid = Number(holder.pid);
    if (pid === process.pid) return !mine.has(holder.holder);
    if (!alive(pid)) return true;
  }
  const key = `${host}\n${lease.id}`;
  const seen = sightings.get(key);
  const now = performance.now();
  if (!seen || seen.counter !== lease.counter) {
    sightings.set(key, { counter: lease.counter, at: now });
    return false;
  }
  const ttl = Math.max(ttlMs, Number(holder.ttl) || 0);
  return now - seen.at >= ttl;
}

/** A lease held: the lock, and a way to add a host whose lease came after the majority. */
type Held = { readonly lock: Lock; adopt(name: string, id: string): boolean };

function holdLease(
  stack: string,
  stores: ReadonlyMap<string, LeaseStore>,
  voters: readonly string[],
  taken: readonly { name: string; id: string }[],
  me: Holder,
  ttlMs: number,
  started: number,
): Held {
  const held = new Map(taken.map(({ name, id }) => [name, id]));
  const lose = new AbortController();
  let validUntil = started + ttlMs * VALID_SHARE;
  let counter = 0;
  let released = false;
  const loseIt = (why: string): void => {
    if (lose.signal.aborted) return;
    lose.abort(new StoppedError(`the lock of stack ${stack} was lost: ${why}`));
    clearInterval(renewing);
    clearTimeout(lapse);
  };
  let lapse = setTimeout(() => loseIt('it could not be renewed in time'), validUntil - performance.now());
  lapse.unref();
  const renew = async (): Promise<void> => {
    const began = performance.now();
    counter += 1;
    const results = await Promise.all(
      [...held].map(async ([name, id]) => ({ name, result: await stores.get(name)!.renew(id, counter) })),
    );
    for (const { name, result } of results) if (result === 'gone') held.delete(name);
    const renewed = results.filter(({ result }) => result === 'renewed').map(({ name }) => name);
    if (!isQuorum(voters, [...held.keys()])) return loseIt('another heal took it over');
    // A renewal counts only if it began while the lease was still valid: a lapsed lease is over for good.
    if (lose.signal.aborted || began > validUntil || !isQuorum(voters, renewed)) return;
    validUntil = began + ttlMs * VALID_SHARE;
    clearTimeout(lapse);
    lapse = setTimeout(() => loseIt('it could not be renewed in time'), validUntil - performance.now());
    lapse.unref();
  };
  const renewing = setInterval(() => void renew().catch(() => undefined), ttlMs / RENEWALS_PER_TTL);
  renewing.unref();
  const lock: Lock = {
    get hosts() {
      return [...held.keys()].sort();
    },
    signal: lose.signal,
    lost: () => lose.signal.aborted || performance.now() > validUntil,
    async release() {
      if (released) return;
      released = true;
      clearInterval(renewing);
      clearTimeout(lapse);
      mine.delete(me.holder);
      await Promise.all(
        [...held].map(([name, id]) =>
          stores
            .get(name)!
            .remove(id)
            .catch(() => undefined),
        ),
      );
    },
  };
  return {
    lock,
    adopt: (name, id) => {
      if (released || lose.signal.aborted) return false;
      held.set(name, id);
      return true;
    },
  };
}

function refusal(
  stack: string,
  voters: readonly string[],
  attempts: readonly { name: string; result: Attempt }[],
  ttlMs: number,
): string {
  const holders = attempts.flatMap(({ result }) => (result.kind === 'held' ? [result.holder] : []));
  const [holder] = holders;
  if (holder) {
    const who = `${holder.command} (pid ${holder.pid} on ${holder.machine}) since ${holder.since}`;
    return `stack ${stack} is locked by ${who}; if that heal is gone, its lease lapses ${Math.round(ttlMs / 1000)} s after its last renewal. Retry later or pass --lock-wait 2m to wait for it`;
  }
  const silent = attempts.flatMap(({ name, result }) =>
    result.kind === 'silent' ? [`${name}: ${result.why}`] : [],
  );
  const needed = Math.floor(voters.length / 2) + 1;
  return `cannot take the lock of stack ${stack}: heal acts only with a majority of its hosts (${needed} of ${voters.length}) and ${silent.length} did not answer (${silent.join('; ')})`;
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
