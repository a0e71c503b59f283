import { describe, expect, it } from 'vitest';
import { benchPlan, FULL_SIZE, planBenchInput, type PlanBenchSize } from '../../bench/plan-bench.js';

/** The benchmark's fleet at a size a unit test runs in a blink: 20 hosts, 500 containers. */
const SMALL: PlanBenchSize = { hosts: 20, services: 25, replicas: 20, dirty: 0, runs: 1 };

describe('bench/plan-bench: the synthetic fleet', () => {
  it('is converged: plan() has nothing to do on it', async () => {
    const { plan, rows } = await benchPlan(SMALL);
    expect(plan.refused).toBeNull();
    expect(plan.actions).toEqual([]);
    expect(plan.unplaced).toEqual([]);
    expect(plan.warnings).toEqual([]);
    expect(Object.values(plan.summary).reduce((sum, counts) => sum + counts.unchanged, 0)).toBe(500);
    expect(rows.map((row) => [row.name, row.unit])).toEqual([
      ['plan 500 containers on 20 hosts', 'ms'],
      ['plan heap used delta', 'MB'],
    ]);
  });

  it('replaces exactly its dirty containers, and nothing else', async () => {
    const { plan } = await benchPlan({ ...SMALL, dirty: 10 });
    expect(plan.actions.map((action) => action.kind)).toEqual(Array(10).fill('replace'));
    for (const action of plan.actions) expect(action.kind === 'replace' && action.old.host).toBe(action.host);
  });

  it('builds the full size the benchmark times: 10,000 containers on 200 hosts', async () => {
    const { observed } = await planBenchInput(FULL_SIZE);
    expect(observed.hosts).toHaveLength(200);
    expect(observed.hosts.reduce((sum, host) => sum + host.containers.length, 0)).toBe(10_000);
  });
});
