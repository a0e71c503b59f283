import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HostClient } from '../../src/executor/host-client.js';
import type { Reach } from '../../src/executor/observe.js';
import type { Host } from '../../src/spec/types.js';
import type { DaemonState } from '../../src/watch/daemon-state.js';
import { heartbeat, type Beat } from '../../src/watch/heartbeat.js';
import { liveness } from '../../src/watch/status.js';

/** Moves the faked clock (timers and Date.now): a loaded machine cannot stretch these windows. */
const sleep = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** An engine whose answers the test turns off and on; it counts the questions it was asked. */
function engine(name: string) {
  let answering = true;
  let last: number | null = Date.now();
  let asked = 0;
  const waiting: (() => void)[] = [];
  const client = {
    host: { name },
    lastAnswer: () => last,
    ping: () => {
      asked += 1;
      if (answering) {
        last = Date.now();
        return Promise.resolve(1);
      }
      return new Promise<number>((resolve) =>
        waiting.push(() => {
          last = Date.now();
          resolve(1);
        }),
      );
    },
  } as unknown as HostClient;
  return {
    reach: { client } as Reach,
    asked: () => asked,
    hang: () => void (answering = false),
    answer: () => {
      answering = true;
      for (const release of waiting.splice(0)) release();
    },
  };
}

describe('heartbeat', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('reports an engine silent once, from its last answer, and again when it answers', async () => {
    const h1 = engine('h1');
    const beats: Beat[] = [];
    const hosts = [{ name: 'h1' } as Host];
    const beat = heartbeat({
      hosts,
      reach: async () => h1.reach,
      everyMs: 20,
      silentAfterMs: 150,
      onBeat: (b) => beats.push(b),
    });
    try {
      await sleep(100);
      expect(beats).toEqual([]);
      expect(h1.asked()).toBeGreaterThan(1);
      const hungAt = Date.now();
      h1.hang();
      await sleep(200);
      expect(beats).toHaveLength(1);
      const [silent] = beats;
      expect(silent).toMatchObject({ kind: 'silent', host: 'h1' });
      expect((silent as { since: number }).since).toBeLessThanOrEqual(hungAt);
      const asked = h1.asked();
      await sleep(200);
      // One question at a time: a hung engine is not asked again and again.
      expect(h1.asked()).toBe(asked);
      expect(beats).toHaveLength(1);
      h1.answer();
      await sleep(50);
      expect(beats.at(-1)).toEqual({ kind: 'answers', host: 'h1' });
    } finally {
      beat.stop();
    }
  });

  it('says nothing of an engine that answers late but within silentAfter', async () => {
    const h1 = engine('h1');
    const beats: Beat[] = [];
    const beat = heartbeat({
      hosts: [{ name: 'h1' } as Host],
      reach: async () => h1.reach,
      everyMs: 20,
      silentAfterMs: 400,
      onBeat: (b) => beats.push(b),
    });
    try {
      h1.hang();
      await sleep(200);
      h1.answer();
      await sleep(300);
      expect(beats).toEqual([]);
    } finally {
      beat.stop();
    }
  });
});

describe('liveness', () => {
  const state = (over: Partial<DaemonState>) => ({ aliveAt: 0, quietUntil: 0, ...over }) as DaemonState;

  it('is alive while the loop moved within the bound, or is in a wait it announced', () => {
    expect(liveness(state({ aliveAt: 1_000 }), 60_000, 60_000)).toEqual({ ok: true, why: 'ok' });
    expect(liveness(state({ aliveAt: 1_000, quietUntil: 100_000 }), 150_000, 60_000).ok).toBe(true);
  });

  it('fails, saying for how long, once the loop has not moved past the bound', () => {
    expect(liveness(state({ aliveAt: 1_000 }), 62_000, 60_000)).toEqual({
      ok: false,
      why: 'no reconcile has finished or moved on for 61 s',
    });
  });
});
