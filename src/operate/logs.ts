import type Dockerode from 'dockerode';
import type { Fleet } from '../executor/fleet.js';
import type { HostClient } from '../executor/host-client.js';
import type { Host, Stack } from '../spec/types.js';
import { logLines, type LogLine } from './log-lines.js';
import { untilIdle } from './idle.js';
import { LiveMerge, mergeInTime } from './log-merge.js';
import { replicaName, replicasOn, type Replica } from './targets.js';

/** One line a replica printed, and which replica. */
export type LogEntry = LogLine & { readonly replica: Replica };

export type LogsRequest = {
  readonly stack: Stack;
  readonly fleet: Fleet;
  /** Every service when empty. */
  readonly services: readonly string[];
  /** Epoch seconds (fractions kept); null: from the start. */
  readonly since: number | null;
  readonly until: number | null;
  /** Lines per replica from the end; null: all. */
  readonly tail: number | null;
  readonly follow: boolean;
  readonly onEntry: (entry: LogEntry) => void;
  /** Said once per change: a host that stopped answering, and again when it answers. */
  readonly onNote: (note: string) => void;
  /** Ends a follow. */
  readonly signal: AbortSignal;
  readonly now: () => number;
};

/** How often a follow looks for new replicas, and how long a line waits for others to overtake it. */
const LOOK_MS = 1000;
const LAG_MS = 300;
const MAX_WAITING = 10_000;

/**
 * Prints what the replicas wrote, in time order across hosts; with `follow`, goes on until the
 * signal, following replicas that start later (a replacement, a restart) and saying when a host
 * stops answering. Returns the hosts that never answered.
 */
export async function readLogs(request: LogsRequest): Promise<string[]> {
  const hosts = Object.values(request.stack.heal.hosts);
  // A follow prints the history up to now, then goes on from there. (Docker cuts `tail` before
  // `until`: the last lines of a busy replica may come after it, and the follow prints those.)
  const until = request.follow ? request.now() / 1000 : request.until;
  const found = await Promise.all(hosts.map((host) => replicasOf(request, host)));
  const silent = found.flatMap((item) => ('error' in item ? [item.host] : []));
  for (const item of found)
    if ('error' in item) request.onNote(`${item.host}: ${item.error}: its logs are not shown`);
  const reached = found.flatMap((item) => ('replicas' in item ? [item] : []));
  const window = { since: request.since, until, tail: request.tail, follow: request.follow };
  const stalled = new Set<string>();
  const sources = reached.flatMap(({ host, client, replicas }) =>
    replicas.map((replica) => history(request, client, replica, window, () => stalled.add(host))),
  );
  for await (const entry of mergeInTime(sources)) request.onEntry(entry);
  const lost = [...silent, ...[...stalled].filter((host) => !silent.includes(host))];
  if (request.follow && until !== null) await follow(request, until, new Set(lost));
  return lost;
}

/**
 * One replica's history, ended with a note when its host stops sending in the middle (a frozen
 * host would otherwise hold the whole merge until Ctrl-C) or its stream fails.
 */
function history(
  request: LogsRequest,
  client: HostClient,
  replica: Replica,
  window: Window,
  onLost: () => void,
): AsyncGenerator<LogEntry> {
  let close = (): void => undefined;
  const source = entries(
    client,
    replica,
    ttyOf(request.stack, replica),
    window,
    (destroy) => (close = destroy),
  );
  const idleMs = request.stack.heal.timeouts.readMs;
  const cut = (why: string): void => {
    close();
    onLost();
    request.onNote(`${replica.host}: ${replicaName(replica)} ${why}: the rest of its logs are not shown`);
  };
  return untilIdle(
    source,
    idleMs,
    () => cut(`sent nothing for ${idleMs / 1000}s`),
    (error) => cut(`stopped sending (${error instanceof Error ? error.message : String(error)})`),
  );
}

type Found =
  | { readonly host: string; readonly client: HostClient; readonly replicas: readonly Replica[] }
  | { readonly host: string; readonly error: string };

async function replicasOf(request: LogsRequest, host: Host): Promise<Found> {
  const reached = await request.fleet.reach(host);
  if ('error' in reached) return { host: host.name, error: reached.error.message };
  try {
    const replicas = await replicasOn(reached.client, request.stack, request.services, request.now());
    return { host: host.name, client: reached.client, replicas: replicas.sort(bySlot) };
  } catch (error) {
    return { host: host.name, error: error instanceof Error ? error.message : String(error) };
  }
}

type Window = {
  readonly since: number | null;
  readonly until: number | null;
  readonly tail: number | null;
  readonly follow: boolean;
};

