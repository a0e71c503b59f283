import type { Host, Stack } from '../spec/types.js';
import { connectHost, createStartGate, type Logger } from './host-client.js';
import type { Reach } from './observe.js';

export type FleetOptions = {
  readonly acceptNewHostKeys?: boolean;
  readonly connectTimeoutMs?: number;
  readonly log?: Logger;
};

/** The stack's hosts, each connected once on first use and shared by every call after. */
export type Fleet = {
  readonly reach: (host: Host) => Promise<Reach>;
  readonly close: () => Promise<void>;
};

export function openFleet(stack: Stack, options: FleetOptions = {}): Fleet {
  const connections = new Map<string, Promise<Reach>>();
  // One gate for the whole fleet bounds simultaneous SSH handshakes, as sshd's MaxStartups would.
  const startGate = createStartGate();
  const reach = (host: Host): Promise<Reach> => {
    let connection = connections.get(host.name);
    if (!connection) {
      connection = connectHost(host, { ssh: stack.heal.ssh, startGate, ...options }).then(
        (client) => ({ client }),
        (error: unknown) => ({ error: error instanceof Error ? error : new Error(String(error)) }),
      );
      connections.set(host.name, connection);
    }
    return connection;
  };
  const close = async (): Promise<void> => {
    const reached = await Promise.all(connections.values());
    await Promise.all(reached.map((item) => ('client' in item ? item.client.close() : undefined)));
  };
  return { reach, close };
}
