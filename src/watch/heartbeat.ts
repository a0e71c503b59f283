import { DockerApiError, HostUnreachableError } from '../executor/errors.js';
import type { Reach } from '../executor/observe.js';
import type { Host } from '../spec/types.js';

/** What the heartbeat tells the daemon: a host's engine fell silent, or answers again. */
export type Beat =
  | { readonly kind: 'silent'; readonly host: string; readonly since: number; readonly error: string }
  | { readonly kind: 'answers'; readonly host: string };

/**
 * Asks every host's engine `GET /_ping` every `everyMs` over its persistent connection, one
 * question at a time per host. A host whose engine has not answered anything for `silentAfterMs`
 * is reported silent once, with its last answer, even while its SSH connection lives on (a
 * wedged dockerd): that is what makes a hung engine suspect, then down, like a switched-off host.
 * A host the fleet cannot reach at all is left to the event streams, which report it lost.
 */
export function heartbeat(options: {
  readonly hosts: readonly Host[];
  readonly reach: (host: Host) => Promise<Reach>;
  readonly everyMs: number;
  readonly silentAfterMs: number;
  readonly onBeat: (beat: Beat) => void;
  /**
   * Each ping's round trip in ms, or null when the engine answered an error or not in time
   * (EngineSlow reads them); a connection that is gone or refused is no answer at all.
   */
  readonly onAnswer?: (host: string, at: number, ms: number | null) => void;
  readonly now?: () => number;
}): { stop(): void } {
  const now = options.now ?? Date.now;
  const asking = new Set<string>();
  const silent = new Set<string>();
  const started = now();

  const beat = async (host: Host): Promise<void> => {
    const reached = await options.reach(host);
    if ('error' in reached) return;
    const { client } = reached;
    const last = client.lastAnswer() ?? started;
    if (!silent.has(host.name) && now() - last >= options.silentAfterMs) {
      silent.add(host.name);
      options.onBeat({
        kind: 'silent',
        host: host.name,
        since: last,
        error: `the engine has not answered for ${Math.round((now() - last) / 1000)} s`,
      });
    }
    if (asking.has(host.name)) return;
    asking.add(host.name);
    try {
      // Bounded so that a question lost with its connection is asked again.
      const ms = await client.ping(options.silentAfterMs * 4);
      options.onAnswer?.(host.name, now(), ms);
      if (silent.delete(host.name)) options.onBeat({ kind: 'answers', host: host.name });
    } catch (error) {
      // Silence is judged by the last answer, at the next beat.
      if (engineFailed(error)) options.onAnswer?.(host.name, now(), null);
    } finally {
      asking.delete(host.name);
    }
  };

  const timer = setInterval(() => {
    for (const host of options.hosts) void beat(host).catch(() => undefined);
  }, options.everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** The engine said no, or did not answer in time; not a connection closed or refused (host down). */
function engineFailed(error: unknown): boolean {
  if (error instanceof DockerApiError) return true;
  return error instanceof HostUnreachableError && error.kind === 'timeout';
}
