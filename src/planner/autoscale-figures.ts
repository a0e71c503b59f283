import type { ScaleMetrics } from './autoscale.js';

/** One look at every proxy of a service: per host, its counters or why it did not answer. */
export type ProxyLook = {
  readonly at: number;
  readonly hosts: Readonly<
    Record<string, { readonly sessions: number; readonly inflight: number } | { readonly error: string }>
  >;
};

/**
 * The figures of one interval from the looks taken during it (oldest first), pure.
 *
 * HAProxy's own `rtime` averages the last 1024 requests whatever their age: at 5 requests/s it
 * still reflects the last three minutes, so a decision would read the past. Cumulative counters
 * do not lag: requests per second are the growth of `stot` between the first and last look, and
 * the mean response time follows from Little's law (mean requests in flight = rate × mean time in
 * the system), with the in-flight count (`scur` + `qcur`) averaged over every look of the interval.
 */
export function intervalFigures(
  looks: readonly ProxyLook[],
  replicas: number,
  minSpanMs: number,
): ScaleMetrics {
  const missing = (why: string): ScaleMetrics => ({
    ...NO_FIGURES,
    replicas,
    missing: why,
  });
  const problem = looksProblem(looks, (look) => look.hosts, minSpanMs, {
    few: 'fewer than two looks at the proxies this interval',
    span: 'the looks span',
    none: 'no mesh proxy of the service runs',
    failed: (host) => `the proxy on ${host} did not answer`,
  });
  if (problem !== null) return missing(problem);
  const first = looks[0]!;
  const last = looks[looks.length - 1]!;
  const span = last.at - first.at;
  const hosts = Object.keys(last.hosts).sort();
  let completed = 0;
  for (const host of hosts) {
    const before = first.hosts[host];
    const after = last.hosts[host]!;
    if (before === undefined || 'error' in before || 'error' in after)
      return missing(`the proxy on ${host} was not seen the whole interval`);
    if (after.sessions < before.sessions) return missing(`the proxy on ${host} restarted`);
    completed += after.sessions - before.sessions;
  }
  const inflight =
    looks.reduce(
      (sum, look) =>
        sum +
        Object.values(look.hosts).reduce((all, value) => all + ('error' in value ? 0 : value.inflight), 0),
      0,
    ) / looks.length;
  const requestRate = completed / (span / 1000);
  const responseTime = requestRate > 0 ? (inflight / requestRate) * 1000 : inflight > 0 ? span : 0;
  return { ...NO_FIGURES, responseTime, requestRate, replicas };
}

const NO_FIGURES = {
  responseTime: null,
  requestRate: null,
  cpuCores: null,
  memoryBytes: null,
  missing: null,
} as const;

/**
 * The figures of one interval from what was read: the proxies' (null when the policy has no
 * mesh target) and the replicas' stats (null when it has no cpu or memory target). Either one
 * incomplete makes them all incomplete.
 */
export function combineFigures(
  replicas: number,
  mesh: ScaleMetrics | null,
  usage: UsageFigures | null,
): ScaleMetrics {
  return {
    ...NO_FIGURES,
    ...(mesh ?? {}),
    replicas,
    cpuCores: usage?.cpuCores ?? null,
    memoryBytes: usage?.memoryBytes ?? null,
    missing: mesh?.missing ?? usage?.missing ?? null,
  };
}

/** One reading of a replica's Engine stats (one-shot): cumulative CPU time and memory in use. */
export type UsageReading = {
  /** When the engine read it (epoch ms; heal's clock when the engine gave no time). */
  readonly at: number;
  /** `cpu_stats.cpu_usage.total_usage`: CPU time used since the container started, in ns. */
  readonly cpuNs: number;
  /** Memory in use as `docker stats` counts it: usage minus the inactive page cache. */
  readonly memoryBytes: number;
};

