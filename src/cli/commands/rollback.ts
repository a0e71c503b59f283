import { Command } from 'commander';
import { apply } from '../../executor/apply.js';
import { markName, writeMark, type NewMark } from '../../executor/marks.js';
import { observe } from '../../executor/observe.js';
import type { Observed } from '../../planner/observed.js';
import { plan } from '../../planner/plan.js';
import { driveStack, shortHash } from '../../planner/rollout.js';
import { keyedStack } from '../../planner/stack-key.js';
import { newStackKey } from '../../spec/keyed-hash.js';
import type { Stack } from '../../spec/types.js';
import { EXIT, UsageError } from '../errors.js';
import { withFleetOptions, withLockedFleet, type FleetCliOptions } from '../fleet-options.js';
import { progress } from '../progress.js';
import { paintFor, renderPlan } from '../render-plan.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';
import { ApplyRefused, confirm, summary } from './apply.js';

type Options = SpecOptions & FleetCliOptions & { yes?: boolean };

/**
 * `heal rollback SERVICE`: what failure_action rollback does, by hand. Marks the spec's config of
 * the service as rolled back on the hosts and returns its replicas to the config they ran before
 * (recorded on their labels), by rollback_config. The mark holds until the spec gives the service
 * another config, so the daemon does not roll forward again.
 */
export function rollbackCommand(): Command {
  return withFleetOptions(withSpecOptions(new Command('rollback')))
    .description("return a service to the config it ran before the spec's, until the spec changes")
    .argument('<service>', 'the service to roll back')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (name: string, options: Options) => {
      if (!options.yes && !process.stdin.isTTY)
        throw new UsageError('refusing to roll back without a terminal to confirm on: pass --yes');
      const stack = await loadFromOptions(options);
      if (!stack.services[name]) throw new UsageError(`${stack.file}: there is no service "${name}"`);
      const paint = paintFor(process.stdout);
      await withLockedFleet(stack, options, { command: 'heal rollback' }, async (fleet, signal) => {
        const observed = await observe(stack, fleet.reach, Date.now);
        // The config is marked by the hash its containers carry: keyed when it has secrets.
        const freshStackKey = newStackKey();
        const keyed = keyedStack(stack, observed, freshStackKey).stack;
        const service = keyed.services[name]!;
        const mark: NewMark = {
          service: name,
          configHash: service.configHash,
          state: 'rolled-back',
          reason: 'heal rollback by hand',
        };
        const marked = withMark(stack, observed, mark);
        const driven = driveStack(
          keyed,
          marked.hosts.filter((host) => host.reachable),
        );
        if (!driven.rollingBack.has(name)) {
          const why = driven.warnings.find((warning) => warning.startsWith(`${name}:`));
          throw new ApplyRefused(`nothing to roll back to: ${why ?? `${name}: no previous config is known`}`);
        }
        const made = plan(stack, marked, { now: Date.now(), freshStackKey });
        process.stdout.write(renderPlan(made, paint));
        if (!options.yes && !(await confirm()))
          throw new ApplyRefused('rollback cancelled: nothing was changed');
        await writeMark(stack, fleet.reach, mark);
        const report = await apply(made, stack, {
          reach: fleet.reach,
          onEvent: progress(process.stdout, paint, made),
          signal,
        });
        process.stdout.write(summary(report, made.unplaced.length, paint));
        process.stdout.write(
          `${name}: ${shortHash(service.configHash)} is rolled back; it is not tried again until the spec changes.\n`,
        );
        if (!report.ok) process.exitCode = EXIT.failed;
      });
    });
}

/** The hosts as they will be once the mark is written: on the first that answered. */
function withMark(stack: Stack, observed: Observed, mark: NewMark): Observed {
  const first = observed.hosts.find((host) => host.reachable);
  if (!first) throw new ApplyRefused(`no host of ${stack.name} answered: nothing can be rolled back`);
  const name = markName(stack.name, mark);
  return {
    hosts: observed.hosts.map((host) =>
      host === first && !host.marks.some((item) => item.name === name)
        ? { ...host, marks: [...host.marks, { ...mark, name, host: host.name }] }
        : host,
    ),
  };
}
