import { describe, expect, it } from 'vitest';
import {
  drainFigures,
  drainRows,
  FAILED_ROW,
  healSteps,
  SECONDS_ROW,
  TAIL_MS,
  type DrainFigures,
} from '../../bench/drain-figures.js';
import type { RequestRecord } from '../../test/load/summary.js';

const T0 = 1_000_000;

const ok = (startedAt: number, target = 'http://h1/host'): RequestRecord => ({
  target,
  startedAt,
  durationMs: 3,
  ok: true,
});
const refused = (startedAt: number, target = 'http://h2/host'): RequestRecord => ({
  target,
  startedAt,
  durationMs: 1,
  ok: false,
  reason: 'refused',
  error: 'ECONNREFUSED',
});

const figures = (over: Partial<DrainFigures> = {}): DrainFigures => ({
  seconds: 12,
  sent: 460,
  failed: 0,
  byReason: {},
  fewestRunning: 3,
  runningAfter: 3,
  steps: {},
  ...over,
});

describe('drainFigures', () => {
  it('counts the requests started from t0 until the tail after the host is empty, and no others', () => {
    const emptyAt = T0 + 1_500;
    const records = [
      refused(T0 - 1), // before the drain
      ok(T0),
      refused(T0 + 1_000),
      refused(emptyAt + TAIL_MS - 1),
      refused(emptyAt + TAIL_MS), // after the window
    ];
    const result = drainFigures({ t0: T0, emptyAt, records, fewestRunning: 2, runningAfter: 2 });
    expect(result).toEqual({
      seconds: 1.5,
      sent: 3,
      failed: 2,
      byReason: { refused: 2 },
      fewestRunning: 2,
      runningAfter: 2,
      steps: {},
    });
  });

  it('gives each step in seconds from t0', () => {
    const run = { t0: T0, emptyAt: T0 + 9_000, records: [], fewestRunning: 3, runningAfter: 3 };
    expect(drainFigures({ ...run, steps: { draining: T0 + 4_250 } }).steps).toEqual({ draining: 4.25 });
  });

  it('refuses a host seen empty before its drain began', () => {
    expect(() =>
      drainFigures({ t0: T0, emptyAt: T0 - 1, records: [], fewestRunning: 3, runningAfter: 3 }),
    ).toThrow(/before the drain began/);
  });
});

describe('healSteps', () => {
  const line = (msg: string, host: string, at: number): string =>
    JSON.stringify({ level: 'warn', time: new Date(at).toISOString(), msg, host, stack: 'bdrain' });

  it("takes the first cordon and drain of the host at or after t0 from the daemon's log", () => {
    const log = [
      line('host cordoned', 'h2', T0 - 5_000), // an earlier one
      'not json',
      line('host cordoned', 'h3', T0 + 1_000), // another host
      line('host cordoned', 'h2', T0 + 2_000),
      line('host draining', 'h2', T0 + 4_000),
      line('host draining', 'h2', T0 + 6_000),
    ].join('\n');
    expect(healSteps(log, 'h2', T0)).toEqual({ cordoned: T0 + 2_000, draining: T0 + 4_000 });
    expect(healSteps(log, 'h1', T0)).toEqual({});
  });

  it('leaves out a cordon logged only after the drain began (the host emptied)', () => {
    const log = [line('host draining', 'h2', T0 + 7_000), line('host cordoned', 'h2', T0 + 13_000)].join(
      '\n',
    );
    expect(healSteps(log, 'h2', T0)).toEqual({ draining: T0 + 7_000 });
  });
});

describe('drainRows', () => {
  it("puts heal's and Swarm's figures side by side, with the ratio and heal's target", () => {
    const [seconds, failed] = drainRows(
      figures({ steps: { cordoned: 2.1, draining: 4.2 } }),
      figures({ seconds: 1.5, sent: 136, failed: 33, byReason: { refused: 33 }, runningAfter: 2 }),
    );
    expect(seconds).toMatchObject({
      name: SECONDS_ROW,
      heal: 12,
      swarm: 1.5,
      unit: 's',
      note: '8.00x Swarm',
    });
    expect(failed).toMatchObject({
      name: FAILED_ROW,
      heal: 0,
      swarm: 33,
      unit: 'requests',
      target: { text: 'heal 0 failed: 0 of 460 (0%)', met: true },
      note: 'heal 0 of 460 (0%), never fewer than 3 running, cordoned after 2.1 s, draining after 4.2 s; Swarm 33 of 136 (24.26%), 2 running after',
    });
    expect(failed!.extra).toMatchObject({
      'swarm.refused': 33,
      'swarm.sent': 136,
      'heal.sent': 460,
      'heal.drainingAfter': 4.2,
    });
  });

  it('misses the target on any failed request of heal, or when no request was counted', () => {
    expect(drainRows(figures({ failed: 1 }), figures())[1]!.target?.met).toBe(false);
    expect(drainRows(figures({ sent: 0 }), figures())[1]!.target?.met).toBe(false);
  });

  it('gives a side it could not measure no figure, and says why', () => {
    const [seconds, failed] = drainRows(figures(), { why: 'swarm init failed' });
    expect(seconds).toMatchObject({ heal: 12, swarm: null, note: 'swarm not measured: swarm init failed' });
    expect(seconds!.extra).toBeUndefined();
    expect(failed).toMatchObject({ heal: 0, swarm: null, target: { met: true } });
    const [, none] = drainRows({ why: 'no mesh' }, { why: 'no swarm' });
    expect(none).toMatchObject({ heal: null, swarm: null, target: { met: false } });
    expect(none!.note).toBe('heal not measured: no mesh; swarm not measured: no swarm');
  });
});
