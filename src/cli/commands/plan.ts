import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { fleetFromOptions, withFleetOptions, type FleetCliOptions } from '../fleet-options.js';
import { observeAndPlan, withPlanOptions, type PlanCliOptions, type SavedPlan } from '../planning.js';
import { hasChanges, paintFor, renderPlan } from '../render-plan.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';
import { EXIT } from '../errors.js';

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
        if (options.out) {
          const saved: SavedPlan = {
            version: 1,
            spec: stack.file,
            fingerprint,
            createdAt: new Date().toISOString(),
            plan,
          };
          writeFileSync(options.out, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
        }
        if (plan.refused) process.exitCode = EXIT.failed;
        else if (options.detailedExitcode && hasChanges(plan)) process.exitCode = EXIT.changes;
      } finally {
        await fleet.close();
      }
    });
}
