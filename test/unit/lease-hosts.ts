import type fc from 'fast-check';
import type { Holder, LeaseStore, Seen } from '../../src/executor/lock-store.js';

/**
 * The lease's logic over in-memory hosts that keep Docker's one promise the lock relies on: one
 * container per name. The real store (a container on each engine) is exercised by the end-to-end
 * tests with two daemons; here every path of the lease is driven on purpose.
 */
export class Host {
  lease: { id: string; holder: Holder; counter: number } | null = null;
  /** Answers nothing while true: a host this heal cannot reach. */
  silent = false;
  renewals = 'ok' as 'ok' | 'fail';
  next = 0;

  constructor(readonly name: string) {}

  store(view: { silent?: boolean } = {}): LeaseStore {
    return hostStore(this, view);
  }
}

function hostStore(host: Host, view: { silent?: boolean }): LeaseStore {
  const reachable = (): void => {
    if (host.silent || view.silent) throw new Error(`${host.name} does not answer`);
  };
  return {
    host: host.name,
    async create(holder) {
      reachable();
      if (host.lease) return null;
      host.next += 1;
      host.lease = { id: `${host.name}-${host.next}`, holder, counter: 0 };
      return host.lease.id;
    },
    async read(): Promise<Seen | null> {
      reachable();
      return host.lease && { ...host.lease };
    },
    async renew(id, counter) {
      if (host.silent || view.silent || host.renewals === 'fail') return 'failed';
      if (host.lease?.id !== id) return 'gone';
      host.lease.counter = counter;
      return 'renewed';
    },
    async remove(id) {
      reachable();
      if (host.lease?.id === id) host.lease = null;
    },
  };
}

export function fleet(...names: string[]): Host[] {
  return names.map((name) => new Host(name));
}

export function stores(hosts: readonly Host[], silent: readonly string[] = []): Map<string, LeaseStore> {
  return new Map(hosts.map((host) => [host.name, host.store({ silent: silent.includes(host.name) })]));
}

/** The stores of `hosts` as a heal that cannot reach `silent` sees them, each call's answer landing when `s` decides. */
export function scheduledStores(
  hosts: readonly Host[],
  silent: readonly string[],
  s: fc.Scheduler,
): Map<string, LeaseStore> {
  return new Map(
    hosts.map((host) => {
      const store = host.store({ silent: silent.includes(host.name) });
      return [
        host.name,
        {
          host: store.host,
          create: s.scheduleFunction(store.create),
          read: s.scheduleFunction(store.read),
          renew: store.renew,
          remove: s.scheduleFunction(store.remove),
        } satisfies LeaseStore,
      ];
    }),
  );
}
