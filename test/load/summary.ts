/**
 * What a load run's records add up to: counts by outcome, latency percentiles, the distinct bodies
 * (the test image's `/host` names the replica that answered), and the window in which requests
 * failed. Pure: the records come in, nothing is measured here.
 */

/** Why a request failed. `unreachable`: no route or host (a host switched off, a cut link). */
export type FailReason = 'refused' | 'reset' | 'timeout' | 'unreachable' | 'http-5xx' | 'http-4xx' | 'error';

export const FAIL_REASONS: readonly FailReason[] = [
  'refused',
  'reset',
  'timeout',
  'unreachable',
  'http-5xx',
  'http-4xx',
  'error',
];

/** One request, as the generator saw it. */
export type RequestRecord = {
  /** The URL it was sent to. */
  readonly target: string;
  /** When it started, ms since the epoch (Date.now(), so tests can compare it with their own marks). */
  readonly startedAt: number;
  /** From its start to its answer's last byte, or to its failure (a monotonic clock). */
  readonly durationMs: number;
  readonly ok: boolean;
  /** Set when it failed. */
  readonly reason?: FailReason;
  /** The HTTP status, when an answer came. */
  readonly status?: number;
  /** The error's code or message, when no answer came (`ECONNREFUSED`, `timeout after 2000 ms`). */
  readonly error?: string;
  /** The answer's body, trimmed, when the run keeps bodies. */
  readonly body?: string;
};

export type TargetCounts = { readonly sent: number; readonly failed: number };

export type LoadSummary = {
  /** Requests that completed in the window (ok + failed). */
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly byReason: Readonly<Partial<Record<FailReason, number>>>;
  readonly byTarget: Readonly<Record<string, TargetCounts>>;
  /** Latency of the successful requests, ms; null when none succeeded. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  /** Distinct bodies of successful requests (kept bodies only), and how often each came. */
  readonly distinctBodies: number;
  readonly bodies: Readonly<Record<string, number>>;
  /** From the start of the first failed request to the start of the last one; null: none failed. */
  readonly failureWindow: { readonly first: number; readonly last: number; readonly ms: number } | null;
};

/** A time window over the records' start times, ms since the epoch: `from` included, `to` excluded. */
export type Window = { readonly from?: number; readonly to?: number };

/** The nearest-rank percentile of sorted values (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(records: readonly RequestRecord[], window: Window = {}): LoadSummary {
  const from = window.from ?? -Infinity;
  const to = window.to ?? Infinity;
  const within = records.filter((record) => record.startedAt >= from && record.startedAt < to);
  const byReason: Partial<Record<FailReason, number>> = {};
  const byTarget: Record<string, { sent: number; failed: number }> = {};
  const bodies: Record<string, number> = {};
  const latencies: number[] = [];
  let first: number | null = null;
  let last: number | null = null;
  for (const record of within) {
    const counts = (byTarget[record.target] ??= { sent: 0, failed: 0 });
    counts.sent += 1;
    if (record.ok) {
      latencies.push(record.durationMs);
      if (record.body !== undefined) bodies[record.body] = (bodies[record.body] ?? 0) + 1;
      continue;
    }
    counts.failed += 1;
    const reason = record.reason ?? 'error';
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    first = first === null ? record.startedAt : Math.min(first, record.startedAt);
    last = last === null ? record.startedAt : Math.max(last, record.startedAt);
  }
  latencies.sort((a, b) => a - b);
  const failed = within.length - latencies.length;
  return {
    sent: within.length,
    ok: latencies.length,
    failed,
    byReason,
    byTarget,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies.at(-1) ?? null),
    distinctBodies: Object.keys(bodies).length,
    bodies,
    failureWindow: first !== null && last !== null ? { first, last, ms: last - first } : null,
  };
}

function round(value: number | null): number | null {
  return value === null ? null : Math.round(value * 100) / 100;
}

/** One line for people: `sent 120, failed 3 (refused 2, timeout 1), p50 1.2 ms, p99 8 ms, 3 bodies`. */
export function describeSummary(summary: LoadSummary): string {
  const reasons = FAIL_REASONS.filter((reason) => summary.byReason[reason])
    .map((reason) => `${reason} ${summary.byReason[reason]}`)
    .join(', ');
  const parts = [
    `sent ${summary.sent}`,
    `failed ${summary.failed}${reasons ? ` (${reasons})` : ''}`,
    ...(summary.p50Ms !== null ? [`p50 ${summary.p50Ms} ms`, `p99 ${summary.p99Ms} ms`] : []),
    ...(summary.distinctBodies > 0 ? [`${summary.distinctBodies} distinct bodies`] : []),
    ...(summary.failureWindow ? [`failures within ${summary.failureWindow.ms} ms`] : []),
  ];
  return parts.join(', ');
}

/** What a run did between two summaries of it (`before` null: since its start), for a step of the demo. */
export function describeStep(now: LoadSummary, before: LoadSummary | null): string {
  const sent = now.sent - (before?.sent ?? 0);
  const failed = now.failed - (before?.failed ?? 0);
  const reasons = FAIL_REASONS.map(
    (reason) => [reason, (now.byReason[reason] ?? 0) - (before?.byReason[reason] ?? 0)] as const,
  )
    .filter(([, count]) => count > 0)
    .map(([reason, count]) => `${reason} ${count}`);
  const targets = Object.entries(now.byTarget)
    .map(([target, counts]) => [target, counts.failed - (before?.byTarget[target]?.failed ?? 0)] as const)
    .filter(([, count]) => count > 0)
    .map(([target, count]) => `${new URL(target).host}: ${count}`);
  const why = failed > 0 ? ` (${reasons.join(', ')}; at ${targets.join(', ')})` : '';
  return `this step ${sent} sent, ${failed} failed${why}; in all ${now.sent} sent, ${now.failed} failed`;
}
