import { it } from 'vitest';
import { benchPlan } from '../../bench/plan-bench.js';
it('bench', async () => {
  const { rows, plan } = await benchPlan();
  console.log(rows, plan.actions.length, plan.actions.map(a=>a.kind).reduce((m,k)=>(m[k]=(m[k]??0)+1,m),{} as Record<string,number>), plan.phases.length);
}, 600000);
