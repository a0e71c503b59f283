/**
 * Prints plan()'s figures on the synthetic fleet of plan-bench.ts: 10,000 containers on 200 hosts.
 * Run alone: npx tsc -p tsconfig.bench.json; node --expose-gc dist-bench/bench/plan-bench-main.js
 */
import { benchPlan } from './plan-bench.js';

const { rows } = await benchPlan();
for (const row of rows) console.log(`${row.name}: ${row.value} ${row.unit}`);
