/**
 * The drain rows' figures (issue 19), from what bench/drain-rows.ts measured on the bed: when the
 * drain began (t0: the condition made, or Swarm's `docker node update --availability drain`),
 * when the host was first seen with no replica, and the load's records. Pure: nothing is measured
 * here, so the unit tests can hand it any run.
 */
import type { FailReason, RequestRecord } from '../test/load/summary.js';
import { summarize } from '../test/load/summary.js';
import type { ResultRow } from './results-row.js';

/**
 * Requests are counted from t0 until this long after the host is empty: a balancer that lists the
 * three hosts goes on sending to the drained one, so what its port does then is part of the drain
 * (heal's mesh proxy there still serves; Swarm's host-mode port there has nothing behind it).
 */
export const TAIL_MS = 5_000;

/** One side's drain, as measured. Times are ms since the epoch. */
export type DrainRun = {
  readonly t0: number;
  /** When the drained host was first seen running no replica of the service. */
  readonly emptyAt: number;
  readonly records: readonly RequestRecord[];
  /** Replicas running on every host, the fewest seen from t0 until empty. */
  readonly fewestRunning: number;
  /** Replicas running once the tail is over. */
  readonly runningAfter: number;
  /** Steps on the way, by name (ms since the epoch): heal's `cordoned` and `draining`. */
  readonly steps?: Readonly<Record<string, number>>;
};

export type DrainFigures = {
  /** From t0 to the host empty. */
  readonly seconds: number;
  readonly sent: number;
  readonly failed: number;
  readonly byReason: Readonly<Partial<Record<FailReason, number>>>;
  readonly fewestRunning: number;
  readonly runningAfter: number;
  /** Each step's seconds from t0. */
  readonly steps: Readonly<Record<string, number>>;
};

/** A side that could not be measured says why, and has no figure. */
export type DrainSide = DrainFigures | { readonly why: string };

export function drainFigures(run: DrainRun, tailMs = TAIL_MS): DrainFigures {
  if (run.emptyAt < run.t0) throw new Error('drainFigures: the host was empty before the drain began');
  const window = summarize(run.records, { from: run.t0, to: run.emptyAt + tailMs });
  return {
    seconds: round((run.emptyAt - run.t0) / 1000),
    sent: window.sent,
    failed: window.failed,
    byReason: window.byReason,
    fewestRunning: run.fewestRunning,
    runningAfter: run.runningAfter,
    steps: Object.fromEntries(
      Object.entries(run.steps ?? {}).map(([step, at]) => [step, round((at - run.t0) / 1000)]),
    ),
  };
}

/**
 * When `heal watch` first logged `host cordoned` and `host draining` for `host` at or after t0,
 * from its JSON log lines (`time` in ISO form); a line that is not JSON is skipped. A cordon
 * logged only after the drain began is left out: a look that passes drain_after at once drains
 * without a cordon first, and the emptied host is then logged as cordoned.
 */
export function healSteps(log: string, host: string, t0: number): Record<string, number> {
  const steps: Record<string, number> = {};
  for (const line of log.split('\n')) {
    let parsed: { msg?: unknown; host?: unknown; time?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      continue;
    }
    const at = typeof parsed.time === 'string' ? Date.parse(parsed.time) : NaN;
    if (parsed.host !== host || Number.isNaN(at) || at < t0) continue;
    const step =
      parsed.msg === 'host cordoned' ? 'cordoned' : parsed.msg === 'host draining' ? 'draining' : null;
    if (step && steps[step] === undefined) steps[step] = at;
  }
  // A host emptied by its drain is logged as cordoned again (nothing left to move): not a step.
  if (steps.cordoned !== undefined && steps.draining !== undefined && steps.cordoned > steps.draining)
    delete steps.cordoned;
  return steps;
}

export const SECONDS_ROW =
  'drain: a condition (heal) / `docker node update --availability drain` (Swarm) → the host empty, under load';
export const FAILED_ROW = `drain: requests failed from then until ${TAIL_MS / 1000} s after the host is empty (heal: the mesh; Swarm: host-mode ports)`;

const measured = (side: DrainSide): side is DrainFigures => !('why' in side);

/** `12 of 460 (2.6%)` */
export function failedText(figures: DrainFigures): string {
  const share = figures.sent > 0 ? ` (${round((100 * figures.failed) / figures.sent)}%)` : '';
  return `${figures.failed} of ${figures.sent}${share}`;
}

/** The side's extra figures, each prefixed by its column. */
function extraOf(column: 'heal' | 'swarm', side: DrainSide): Record<string, number> {
  if (!measured(side)) return {};
  const extra: Record<string, number> = {
    [`${column}.sent`]: side.sent,
    [`${column}.fewestRunning`]: side.fewestRunning,
    [`${column}.runningAfter`]: side.runningAfter,
  };
  for (const [reason, count] of Object.entries(side.byReason)) extra[`${column}.${reason}`] = count;
  for (const [step, seconds] of Object.entries(side.steps)) extra[`${column}.${step}After`] = seconds;
  return extra;
}

/**
 * The two rows: the seconds to empty (with heal's time as a ratio of Swarm's), and the requests
 * failed (target: 0 for heal; Swarm's figure beside it).
 */
export function drainRows(heal: DrainSide, swarm: DrainSide): ResultRow[] {
  const notes = (['heal', 'swarm'] as const).flatMap((column) => {
    const side = column === 'heal' ? heal : swarm;
    return measured(side) ? [] : [`${column} not measured: ${side.why}`];
  });
  const extra = { ...extraOf('heal', heal), ...extraOf('swarm', swarm) };
  const healSeconds = measured(heal) ? heal.seconds : null;
  const swarmSeconds = measured(swarm) ? swarm.seconds : null;
  const ratio =
    healSeconds !== null && swarmSeconds !== null && swarmSeconds > 0 ? healSeconds / swarmSeconds : null;
  const seconds: ResultRow = {
    name: SECONDS_ROW,
    heal: healSeconds,
    swarm: swarmSeconds,
    floor: null,
    unit: 's',
    ...(ratio !== null ? { extra: { ratio: round(ratio) } } : {}),
    ...noteOf([ratio !== null ? `${ratio.toFixed(2)}x Swarm` : '', ...notes]),
  };
  const failedNote = [
    measured(heal)
      ? `heal ${failedText(heal)}, never fewer than ${heal.fewestRunning} running${stepsText(heal)}`
      : '',
    measured(swarm) ? `Swarm ${failedText(swarm)}, ${swarm.runningAfter} running after` : '',
    ...notes,
  ];
  const failed: ResultRow = {
    name: FAILED_ROW,
    heal: measured(heal) ? heal.failed : null,
    swarm: measured(swarm) ? swarm.failed : null,
    floor: null,
    unit: 'requests',
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    target: measured(heal)
      ? { text: `heal 0 failed: ${failedText(heal)}`, met: heal.failed === 0 && heal.sent > 0 }
      : { text: 'heal 0 failed: not measured', met: false },
    ...noteOf(failedNote),
  };
  return [seconds, failed];
}

/** `, draining after 5.2 s` */
function stepsText(figures: DrainFigures): string {
  return Object.entries(figures.steps)
    .map(([step, seconds]) => `, ${step} after ${seconds} s`)
    .join('');
}

/** The non-empty parts, joined; no `note` at all when there are none. */
function noteOf(parts: readonly string[]): { note?: string } {
  const text = parts.filter((part) => part !== '').join('; ');
  return text === '' ? {} : { note: text };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
