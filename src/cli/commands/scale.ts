import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { setReplicas } from '../set-replicas.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';

/**
 * Edits `deploy.replicas` in the spec file in place (set-replicas.ts: only the services named,
 * what they merge kept, comments and layout kept), then plans
 * (and applies, with --apply) by running `plan` or `apply` on the edited file. In GitOps the
 * edited file is what you commit.
 */
export function scaleCommand(run: (argv: string[]) => Promise<number>): Command {
  return withSpecOptions(new Command('scale'))
    .description('set the replicas of services in the spec file (SERVICE=N ...), then show the plan')
    .argument('<service=replicas...>', 'for example web=12 worker=3')
    .option('--apply', 'apply the resulting plan (without asking)')
    .action(async (pairs: string[], options: SpecOptions & { apply?: boolean }) => {
      if (options.file === '-') throw new UsageError('heal scale edits the spec file: it cannot edit stdin');
      const wanted = pairs.map(parsePair);
      const before = await loadFromOptions(options);
      for (const [service] of wanted) {
        if (!before.services[service])
          throw new UsageError(`${options.file}: there is no service "${service}"`);
        if (before.services[service].deploy.mode === 'global')
          throw new UsageError(`${service} is a global service: it runs once per eligible host`);
        const autoscale = before.services[service].deploy.autoscale;
        // The count is autoscaling's: a number written here would be overridden at its next decision.
        if (autoscale)
          throw new UsageError(
            `${service} is autoscaled between ${autoscale.min} and ${autoscale.max} replicas (x-heal-autoscale): heal scale changes nothing; edit min and max in ${options.file} to move the bounds`,
          );
      }
      const text = readFileSync(options.file, 'utf8');
      let edited: string;
      try {
        edited = setReplicas(text, wanted);
      } catch (error) {
        throw new UsageError(`${options.file}: ${(error as Error).message}`);
      }
      writeFileSync(options.file, edited);
      for (const [service, replicas] of wanted)
        process.stdout.write(
          `${service}: ${before.services[service]!.deploy.replicas} → ${replicas} replicas in ${options.file}\n`,
        );
      const passOn = ['-f', options.file, ...(options.envFile ? ['--env-file', options.envFile] : [])];
      process.exitCode = await run(options.apply ? ['apply', '--yes', ...passOn] : ['plan', ...passOn]);
    });
}

function parsePair(pair: string): [string, number] {
  const match = /^([^=]+)=(\d+)$/.exec(pair);
  if (!match) throw new UsageError(`"${pair}" is not SERVICE=REPLICAS`);
  return [match[1]!, Number(match[2])];
}
