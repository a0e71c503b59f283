import type { Autoscale, UsageTarget } from '../spec/autoscale.js';
import type { Service, Stack } from '../spec/types.js';
import type { Observed, ObservedHost, ScaleMark } from './observed.js';

/**
 * What the mesh's proxies measured for one service over one interval. Figures are for the
 * service as a whole (every proxy on every host summed); null when not measured.
 */
export type ScaleMetrics = {
  /** Mean response time (ms) over the interval: Little's law, in-flight requests / rate. */
  readonly responseTime: number | null;
  /** Requests per second over the interval, every replica together. */
  readonly requestRate: number | null;
  /** Mean CPU per replica over the interval, in cores (Engine stats). */
  readonly cpuCores: number | null;
  /** Mean memory in use per replica over the interval, in bytes (Engine stats). */
  readonly memoryBytes: number | null;
  /** Running, healthy replicas the figures cover. */
  readonly replicas: number;
  /** Why the figures are incomplete (a proxy or replica did not answer, too few samples); null: complete. */
  readonly missing: string | null;
};

/** One recommendation of a past decision: what the figures alone asked for then. */
export type Recommendation = { readonly at: number; readonly replicas: number };

/** What a decision remembers: the daemon keeps it in memory and passes it back in. */
export type ScaleHistory = {
  /** Recommendations of the scale-down window, oldest first. */
  readonly recommendations: readonly Recommendation[];
  /** When the count last changed (epoch ms); null: not since heal started. */
  readonly lastChange: number | null;
};

export type ScaleDecision = {
  /** The count to hold from now on, always within [min, max]. */
  readonly replicas: number;
  /** Whether it differs from the current count. */
  readonly changed: boolean;
  /** Why, in a phrase a person reads: `response time 420 ms > 200 ms target`. */
  readonly reason: string;
  readonly history: ScaleHistory;
};

export const EMPTY_HISTORY: ScaleHistory = { recommendations: [], lastChange: null };

/**
 * HPA's algorithm (`replica_calculator.go`, `horizontal.go`), pure: `now` is passed in.
 *
 * - A count outside [min, max] (the spec changed them) is brought inside at once.
 * - No decision while the service rolls out or its replicas settle (`busy`), within `cooldown`
 *   of the last change, or on missing figures: the count stays, and nothing is recorded.
 * - Per target, ratio = measured / target; within `tolerance` of 1 it recommends the current
 *   count, else ceil(ratio × measured replicas). The highest recommendation of all targets wins.
 * - Up: at most max(scale_up.replicas, ceil(count × scale_up.percent %)) more at once.
 * - Down: the highest recommendation of the scale-down window wins, so a dip shorter than the
 *   window never removes a replica. A history that begins now (heal just started) counts the
 *   current count as recommended now: no scale-down before a full window of figures.
 */
export function decideScale(
  policy: Autoscale,
  current: number,
  history: ScaleHistory,
  metrics: ScaleMetrics | null,
  now: number,
  busy: string | null,
): ScaleDecision {
  const hold = (reason: string): ScaleDecision => ({ replicas: current, changed: false, reason, history });
  const clamped = clamp(current, policy);
  if (clamped !== current)
    return {
      replicas: clamped,
      changed: true,
      reason: clamped < policy.min ? `min is ${policy.min}` : `max is ${policy.max}`,
      history: { recommendations: [], lastChange: now },
    };
  if (busy !== null) return hold(busy);
  if (history.lastChange !== null && now - history.lastChange < policy.cooldown)
    return hold(`cooling down until ${policy.cooldown / 1000} s after the last change`);
  if (metrics === null) return hold('no figures yet');
  if (metrics.missing !== null) return hold(`no decision on incomplete figures: ${metrics.missing}`);

  const wanted = recommend(policy, current, metrics);
  if (wanted === null) return hold('no figures yet');
  const recommendation = clamp(wanted.replicas, policy);
  const seeded =
    history.recommendations.length === 0 ? [{ at: now, replicas: current }] : history.recommendations;
  const recommendations = [...seeded, { at: now, replicas: recommendation }].filter(
    (item) => item.at > now - policy.scaleDownWindow || item.at === now,
  );
  const kept: ScaleHistory = { recommendations, lastChange: history.lastChange };

  if (recommendation > current) {
    const step = Math.max(policy.scaleUp.replicas, Math.ceil((current * policy.scaleUp.percent) / 100));
    const next = Math.min(recommendation, current + step);
    return {
      replicas: next,
      changed: true,
      reason: wanted.reason,
      history: { recommendations, lastChange: now },
    };
  }
  if (recommendation < current) {
    const stabilized = Math.max(...recommendations.map((item) => item.replicas));
    if (stabilized < current)
      return {
        replicas: stabilized,
        changed: true,
        reason: `${wanted.reason} for ${Math.round(policy.scaleDownWindow / 1000)} s`,
        history: { recommendations, lastChange: now },
      };
    return { ...hold(`${wanted.reason}; held by the scale-down window`), history: kept };
  }
  return { ...hold(wanted.reason), history: kept };
}

type Wanted = { readonly replicas: number; readonly reason: string };

