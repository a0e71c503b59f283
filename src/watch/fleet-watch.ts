import { openFleet, type Fleet } from '../executor/fleet.js';
import type { HostClient } from '../executor/host-client.js';
import type { Stack } from '../spec/types.js';
import { EngineSamples } from './engine-samples.js';
import { followEvents } from './events.js';
import { heartbeat } from './heartbeat.js';
import { HostStates } from './host-states.js';
import type { Logger } from './log.js';

/** How often the heartbeat asks each engine whether it answers. */
const HEARTBEAT_MS = 1_000;

/**
 * The stack's hosts as the daemon follows them between reconciles: connections (the fleet),
 * their up / suspect / down states, and what the event streams and the heartbeat noticed since
 * the last look. Its callbacks only ever say "look again" (now, or at a time).
 */
export type FleetWatch = {
  /** The hosts and SSH settings it was opened for: another spec with other ones needs another. */
  readonly key: string;
  readonly fleet: Fleet;
  readonly hosts: HostStates;
  /**
   * Per host, containers an event said stopped, and when: the looks of the next few seconds
   * inspect each one the engine's list still shows running.
   */
  readonly stopped: Map<string, Map<string, number>>;
  /** When each host's event stream last dropped: its engine restarted or stopped answering. */
  readonly streamLost: Map<string, number>;
  /** The hosts connected so far, by name. */
  readonly clients: ReadonlyMap<string, HostClient>;
  /** Each engine's recent answers to the heartbeat, for EngineSlow. */
  readonly samples: EngineSamples;
  /** When each host's engine last answered anything; null before it first did. */
  lastAnswer(host: string): number | null;
  close(): Promise<void>;
};

export type FleetWatchOptions = {
  readonly log: Logger;
  readonly acceptNewHostKeys: boolean;
  readonly connectTimeoutMs: number;
  readonly trigger: () => void;
  readonly triggerAt: (at: number) => void;
};

export function watchKey(stack: Stack): string {
  return (
    JSON.stringify(stack.heal.hosts) + JSON.stringify(stack.heal.ssh) + JSON.stringify(stack.heal.timeouts)
  );
}

export function watchFleet(stack: Stack, options: FleetWatchOptions): FleetWatch {
  const { log, trigger, triggerAt } = options;
  const hosts = new HostStates(stack.heal.watch.hostDownAfter);
  const stopped = new Map<string, Map<string, number>>();
  const streamLost = new Map<string, number>();
  const clients = new Map<string, HostClient>();
  const samples = new EngineSamples();
  const fleet = openFleet(stack, {
    acceptNewHostKeys: options.acceptNewHostKeys,
    connectTimeoutMs: options.connectTimeoutMs,
    retryAfterMs: 1_000,
    log,
    onConnect: (client) => clients.set(client.host.name, client),
  });
  const lastAnswer = (host: string): number | null => clients.get(host)?.lastAnswer() ?? null;
  const silent = (host: string, error: string): void => {
    const now = Date.now();
    hosts.lost(host, now, error, lastAnswer(host));
    const down = hosts.downAt(host);
    trigger();
    if (down !== null) triggerAt(down);
  };

  const events = followEvents({
    stack: stack.name,
    hosts: Object.values(stack.heal.hosts),
    reach: fleet.reach,
    onSignal: (signal) => {
      if (signal.kind === 'lost') {
        streamLost.set(signal.host, Date.now());
        log.debug({ host: signal.host, error: signal.error }, 'event stream lost');
        return silent(signal.host, signal.error);
      }
      if (signal.kind === 'opened') {
        log.info({ host: signal.host }, 'host answers again');
        return trigger();
      }
      log.debug(
        { host: signal.host, action: signal.action, service: signal.service, slot: signal.slot },
        'docker event',
      );
      if (/^(die|kill|stop|oom)$/.test(signal.action) && signal.id !== '') {
        const ids = stopped.get(signal.host) ?? new Map<string, number>();
        stopped.set(signal.host, ids.set(signal.id, Date.now()));
      }
      trigger();
    },
  });
  const beats = heartbeat({
    hosts: Object.values(stack.heal.hosts),
    reach: fleet.reach,
    everyMs: HEARTBEAT_MS,
    silentAfterMs: stack.heal.watch.hostDownAfter * 0.75,
    onAnswer: (host, at, ms) => samples.record(host, at, ms),
    onBeat: (beat) => {
      if (beat.kind === 'silent') {
        log.debug({ host: beat.host, error: beat.error }, 'engine silent');
        return silent(beat.host, beat.error);
      }
      // Its event stream may have died with it without a word: a new one misses nothing from now on.
      events.reopen(beat.host);
      samples.forget(beat.host);
      trigger();
    },
  });
  return {
    key: watchKey(stack),
    fleet,
    hosts,
    stopped,
    streamLost,
    clients,
    samples,
    lastAnswer,
    close: async () => {
      beats.stop();
      events.stop();
      await fleet.close();
    },
  };
}
