/**
 * Prints plan()'s figures on the synthetic fleet of bench/plan-bench.ts.
 * Run: npx tsc -p tsconfig.json --noEmit false --outDir dist/all; node --expose-gc dist/all/bench/plan-bench-main.js
 */
import { benchPlan } from './plan-bench.js';

const { rows } = await benchPlan();
for (const row of rows) console.log(`${row.name}: ${row.value} ${row.unit}`);
