import { hostname } from 'node:os';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acquireLease, isQuorum, LockHeldError, type Lock } from '../../src/executor/lock.js';
import { thisMachine, type Holder } from '../../src/executor/lock-store.js';
import { fleet, scheduledStores, stores } from './lease-hosts.js';

const options = (over: Partial<{ ttlMs: number; waitMs: number; skip: Set<string> }> = {}) => ({
  command: 'heal test',
  ttlMs: 30_000,
  waitMs: 0,
  skip: new Set<string>(),
  ...over,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function stranger(over: Partial<Holder> = {}): Holder {
  return {
    holder: 'someone-else',
    machine: 'elsewhere',
    machineId: 'another-boot/pid:[1]',
    pid: '4242',
    command: 'heal apply',
    since: '2026-12-04T10:00:00.000Z',
    ttl: '300',
    ...over,
  };
}

describe('isQuorum', () => {
  it('needs more than half of the voters', () => {
    expect(isQuorum(['h1', 'h2', 'h3'], ['h1', 'h2'])).toBe(true);
    expect(isQuorum(['h1', 'h2', 'h3'], ['h3'])).toBe(false);
    expect(isQuorum(['h1', 'h2'], ['h1'])).toBe(false);
    expect(isQuorum(['h1', 'h2', 'h3', 'h4'], ['h1', 'h4'])).toBe(false);
    expect(isQuorum(['h1', 'h2', 'h3', 'h4'], ['h1', 'h2', 'h4'])).toBe(true);
    expect(isQuorum(['h1'], ['h1'])).toBe(true);
    expect(isQuorum(['h1', 'h2'], ['h1', 'h3'])).toBe(false);
    expect(isQuorum([], [])).toBe(false);
  });

  it('never lets two disjoint sets both be a quorum, and a host list changed by one host keeps that true', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.boolean(), fc.func(fc.boolean()), (size, grow, pick) => {
        const a = Array.from({ length: size }, (_, index) => `h${index + 1}`);
        // The other heal's list: one host more, or one fewer (never empty).
        const b = grow ? [...a, `h${size + 1}`] : a.length > 1 ? a.slice(0, -1) : a;
        const union = [...new Set([...a, ...b])];
        const mine = union.filter((name) => pick(name));
        const theirs = union.filter((name) => !mine.includes(name));
        expect(isQuorum(a, mine) && isQuorum(b, theirs)).toBe(false);
      }),
    );
  });
});

