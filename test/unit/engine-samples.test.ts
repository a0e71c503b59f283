import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DockerApiError, HostUnreachableError } from '../../src/executor/errors.js';
import type { HostClient } from '../../src/executor/host-client.js';
import type { Reach } from '../../src/executor/observe.js';
import {
  readEngineSlow,
  trackConditions,
  type EngineSample,
  type HostCondition,
} from '../../src/planner/conditions.js';
import { CONDITIONS_DEFAULTS } from '../../src/spec/normalize-conditions.js';
import type { Observed, ObservedHost } from '../../src/planner/observed.js';
import type { Host, Stack } from '../../src/spec/types.js';
import { addSample, EngineSamples, MAX_SAMPLES } from '../../src/watch/engine-samples.js';
import { heartbeat } from '../../src/watch/heartbeat.js';
import { trackHostConditions } from '../../src/watch/host-conditions.js';

/* EngineSlow: the heartbeat's answers, kept per host in a bounded window, read by the planner. */

const CONFIG = CONDITIONS_DEFAULTS.engineSlow; // latency 2s, readings 3, window 1m
const T0 = 1_700_000_000_000;

/** One answer a second from T0, `ms` each (null: failed). */
function answers(...times: (number | null)[]): EngineSample[] {
  return times.map((ms, index) => ({ at: T0 + index * 1_000, ms }));
}

describe('engine samples', () => {
  it('keeps each host apart, newest last, and forgets what is older than the longest window', () => {
    const samples = new EngineSamples();
    samples.record('h1', T0, 3);
    samples.record('h2', T0, 4);
    samples.record('h1', T0 + 1_000, null);
    expect(samples.of('h1')).toEqual([
      { at: T0, ms: 3 },
      { at: T0 + 1_000, ms: null },
    ]);
    expect(samples.of('h3')).toEqual([]);
    samples.record('h1', T0 + 601_001, 5);
    expect(samples.of('h1')).toEqual([{ at: T0 + 601_001, ms: 5 }]);
  });

  it('forgets a host back from silence', () => {
    const samples = new EngineSamples();
    samples.record('h1', T0, null);
    samples.forget('h1');
    expect(samples.of('h1')).toEqual([]);
  });

  it('keeps at most MAX_SAMPLES', () => {
    let kept: EngineSample[] = [];
    for (let index = 0; index < MAX_SAMPLES + 50; index += 1)
      kept = addSample(kept, { at: T0 + index * 10, ms: index });
    expect(kept).toHaveLength(MAX_SAMPLES);
    expect(kept[0]!.ms).toBe(50);
    expect(kept.at(-1)!.ms).toBe(MAX_SAMPLES + 49);
  });
});

describe('EngineSlow', () => {
  it('holds once `readings` answers in the window were slow or missing, with the numbers', () => {
    const samples = answers(5, 2_500, 4_100, 3, 2_200);
    expect(readEngineSlow(samples, T0 + 5_000, CONFIG)).toEqual({
      type: 'EngineSlow',
      message: 'engine answered 3 of the last 5 pings slower than 2s (max 4.1s)',
    });
    expect(readEngineSlow(answers(null, 9, null, 3_000), T0 + 4_000, CONFIG)?.message).toBe(
      'engine answered 1 of the last 4 pings slower than 2s (max 3s), and did not answer 2',
    );
    expect(readEngineSlow(answers(null, null, null), T0 + 3_000, CONFIG)?.message).toBe(
      'engine did not answer 3 of the last 3 pings',
    );
  });

  it('does not hold on fewer slow answers, on answers at the threshold, or on old ones', () => {
    expect(readEngineSlow(answers(5, 2_500, 4_100, 3), T0 + 4_000, CONFIG)).toBeNull();
    expect(readEngineSlow(answers(2_000, 2_000, 2_000), T0 + 3_000, CONFIG)).toBeNull();
    // The first two slow answers fell out of the minute.
    expect(readEngineSlow(answers(3_000, 3_000, 3_000), T0 + 61_500, CONFIG)).toBeNull();
    expect(readEngineSlow([], T0, CONFIG)).toBeNull();
  });

  it('follows the config: readings, latency and window', () => {
    const samples = answers(600, 700, 20);
    expect(readEngineSlow(samples, T0 + 3_000, { latency: 500, readings: 2, window: 10_000 })).not.toBeNull();
    expect(readEngineSlow(samples, T0 + 3_000, { latency: 650, readings: 2, window: 10_000 })).toBeNull();
    expect(readEngineSlow(samples, T0 + 3_000, { latency: 500, readings: 2, window: 1_500 })).toBeNull();
  });
});

