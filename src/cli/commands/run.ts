import { Command } from 'commander';
import { observe } from '../../executor/observe.js';
import { oneOffCreate, oneOffHost } from '../../planner/one-off.js';
import { wantsTty } from '../../operate/attach.js';
import { runOneOff } from '../../operate/run.js';
import { unknownServices } from '../../operate/targets.js';
import { UsageError } from '../errors.js';
import { fleetFromOptions, withFleetOptions, type FleetCliOptions } from '../fleet-options.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';

type Options = SpecOptions & FleetCliOptions & { host?: string; interactive?: boolean; tty: boolean };

/**
 * `heal run web -- ./migrate`: a one-off container from the service's config, joined to the
 * terminal, removed when it ends; its exit code passed back.
 */
export function runCommand(): Command {
  return withFleetOptions(withSpecOptions(new Command('run')))
    .description(
      "run a one-off container made from a service's config, removed afterwards, like docker compose run --rm",
    )
    .argument('<service>', 'the service whose config the one-off takes')
    .argument('[command...]', "the command and its arguments (after --); default the service's own")
    .option('--host <host>', "on this host (default: where the service's replicas run)")
    .option('-i, --interactive', "pass heal's stdin to the command even without a terminal")
    .option('-T, --no-tty', 'no TTY, even in a terminal')
    .option('--rm', 'remove the container when it ends (always so: a one-off is never kept)')
    .action(async (name: string, command: string[], options: Options) => {
      const stack = await loadFromOptions(options);
      const unknown = unknownServices(stack, [name]);
      if (unknown !== null) throw new UsageError(unknown);
      const service = stack.services[name]!;
      const fleet = fleetFromOptions(stack, options);
      const stop = new AbortController();
      const interrupt = (): void => stop.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        const observed = await observe(stack, fleet.reach, Date.now);
        const host = oneOffHost(observed, service, options.host ?? null);
        if (typeof host !== 'string') throw new UsageError(host.error);
        const terminal = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
        const tty = wantsTty(terminal, !options.tty);
        const interactive = tty || options.interactive === true;
        const spec = oneOffCreate(stack, service, { host, now: Date.now(), command, tty, interactive });
        const reached = await fleet.reach(stack.heal.hosts[host]!);
        if ('error' in reached) throw reached.error;
        process.exitCode = await runOneOff(reached.client, stack, service, {
          spec,
          tty,
          interactive,
          terminal,
          signal: stop.signal,
        });
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
        await fleet.close();
      }
    });
}
