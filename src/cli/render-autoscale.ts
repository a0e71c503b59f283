import type { Autoscaled } from '../planner/autoscale.js';
import type { Plan } from '../planner/plan-types.js';
import type { StatusRow } from '../planner/status.js';

/**
 * `web: replicas 3 → 7 (autoscaled: response time 420 ms > 200 ms target)`: what autoscaling
 * changes in a plan, or the count it holds when the plan keeps it.
 */
export function autoscaleLines(plan: Plan): string[] {
  return (plan.autoscaled ?? []).map((item) => {
    const summary = plan.summary[item.service];
    const from = summary ? summary.desired - summary.create + summary.remove : item.replicas;
    const count =
      from === item.replicas ? `replicas ${item.replicas}` : `replicas ${from} → ${item.replicas}`;
    return `${item.service}: ${count} (${why(item)})`;
  });
}

/** Under `heal status`'s table: each autoscaled service's count, bounds and reason. */
export function autoscaleStatusLines(rows: readonly StatusRow[]): string[] {
  return rows.flatMap((row) =>
    row.autoscale ? [`${row.service}: ${why({ ...row.autoscale, service: row.service })}`] : [],
  );
}

function why(item: Autoscaled): string {
  const bounds = `autoscaled within [${item.min}, ${item.max}]`;
  if (item.reason === null || item.at === null) return `${bounds}, at its start of ${item.start}`;
  return `${bounds}: ${item.reason}, at ${new Date(item.at).toISOString()}`;
}
