import { Command } from 'commander';
import { apply } from '../../executor/apply.js';
import { observe } from '../../executor/observe.js';
import { plan } from '../../planner/plan.js';
import type { Plan } from '../../planner/plan-types.js';
import { EXIT, UsageError } from '../errors.js';
import { withFleetOptions, withLockedFleet, type FleetCliOptions } from '../fleet-options.js';
import { progress } from '../progress.js';
import { hasChanges, paintFor, renderPlan } from '../render-plan.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';
import { ApplyRefused, confirm, summary } from './apply.js';

type Options = SpecOptions & FleetCliOptions & { yes?: boolean; volumes?: boolean };

/**
 * `heal down`: removes the stack from every host, like `docker stack rm`: its containers, its
 * networks and its rollout marks; its named volumes only with --volumes. It is the plan for the
 * stack with no services, so it shows what goes before anything does. A daemon following the
 * same spec puts the stack back: stop it first.
 */
export function downCommand(): Command {
  return withFleetOptions(withSpecOptions(new Command('down')))
    .description('remove the stack from every host: containers, networks (and named volumes with --volumes)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--volumes', "also remove the stack's named volumes (their data is lost)")
    .action(async (options: Options) => {
      if (!options.yes && !process.stdin.isTTY)
        throw new UsageError('refusing to remove the stack without a terminal to confirm on: pass --yes');
      const stack = await loadFromOptions(options);
      const paint = paintFor(process.stdout);
      await withLockedFleet(stack, options, { command: 'heal down' }, async (fleet, signal) => {
        const observed = await observe(stack, fleet.reach, Date.now);
        const silent = observed.hosts.filter((host) => !host.reachable).map((host) => host.name);
        const made = removal(
          plan({ ...stack, services: {} }, observed, {
            now: Date.now(),
            allowEmpty: true,
            pruneVolumes: options.volumes === true,
          }),
        );
        process.stdout.write(renderPlan(made, paint));
        if (silent.length > 0)
          process.stdout.write(
            paint.remove(`! ${silent.join(', ')} did not answer: whatever of the stack runs there stays\n`),
          );
        if (!hasChanges(made)) return void (process.exitCode = silent.length > 0 ? EXIT.failed : EXIT.ok);
        if (!options.yes && !(await confirm())) throw new ApplyRefused('down cancelled: nothing was changed');
        const report = await apply(made, stack, {
          reach: fleet.reach,
          onEvent: progress(process.stdout, paint, made),
          signal,
        });
        process.stdout.write(summary(report, 0, paint));
        if (!report.ok || silent.length > 0) process.exitCode = EXIT.failed;
      });
    });
}

/** The same plan, each action saying why in this command's words. */
function removal(made: Plan): Plan {
  return { ...made, actions: made.actions.map((action) => ({ ...action, reason: 'heal down' })) };
}