/** One replica's lines as the engine streams them, with a way to stop early. */
async function* entries(
  client: HostClient,
  replica: Replica,
  tty: boolean,
  window: Window,
  stop?: (destroy: () => void) => void,
): AsyncGenerator<LogEntry> {
  const query = {
    // A follow is a follow: the engine ends it only when the container stops (or at `until`).
    follow: window.follow,
    stdout: true,
    stderr: true,
    timestamps: true,
    ...(window.since === null ? {} : { since: window.since.toFixed(9) }),
    ...(window.until === null ? {} : { until: window.until.toFixed(9) }),
    ...(window.tail === null ? {} : { tail: window.tail }),
  };
  const stream = await client.call(`logs ${replica.name}`, (docker, abortSignal) =>
    logStream(docker, replica.id, query, abortSignal),
  );
  stop?.(() => stream.destroy?.());
  try {
    for await (const line of logLines(stream as AsyncIterable<Buffer>, tty)) yield { ...line, replica };
  } finally {
    stream.destroy?.();
  }
}

/**
 * After the history up to `from`: every replica's new lines, merged with a short lag, until the
 * signal. Each look lists the replicas again; one not followed yet is followed from its start
 * (or `from`), one whose stream ended is followed again if it runs again.
 */
async function follow(request: LogsRequest, from: number, silent: Set<string>): Promise<void> {
  const merge = new LiveMerge<LogEntry>(LAG_MS, MAX_WAITING);
  const streams = new Map<string, () => void>();
  const resumeAt = new Map<string, number>();
  const hosts = Object.values(request.stack.heal.hosts);

  const start = (client: HostClient, replica: Replica): void => {
    const since = resumeAt.get(replica.id) ?? Math.max(from, replica.createdAt / 1000);
    streams.set(replica.id, () => undefined);
    void (async () => {
      try {
        const window = { since, until: null, tail: null, follow: true };
        const tty = ttyOf(request.stack, replica);
        for await (const entry of entries(client, replica, tty, window, (destroy) =>
          streams.set(replica.id, destroy),
        )) {
          merge.add(entry, request.now());
          // Just after this line's time: a stream opened again starts after it, not with it.
          resumeAt.set(replica.id, timeSeconds(entry.time) + 1e-6);
        }
      } catch {
        // A replica removed or a host lost: the next look says what became of it.
      } finally {
        streams.delete(replica.id);
        if (!resumeAt.has(replica.id)) resumeAt.set(replica.id, since);
      }
    })();
  };

  const look = async (): Promise<void> => {
    await Promise.all(
      hosts.map(async (host) => {
        const found = await replicasOf(request, host);
        if ('error' in found) {
          if (!silent.has(host.name))
            request.onNote(`${host.name} does not answer (${found.error}): following the others`);
          silent.add(host.name);
          return;
        }
        if (silent.delete(host.name)) request.onNote(`${host.name} answers again`);
        for (const replica of found.replicas) {
          if (streams.has(replica.id)) continue;
          if (resumeAt.has(replica.id) && replica.state !== 'running') continue;
          start(found.client, replica);
        }
      }),
    );
  };

  const print = (): void => {
    for (const entry of merge.due(request.now())) request.onEntry(entry);
  };
  const printer = setInterval(print, 100);
  try {
    while (!request.signal.aborted) {
      await look();
      await pause(LOOK_MS, request.signal);
    }
  } finally {
    clearInterval(printer);
    for (const destroy of streams.values()) destroy();
    for (const entry of merge.flush()) request.onEntry(entry);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

function timeSeconds(time: string): number {
  // `2026-12-05T18:20:21.123456789Z`: Date keeps milliseconds, the rest is added back.
  const millis = Date.parse(`${time.slice(0, 23)}Z`);
  return millis / 1000 + Number(`0.000${time.slice(23, 29)}`);
}

/** A TTY container's output is one raw stream, not multiplexed frames. */
function ttyOf(stack: Stack, replica: Replica): boolean {
  return stack.services[replica.service]?.tty === true;
}

function bySlot(a: Replica, b: Replica): number {
  return a.service === b.service ? a.slot - b.slot : a.service < b.service ? -1 : 1;
}

/**
 * `GET /containers/{id}/logs` as a stream whether or not it follows (dockerode's `logs` answers
 * a request that does not follow with one buffer of everything: unbounded).
 */
function logStream(
  docker: Dockerode,
  id: string,
  query: Record<string, unknown>,
  abortSignal: AbortSignal,
): Promise<NodeJS.ReadableStream & { destroy?: () => void }> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `/containers/${id}/logs?`,
        method: 'GET',
        isStream: true,
        abortSignal,
        options: query,
        statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
      },
      (error: unknown, stream: unknown) =>
        error ? reject(error as Error) : resolve(stream as NodeJS.ReadableStream & { destroy?: () => void }),
    );
  });
}