/** The highest recommendation of the policy's targets; null when none was measured. */
function recommend(policy: Autoscale, current: number, metrics: ScaleMetrics): Wanted | null {
  const base = Math.max(1, metrics.replicas);
  const options: Wanted[] = [];
  const consider = (measured: number, target: number, phrase: (sign: string) => string): void => {
    const ratio = measured / target;
    if (Math.abs(1 - ratio) <= policy.tolerance) {
      options.push({ replicas: current, reason: phrase('≈') });
      return;
    }
    options.push({ replicas: Math.ceil(ratio * base), reason: phrase(ratio > 1 ? '>' : '<') });
  };
  if (policy.responseTime !== null && metrics.responseTime !== null) {
    const target = policy.responseTime;
    const measured = metrics.responseTime;
    consider(measured, target, (sign) => `response time ${ms(measured)} ${sign} ${ms(target)} target`);
  }
  if (policy.requestsPerSecond !== null && metrics.requestRate !== null) {
    const target = policy.requestsPerSecond;
    const measured = metrics.requestRate / base;
    consider(
      measured,
      target,
      (sign) => `${rate(measured)} req/s per replica ${sign} ${rate(target)} target`,
    );
  }
  if (policy.cpu !== null && metrics.cpuCores !== null) {
    const target = policy.cpu;
    const measured = metrics.cpuCores;
    consider(
      measured,
      target.amount,
      (sign) => `cpu ${usage(measured, target, cores)} ${sign} ${usage(target.amount, target, cores)} target`,
    );
  }
  if (policy.memory !== null && metrics.memoryBytes !== null) {
    const target = policy.memory;
    const measured = metrics.memoryBytes;
    consider(
      measured,
      target.amount,
      (sign) =>
        `memory ${usage(measured, target, mebibytes)} ${sign} ${usage(target.amount, target, mebibytes)} target`,
    );
  }
  // A target the figures lack: no decision rather than one from the others alone.
  const expected = [policy.responseTime, policy.requestsPerSecond, policy.cpu, policy.memory].filter(
    (target) => target !== null,
  ).length;
  if (options.length === 0 || options.length < expected) return null;
  return options.reduce((best, option) => (option.replicas > best.replicas ? option : best));
}

function clamp(count: number, policy: Pick<Autoscale, 'min' | 'max'>): number {
  return Math.min(policy.max, Math.max(policy.min, count));
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

/** A CPU or memory figure as its target was written: a percent of what it is of, else an amount. */
function usage(value: number, target: UsageTarget, amount: (value: number) => string): string {
  if (target.percent === null) return amount(value);
  return `${Math.round((value / target.amount) * target.percent.value)}%`;
}

function cores(value: number): string {
  return `${value.toFixed(2)} cores`;
}

function mebibytes(value: number): string {
  const mib = value / 1024 ** 2;
  return `${mib >= 10 ? Math.round(mib) : mib.toFixed(1)} MiB`;
}

function rate(value: number): string {
  return value >= 10 ? String(Math.round(value)) : value.toFixed(1);
}

/** An autoscaled service's count as the hosts hold it, for plan, status and the page. */
export type Autoscaled = {
  readonly service: string;
  /** The count in force: the newest mark's, within [min, max]; `start` without one. */
  readonly replicas: number;
  /** Where autoscaling starts: `deploy.replicas`, or `min`. */
  readonly start: number;
  readonly min: number;
  readonly max: number;
  /** The newest mark's reason; null when no mark (the count is `start`). */
  readonly reason: string | null;
  /** When the newest mark was written (epoch ms); null without one. */
  readonly at: number | null;
};

/**
 * The stack with each autoscaled service's `replicas` set to the count the hosts record (the
 * newest scale mark any reachable host holds), kept within the spec's [min, max]: git says the
 * bounds and where to start, the hosts say where autoscaling has taken it.
 */
export function autoscaledStack(
  stack: Stack,
  observed: Observed,
): { stack: Stack; autoscaled: Autoscaled[] } {
  const marks = observed.hosts.filter((host) => host.reachable).flatMap((host) => host.scales ?? []);
  const autoscaled: Autoscaled[] = [];
  const services: Record<string, Service> = {};
  for (const service of Object.values(stack.services)) {
    const policy = service.deploy.autoscale;
    if (!policy) {
      services[service.name] = service;
      continue;
    }
    const mark = newest(marks, service.name);
    const start = service.deploy.replicas;
    const replicas = mark ? clamp(mark.replicas, policy) : start;
    autoscaled.push({
      service: service.name,
      replicas,
      start,
      min: policy.min,
      max: policy.max,
      reason: mark?.reason ?? null,
      at: mark?.at ?? null,
    });
    services[service.name] =
      replicas === start ? service : { ...service, deploy: { ...service.deploy, replicas } };
  }
  if (autoscaled.length === 0) return { stack, autoscaled };
  return {
    stack: { ...stack, services },
    autoscaled: autoscaled.sort((a, b) => (a.service < b.service ? -1 : 1)),
  };
}

/** The newest mark of the service: latest `at`, then the greatest name (deterministic). */
export function newest(marks: readonly ScaleMark[], service: string): ScaleMark | null {
  let best: ScaleMark | null = null;
  for (const mark of marks) {
    if (mark.service !== service) continue;
    if (best === null || mark.at > best.at || (mark.at === best.at && mark.name > best.name)) best = mark;
  }
  return best;
}

/** ` (autoscaled: why)` for a removal or creation an autoscaled count causes; '' otherwise. */
export function scaleNote(autoscaled: readonly Autoscaled[], service: string): string {
  const found = autoscaled.find((item) => item.service === service);
  if (!found) return '';
  return found.reason ? ` (autoscaled: ${found.reason})` : ' (autoscaled)';
}

/**
 * Scale marks on usable hosts of services the spec does not autoscale (any more, or at all: `heal
 * down` plans the stack without services): the plan removes them in its clean-up, so switching
 * autoscaling back on starts again from `deploy.replicas`, as a stack removed and deployed again.
 */
export function staleScales(stack: Stack, usable: readonly ObservedHost[]): ScaleMark[] {
  return usable.flatMap((host) =>
    (host.scales ?? []).filter((mark) => !stack.services[mark.service]?.deploy.autoscale),
  );
}
