import { LABEL } from '../planner/labels.js';
import type { Host } from '../spec/types.js';
import type { Reach } from '../executor/observe.js';

/** What an event stream tells the daemon: only ever "look again", with why (for logs and metrics). */
export type EngineSignal =
  | {
      readonly kind: 'container';
      readonly host: string;
      /** The container's id. */
      readonly id: string;
      readonly action: string;
      readonly service: string | null;
      readonly slot: string | null;
    }
  | { readonly kind: 'lost'; readonly host: string; readonly error: string }
  /** The stream is open again after it was lost: the host is back. */
  | { readonly kind: 'opened'; readonly host: string };

const MAX_LINE = 1 << 20;
const INTERESTING = /^(die|oom|kill|stop|destroy|pause|health_status: unhealthy|start)$/;

/**
 * Follows every host's Docker events for the stack's containers over its persistent connection.
 * die, oom, kill, stop, destroy, pause, start and health_status: unhealthy become signals; a stream that
 * ends or cannot be opened is a `lost` signal, and it is reopened after `retryMs` for as long as
 * this runs. Level-triggered: the daemon never acts on an event, it only reconciles sooner.
 * An engine that went silent may have left its stream open and dead: `reopen(host)` drops it
 * and opens a new one.
 */
export function followEvents(options: {
  readonly stack: string;
  readonly hosts: readonly Host[];
  readonly reach: (host: Host) => Promise<Reach>;
  readonly onSignal: (signal: EngineSignal) => void;
  readonly retryMs?: number;
}): { stop(): void; reopen(host: string): void } {
  let stopped = false;
  const streams = new Map<string, NodeJS.ReadableStream & { destroy?: () => void }>();
  const retry = options.retryMs ?? 1_000;

  const follow = async (host: Host): Promise<void> => {
    let lost = false;
    while (!stopped) {
      const reached = await options.reach(host);
      let error: string;
      if ('client' in reached) {
        try {
          const stream = (await reached.client.call('events', (docker, abortSignal) =>
            docker.getEvents({
              // Filtered by the engine: a healthcheck's exec_create/exec_start/exec_die every interval
              // would otherwise cross SSH and be parsed here only to be dropped.
              filters: {
                type: ['container'],
                label: [`${LABEL.stack}=${options.stack}`],
                event: ['die', 'oom', 'kill', 'stop', 'destroy', 'pause', 'start', 'health_status'],
              },
              abortSignal,
            }),
          )) as NodeJS.ReadableStream & { destroy?: () => void };
          streams.set(host.name, stream);
          if (lost) options.onSignal({ kind: 'opened', host: host.name });
          lost = false;
          error = await pump(stream, host.name, options.onSignal);
          if (streams.get(host.name) === stream) streams.delete(host.name);
        } catch (failure) {
          error = failure instanceof Error ? failure.message : String(failure);
        }
      } else {
        error = reached.error.message;
      }
      if (stopped) return;
      lost = true;
      options.onSignal({ kind: 'lost', host: host.name, error });
      await new Promise((resolve) => setTimeout(resolve, retry));
    }
  };

  for (const host of options.hosts) void follow(host);
  return {
    stop() {
      stopped = true;
      for (const stream of streams.values()) stream.destroy?.();
    },
    reopen(host) {
      streams.get(host)?.destroy?.();
    },
  };
}

/** Reads newline-delimited JSON events until the stream ends; resolves with why it ended. */
function pump(
  stream: NodeJS.ReadableStream,
  host: string,
  onSignal: (signal: EngineSignal) => void,
): Promise<string> {
  return new Promise((resolve) => {
    let buffered = '';
    stream.on('data', (chunk: Buffer | string) => {
      buffered += chunk.toString();
      // An event is a few hundred bytes: a line this long is not one, and must not grow forever.
      if (buffered.length > MAX_LINE && buffered.indexOf('\n') < 0) buffered = '';
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (line === '') continue;
        try {
          const event = JSON.parse(line) as {
            Action?: string;
            Actor?: { ID?: string; Attributes?: Record<string, string> };
          };
          const action = event.Action ?? '';
          if (!INTERESTING.test(action)) continue;
          const attributes = event.Actor?.Attributes ?? {};
          onSignal({
            kind: 'container',
            host,
            id: event.Actor?.ID ?? '',
            action,
            service: attributes[LABEL.service] ?? null,
            slot: attributes[LABEL.slot] ?? null,
          });
        } catch {
          // A partial or foreign line: the next full resync covers anything missed.
        }
      }
    });
    stream.on('end', () => resolve('event stream ended'));
    stream.on('close', () => resolve('event stream closed'));
    stream.on('error', (error: Error) => resolve(error.message));
  });
}
