import type { EngineSample } from '../planner/conditions.js';
import { ENGINE_SLOW_MAX_WINDOW } from '../spec/normalize-conditions.js';

/** At most this many answers per host (the heartbeat asks once a second: 10 minutes' worth). */
export const MAX_SAMPLES = 600;

/**
 * A host's engine answers as the heartbeat saw them, bounded: the newest `MAX_SAMPLES`, none
 * older than the longest `engine_slow.window` before the newest. Pure; returns a new list.
 */
export function addSample(samples: readonly EngineSample[], sample: EngineSample): EngineSample[] {
  const kept = samples.filter((item) => sample.at - item.at <= ENGINE_SLOW_MAX_WINDOW);
  kept.push(sample);
  return kept.length > MAX_SAMPLES ? kept.slice(kept.length - MAX_SAMPLES) : kept;
}

/** Each host's bounded window of answers, kept by the daemon between looks (in memory). */
export class EngineSamples {
  #byHost = new Map<string, readonly EngineSample[]>();

  /** One answer: its round trip in ms, or null when the ping failed or timed out. */
  record(host: string, at: number, ms: number | null): void {
    this.#byHost.set(host, addSample(this.#byHost.get(host) ?? [], { at, ms }));
  }

  /** A host back from silence starts afresh: its silence was the host-down path's, not slowness. */
  forget(host: string): void {
    this.#byHost.delete(host);
  }

  of(host: string): readonly EngineSample[] {
    return this.#byHost.get(host) ?? [];
  }
}