describe('tracking only what was read', () => {
  const memory: HostCondition = { type: 'MemoryPressure', message: 'm', since: T0, clearedAt: null };
  const slow = { type: 'EngineSlow', message: 'e' } as const;

  it('a host whose probe failed keeps its probe conditions, and EngineSlow is read alone', () => {
    const next = trackConditions([memory], [slow], T0 + 5_000, 60_000, ['EngineSlow']);
    expect(next).toEqual([{ ...slow, since: T0 + 5_000, clearedAt: null }, memory]);
    // EngineSlow clears; MemoryPressure, not read, stays as it was.
    expect(trackConditions(next, [], T0 + 9_000, 60_000, ['EngineSlow'])).toEqual([
      { ...slow, since: T0 + 5_000, clearedAt: T0 + 9_000 },
      memory,
    ]);
  });

  it('everything read: a condition not seen clears', () => {
    expect(trackConditions([memory], [slow], T0 + 5_000, 60_000)).toEqual([
      { ...slow, since: T0 + 5_000, clearedAt: null },
      { ...memory, clearedAt: T0 + 5_000 },
    ]);
  });
});

describe('the daemon reads EngineSlow beside the probe', () => {
  const stack = { heal: { conditions: { ...CONDITIONS_DEFAULTS, recover: 60_000 } } } as unknown as Stack;
  const host = (name: string, extra: object): ObservedHost =>
    ({ name, reachable: true, ...extra }) as ObservedHost;
  const slowSamples = {
    of: (name: string) => (name === 'h1' ? answers(3_000, 3_000, null) : answers(5, 5, 5)),
  };

  it('from the samples alone when the probe failed, and not at all for an unreachable host', () => {
    const owner = {};
    const observed = {
      hosts: [
        host('h1', { probe: { memory: null, disk: null, error: 'probe failed: exit 1' } }),
        host('h2', { probe: null }),
        host('h3', { reachable: false }),
      ],
    } as unknown as Observed;
    const tracked = trackHostConditions(owner, stack, observed, T0 + 3_000, slowSamples);
    expect(Object.keys(tracked)).toEqual(['h1']);
    expect(tracked.h1).toEqual([
      {
        type: 'EngineSlow',
        message: 'engine answered 2 of the last 3 pings slower than 2s (max 3s), and did not answer 1',
        since: T0 + 3_000,
        clearedAt: null,
      },
    ]);
  });
});

describe('the heartbeat samples each answer', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('records round trips and engine failures, but not a connection that is gone', async () => {
    const answers: Error[] = [
      new HostUnreachableError('h1', 'timeout', 'the engine did not answer /_ping within 10 ms'),
      new DockerApiError('h1', 'ping', 500, 'HTTP 500'),
      new HostUnreachableError('h1', 'closed', 'the connection closed'),
    ];
    const client = {
      lastAnswer: () => Date.now(),
      ping: () => {
        const next = answers.shift();
        return next ? Promise.reject(next) : Promise.resolve(7);
      },
    } as unknown as HostClient;
    const seen: (number | null)[] = [];
    const beat = heartbeat({
      hosts: [{ name: 'h1' } as Host],
      reach: async () => ({ client }) as Reach,
      everyMs: 20,
      silentAfterMs: 10_000,
      onBeat: () => undefined,
      onAnswer: (host, _at, ms) => seen.push(ms),
    });
    try {
      await vi.advanceTimersByTimeAsync(100);
    } finally {
      beat.stop();
    }
    expect(seen.slice(0, 3)).toEqual([null, null, 7]);
  });
});
