import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { fleetFromOptions, withFleetOptions, type FleetCliOptions } from '../fleet-options.js';
import { observeAndPlan, withPlanOptions, type PlanCliOptions, type SavedPlan } from '../planning.js';
import { hasChanges, paintFor, renderPlan } from '../render-plan.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';
import { EXIT } from '../errors.js';
import type { Plan } from '../../planner/plan-types.js';
import { createsStackKey } from '../../planner/stack-key.js';
import type { Stack } from '../../spec/types.js';

type Options = SpecOptions &
  FleetCliOptions &
  PlanCliOptions & { json?: boolean; out?: string; detailedExitcode?: boolean };

export function planCommand(): Command {
  return withPlanOptions(withFleetOptions(withSpecOptions(new Command('plan'))))
    .description('show what apply would change, on which host, and why')
    .option('--json', 'print the plan as JSON: what apply executes')
    .option('-o, --out <file>', 'save the plan for `heal apply FILE`')
    .option('--detailed-exitcode', 'exit 0 when there is nothing to do, 2 when there are changes, 1 on error')
    .action(async (options: Options) => {
      const stack = await loadFromOptions(options);
      const fleet = fleetFromOptions(stack, options);
      try {
        const { plan, fingerprint } = await observeAndPlan(stack, fleet, options);
        process.stdout.write(
          options.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan, paintFor(process.stdout)),
        );
        const unsaved = options.out !== undefined && !savePlan(options.out, stack, plan, fingerprint);
        if (plan.refused || unsaved) process.exitCode = EXIT.failed;
        else if (options.detailedExitcode && hasChanges(plan)) process.exitCode = EXIT.changes;
      } finally {
        await fleet.close();
      }
    });
}

/**
 * Writes the plan for `heal apply FILE`; false when it cannot be saved: a plan that gives the
 * hosts the stack key would have to hold it, beside the hashes it keys.
 */
function savePlan(file: string, stack: Stack, plan: Plan, fingerprint: string): boolean {
  if (createsStackKey(plan)) {
    process.stderr.write(
      `heal plan -o: ${file} not saved: this plan gives the hosts the stack key, which heal never writes to a file; run heal apply once, then save plans\n`,
    );
    return false;
  }
  const saved: SavedPlan = {
    version: 1,
    spec: stack.file,
    fingerprint,
    createdAt: new Date().toISOString(),
    plan,
  };
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  return true;
}