describe('the lease', () => {
  it('is taken on every host that answers, and released from all of them', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const lock = await acquireLease('app', stores(hosts), options());
    expect(lock.hosts).toEqual(['h1', 'h2', 'h3']);
    expect(hosts.every((host) => host.lease?.holder.command === 'heal test')).toBe(true);
    await lock.release();
    expect(hosts.map((host) => host.lease)).toEqual([null, null, null]);
  });

  it('is refused to a second heal with who holds it, and taken once the first lets go', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const first = await acquireLease('app', stores(hosts), options());
    await expect(acquireLease('app', stores(hosts), options())).rejects.toThrow(
      new RegExp(`^stack app is locked by heal test \\(pid ${process.pid} on ${hostname()}\\) since `),
    );
    const waiting = acquireLease('app', stores(hosts), options({ waitMs: 10_000 }));
    await sleep(300);
    await first.release();
    const second = await waiting;
    expect(second.hosts).toEqual(['h1', 'h2', 'h3']);
    await second.release();
  });

  it('holds with a majority when a host does not answer, and says how many it needs when it has none', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const lock = await acquireLease('app', stores(hosts, ['h3']), options());
    expect(lock.hosts).toEqual(['h1', 'h2']);
    await lock.release();
    await expect(acquireLease('app', stores(hosts, ['h2', 'h3']), options())).rejects.toThrow(
      'cannot take the lock of stack app: heal acts only with a majority of its hosts (2 of 3) and 2 did not answer (h2: Error: h2 does not answer; h3: Error: h3 does not answer)',
    );
    // What it took without a majority it gave back.
    expect(hosts[0]!.lease).toBeNull();
  });

  it('is never held by two heals whose views of the fleet differ', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    // One heal cannot reach h3, the other cannot reach h1: h2 decides.
    const left = await acquireLease('app', stores(hosts, ['h3']), options());
    await expect(acquireLease('app', stores(hosts, ['h1']), options())).rejects.toThrow(LockHeldError);
    await left.release();
    const right = await acquireLease('app', stores(hosts, ['h1']), options());
    expect(right.hosts).toEqual(['h2', 'h3']);
    await expect(acquireLease('app', stores(hosts, ['h3']), options())).rejects.toThrow(LockHeldError);
    await right.release();
  });

  it('does not wait for a host that hangs once the others make a majority, and keeps its late lease', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const all = stores(hosts);
    const h3 = all.get('h3')!;
    let answer: () => void = () => undefined;
    all.set('h3', {
      ...h3,
      create: (holder) => new Promise((resolve) => (answer = () => void h3.create(holder).then(resolve))),
    });
    const lock = await acquireLease('app', all, options());
    expect(lock.hosts).toEqual(['h1', 'h2']);
    answer();
    await expect.poll(() => lock.hosts).toEqual(['h1', 'h2', 'h3']);
    await lock.release();
    expect(hosts.map((host) => host.lease)).toEqual([null, null, null]);
  });

  it('gives back a lease a slow host grants after the lock was refused', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    hosts[0]!.lease = { id: 'h1-x', holder: stranger(), counter: 0 };
    hosts[1]!.lease = { id: 'h2-x', holder: stranger(), counter: 0 };
    const all = stores(hosts);
    const h3 = all.get('h3')!;
    let answer: () => void = () => undefined;
    all.set('h3', {
      ...h3,
      create: (holder) => new Promise((resolve) => (answer = () => void h3.create(holder).then(resolve))),
    });
    await expect(acquireLease('app', all, options())).rejects.toThrow(LockHeldError);
    answer();
    await expect.poll(() => hosts[2]!.lease).toBeNull();
  });

  it('skips the hosts it is told are silent without waiting for them', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const lock = await acquireLease('app', stores(hosts), options({ skip: new Set(['h2']) }));
    expect(lock.hosts).toEqual(['h1', 'h3']);
    expect(hosts[1]!.lease).toBeNull();
    await lock.release();
  });

  it('renews in place: a heal that looks while it is held always finds it held', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const lock = await acquireLease('app', stores(hosts), options({ ttlMs: 300 }));
    const ids = hosts.map((host) => host.lease!.id);
    for (let look = 0; look < 12; look += 1) {
      await expect(acquireLease('app', stores(hosts), options({ ttlMs: 300 }))).rejects.toThrow(
        LockHeldError,
      );
      await sleep(50);
    }
    expect(hosts.map((host) => host.lease!.id)).toEqual(ids);
    expect(hosts.every((host) => host.lease!.counter > 0)).toBe(true);
    expect(lock.lost()).toBe(false);
    await lock.release();
  });

  it('is lost, and its signal aborted, when it cannot be renewed in time', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const lock = await acquireLease('app', stores(hosts), options({ ttlMs: 400 }));
    for (const host of hosts) host.renewals = 'fail';
    await expect.poll(() => lock.signal.aborted, { timeout: 5_000 }).toBe(true);
    expect(lock.lost()).toBe(true);
    expect((lock.signal.reason as Error).message).toBe(
      'the lock of stack app was lost: it could not be renewed in time',
    );
    // A renewal that works again later does not bring a lapsed lease back.
    for (const host of hosts) host.renewals = 'ok';
    await sleep(300);
    expect(lock.lost()).toBe(true);
    await lock.release();
  });

  it('is lost at its next renewal once another heal has taken its hosts over', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const lock = await acquireLease('app', stores(hosts), options({ ttlMs: 600 }));
    for (const host of hosts.slice(0, 2))
      host.lease = { id: `${host.name}-x`, holder: stranger(), counter: 0 };
    await expect.poll(() => lock.signal.aborted, { timeout: 5_000 }).toBe(true);
    expect((lock.signal.reason as Error).message).toBe(
      'the lock of stack app was lost: another heal took it over',
    );
    await lock.release();
  });

  it('takes over a lease whose counter stands still for its ttl, and not before', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    for (const host of hosts) host.lease = { id: `${host.name}-old`, holder: stranger(), counter: 7 };
    await expect(acquireLease('app', stores(hosts), options({ ttlMs: 300 }))).rejects.toThrow(
      /locked by heal apply \(pid 4242 on elsewhere\)/,
    );
    const started = performance.now();
    const lock = await acquireLease('app', stores(hosts), options({ ttlMs: 300, waitMs: 10_000 }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(lock.hosts).toEqual(['h1', 'h2', 'h3']);
    await lock.release();
  });

  it('keeps a lease whose counter moves, however long it is held', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    for (const host of hosts) host.lease = { id: `${host.name}-live`, holder: stranger(), counter: 0 };
    const ticking = setInterval(() => {
      for (const host of hosts) if (host.lease) host.lease.counter += 1;
    }, 50);
    try {
      await expect(
        acquireLease('app', stores(hosts), options({ ttlMs: 300, waitMs: 1_500 })),
      ).rejects.toThrow(LockHeldError);
    } finally {
      clearInterval(ticking);
    }
  });

  it('takes over at once the lease of a process of this machine that is gone', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const gone = stranger({ machine: hostname(), machineId: thisMachine(), pid: '2147483646' });
    for (const host of hosts) host.lease = { id: `${host.name}-dead`, holder: gone, counter: 0 };
    const lock = await acquireLease('app', stores(hosts), options());
    expect(lock.hosts).toEqual(['h1', 'h2', 'h3']);
    await lock.release();
  });

  it('does not take the lease of another machine that has the same host name for a dead local process', async () => {
    const hosts = fleet('h1', 'h2', 'h3');
    const twin = stranger({ machine: hostname(), machineId: 'other-boot/pid:[7]', pid: '2147483646' });
    for (const host of hosts) host.lease = { id: `${host.name}-twin`, holder: twin, counter: 0 };
    await expect(acquireLease('app', stores(hosts), options())).rejects.toThrow(LockHeldError);
  });

  it('lets exactly one of many heals racing for it win, whatever order their calls land in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.subarray(['h1', 'h2', 'h3']), { minLength: 2, maxLength: 4 }),
        async (s, views) => {
          const hosts = fleet('h1', 'h2', 'h3');
          const attempts = views.map((view) =>
            acquireLease('app', scheduledStores(hosts, view, s), options()).then(
              (lock) => lock,
              (error: unknown) => {
                if (!(error instanceof LockHeldError)) throw error;
                return null;
              },
            ),
          );
          const won = (await s.waitFor(Promise.all(attempts))).filter((lock): lock is Lock => lock !== null);
          // The answers that came after each heal decided: adopted by the winner or given back.
          await s.waitIdle();
          expect(won.length).toBeLessThanOrEqual(1);
          for (const lock of won) await s.waitFor(lock.release());
          await s.waitIdle();
          expect(hosts.map((host) => host.lease)).toEqual([null, null, null]);
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});
