/**
 * plan() on the synthetic fleet of plan-bench.ts (200 hosts, 10,000 containers), in a child Node
 * with --expose-gc so the heap figure is plan()'s own and not the bench process's. No test bed.
 */
import type { ResultRow } from './results-row.js';
import { ROOT, runOk } from './util.js';

const SCRIPT = `
import { benchPlan } from ${JSON.stringify(`${ROOT}dist-bench/bench/plan-bench.js`)};
const { rows } = await benchPlan();
console.log(JSON.stringify(rows));
`;

type BenchRow = { name: string; value: number; unit: string };

export async function planRows(): Promise<ResultRow[]> {
  const done = await runOk(process.execPath, ['--expose-gc', '--input-type=module', '-e', SCRIPT], {
    timeoutMs: 300_000,
  });
  const rows = JSON.parse(done.stdout.trim().split('\n').at(-1) ?? '[]') as BenchRow[];
  const time = rows.find((row) => row.unit === 'ms');
  const heap = rows.find((row) => row.unit === 'MB');
  if (!time || !heap) throw new Error(`plan bench printed no figures: ${done.stdout}`);
  return [
    {
      name: 'plan() 10,000 containers on 200 hosts',
      heal: time.value,
      swarm: null,
      floor: null,
      unit: 'ms',
      extra: { runs: 5 },
      target: { text: '< 200 ms', met: time.value < 200 },
    },
    { name: 'plan() heap used by one plan', heal: heap.value, swarm: null, floor: null, unit: 'MB' },
  ];
}
