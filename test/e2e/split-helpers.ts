/**
 * For tests of two heals with split views of the fleet: a TCP relay to one host's sshd that the
 * test cuts (that host falls silent for the heal behind the relay alone), and each daemon's apply
 * windows read from its log, which must never overlap another's.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort, type Watch } from './watch-helpers.js';

/** A TCP relay to one host's sshd that can be cut: it then passes nothing, and keeps every connection open. */
export type Relay = { port: number; cut(): void; mend(): void; close(): Promise<void> };

export async function startRelay(address: string): Promise<Relay> {
  let cut = false;
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = connect(22, address);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    if (cut) for (const socket of pair) socket.pause();
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    cut: () => {
      cut = true;
      for (const pair of pairs) for (const socket of pair) socket.pause();
    },
    mend: () => {
      cut = false;
      for (const pair of pairs) for (const socket of pair) socket.resume();
    },
    close: () =>
      new Promise((resolve) => {
        for (const [client, upstream] of pairs) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

/**
 * known_hosts for a heal that reaches the host at `address` through a relay on 127.0.0.1:`port`:
 * the bed's file, plus that host's keys under the relay's address, as ssh would record them.
 */
export function relayedKnownHosts(keys: string, address: string, port: number): string {
  const relayed = keys
    .split('\n')
    .filter((line) => line.split(' ')[0] === address)
    .map((line) => line.replace(address, `[127.0.0.1]:${port}`));
  return `${keys}\n${relayed.join('\n')}\n`;
}

export type Window = { from: number; to: number };

/**
 * Each stretch in which a daemon was applying: from its first planned action to its last one
 * done. `from` is the first log line to read.
 */
export function applyWindows(daemon: Watch, from = 0): Window[] {
  const windows: Window[] = [];
  let open: Window | null = null;
  for (const line of daemon.lines().slice(from)) {
    const at = Date.parse(line.time);
    if (line.msg === 'action planned' && open === null) open = { from: at, to: at };
    else if ((line.msg === 'action done' || line.msg === 'action failed') && open) open.to = at;
    else if (line.msg === 'reconcile done' && open) {
      windows.push(open);
      open = null;
    }
  }
  if (open) windows.push(open);
  return windows;
}

export function overlaps(a: readonly Window[], b: readonly Window[]): { left: Window; right: Window }[] {
  return a.flatMap((left) =>
    b.filter((right) => left.from <= right.to && right.from <= left.to).map((right) => ({ left, right })),
  );
}
