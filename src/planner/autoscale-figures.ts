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
    responseTime: null,
    requestRate: null,
    replicas,
    missing: why,
  });
  if (looks.length < 2) return missing('fewer than two looks at the proxies this interval');
  const first = looks[0]!;
  const last = looks[looks.length - 1]!;
  const span = last.at - first.at;
  if (span < minSpanMs) return missing(`the looks span ${span} ms of the ${minSpanMs} ms needed`);
  const hosts = Object.keys(last.hosts).sort();
  if (hosts.length === 0) return missing('no mesh proxy of the service runs');
  for (const look of looks)
    for (const [host, value] of Object.entries(look.hosts))
      if ('error' in value) return missing(`the proxy on ${host} did not answer: ${value.error}`);
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
  return { responseTime, requestRate, replicas, missing: null };
}
