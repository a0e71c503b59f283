import type { Host, Stack } from '../spec/types.js';
import { connectHost, createStartGate, type Deadlines, type HostClient, type Logger } from './host-client.js';
import type { Reach } from './observe.js';

export type FleetOptions = {
  readonly acceptNewHostKeys?: boolean;
  readonly connectTimeoutMs?: number;
  readonly deadlines?: Partial<Deadlines>;
  readonly log?: Logger;
  /** Told of each client as it connects. */
  readonly onConnect?: (client: HostClient) => void;
  /**
   * After a failed connect, wait this long before trying that host again (doubling, up to 5x).
   * Undefined: never retry (a one-shot command reports the failure once).
   */
  readonly retryAfterMs?: number;
};

/** The stack's hosts, each connected once on first use and shared by every call after. */
export type Fleet = {
  readonly reach: (host: Host) => Promise<Reach>;
  readonly close: () => Promise<void>;
};

type Entry = { readonly reach: Promise<Reach>; failedAt: number | null; failures: number };

export function openFleet(stack: Stack, options: FleetOptions = {}): Fleet {
  const entries = new Map<string, Entry>();
  // One gate for the whole fleet bounds simultaneous SSH handshakes, as sshd's MaxStartups would.
  const startGate = createStartGate();
  const { retryAfterMs, onConnect, ...connectOptions } = options;

  const connect = (host: Host, failures: number): Entry => {
    const entry: Entry = {
      reach: connectHost(host, {
        ssh: stack.heal.ssh,
        startGate,
        deadlines: stack.heal.timeouts,
        ...connectOptions,
      }).then(
        (client) => {
          onConnect?.(client);
          return { client };
        },
        (error: unknown) => {
          entry.failedAt = Date.now();
          entry.failures = failures + 1;
          return { error: error instanceof Error ? error : new Error(String(error)) };
        },
      ),
      failedAt: null,
      failures,
    };
    entries.set(host.name, entry);
    return entry;
  };

  const reach = (host: Host): Promise<Reach> => {
    const entry = entries.get(host.name);
    if (!entry) return connect(host, 0).reach;
    if (entry.failedAt !== null && retryAfterMs !== undefined) {
      const wait = Math.min(retryAfterMs * 2 ** (entry.failures - 1), retryAfterMs * 5);
      if (Date.now() - entry.failedAt >= wait) return connect(host, entry.failures).reach;
    }
    return entry.reach;
  };

  const close = async (): Promise<void> => {
    const reached = await Promise.all([...entries.values()].map((entry) => entry.reach));
    await Promise.all(reached.map((item) => ('client' in item ? item.client.close() : undefined)));
  };
  return { reach, close };
}