/** One look at every replica of a service: per container id, its reading or why it did not answer. */
export type UsageLook = {
  readonly at: number;
  readonly replicas: Readonly<Record<string, UsageReading | { readonly error: string }>>;
};

/** The CPU and memory figures of one interval, per replica; `missing` says why there are none. */
export type UsageFigures = {
  readonly cpuCores: number | null;
  readonly memoryBytes: number | null;
  readonly missing: string | null;
};

/**
 * Cores one replica used between two of heal's readings: the growth of its CPU time over the
 * wall-clock time between them (1 core busy the whole time = 1). dockerd 20.10+ gives a one-shot
 * reading no `precpu_stats`, so the previous reading is heal's own. Null when the counter went
 * back (the container restarted) or no time passed.
 */
export function cpuCores(before: UsageReading, after: UsageReading): number | null {
  const elapsedNs = (after.at - before.at) * 1e6;
  if (elapsedNs <= 0 || after.cpuNs < before.cpuNs) return null;
  return (after.cpuNs - before.cpuNs) / elapsedNs;
}

/**
 * The mean CPU (cores) and memory (bytes) per replica over the looks of one interval, pure: CPU
 * from each replica's first and last reading, memory averaged over every reading. Any replica
 * that did not answer, or was not seen the whole interval, leaves the figures incomplete: no
 * decision rather than one from part of the service.
 */
export function usageFigures(looks: readonly UsageLook[], minSpanMs: number): UsageFigures {
  const missing = (why: string): UsageFigures => ({ cpuCores: null, memoryBytes: null, missing: why });
  const problem = looksProblem(looks, (look) => look.replicas, minSpanMs, {
    few: 'fewer than two readings of the replicas this interval',
    span: 'the readings span',
    none: 'no replica runs to read',
    failed: (id) => `replica ${short(id)} did not answer`,
  });
  if (problem !== null) return missing(problem);
  const first = looks[0]!;
  const last = looks[looks.length - 1]!;
  const ids = Object.keys(last.replicas).sort();
  let cores = 0;
  for (const id of ids) {
    const before = first.replicas[id];
    const after = last.replicas[id]!;
    if (before === undefined || 'error' in before || 'error' in after)
      return missing(`replica ${short(id)} was not read the whole interval`);
    const used = cpuCores(before, after);
    if (used === null) return missing(`replica ${short(id)} restarted`);
    cores += used;
  }
  const memory =
    looks.reduce((sum, look) => {
      const readings = Object.values(look.replicas).flatMap((value) => ('error' in value ? [] : [value]));
      return (
        sum + readings.reduce((all, reading) => all + reading.memoryBytes, 0) / Math.max(1, readings.length)
      );
    }, 0) / looks.length;
  return { cpuCores: cores / ids.length, memoryBytes: memory, missing: null };
}

function short(id: string): string {
  return id.slice(0, 12);
}

/** How an interval's looks are named in the reasons they give no figures. */
type LookWords = {
  readonly few: string;
  readonly span: string;
  readonly none: string;
  readonly failed: (key: string) => string;
};

/**
 * Why an interval's looks give no figures, or null: fewer than two, spanning less than
 * `minSpanMs`, nothing read in the last, or anything in any look that did not answer. Shared by
 * the proxies' looks and the replicas' stats readings.
 */
function looksProblem<Look extends { readonly at: number }>(
  looks: readonly Look[],
  entries: (look: Look) => Readonly<Record<string, object>>,
  minSpanMs: number,
  words: LookWords,
): string | null {
  if (looks.length < 2) return words.few;
  const first = looks[0]!;
  const last = looks[looks.length - 1]!;
  const span = last.at - first.at;
  if (span < minSpanMs) return `${words.span} ${span} ms of the ${minSpanMs} ms needed`;
  if (Object.keys(entries(last)).length === 0) return words.none;
  for (const look of looks)
    for (const [key, value] of Object.entries(entries(look)))
      if ('error' in value) return `${words.failed(key)}: ${String(value.error)}`;
  return null;
}
