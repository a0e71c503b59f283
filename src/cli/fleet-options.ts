import type { Command } from 'commander';
import { openFleet, type Fleet } from '../executor/fleet.js';
import { acquireLock } from '../executor/lock.js';
import { observe } from '../executor/observe.js';
import { registryEnvironmentProblem } from '../executor/registry-auth.js';
import type { Observed } from '../planner/observed.js';
import type { Stack } from '../spec/types.js';
import { UsageError } from './errors.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from './spec-options.js';

export type FleetCliOptions = { acceptNewHostKeys?: boolean; connectTimeout?: string };

/** Options of every command that talks to the hosts. */
export function withFleetOptions(command: Command): Command {
  return command
    .option(
      '--accept-new-host-keys',
      'trust and record the key of a host not yet in known_hosts (like accept-new)',
    )
    .option('--connect-timeout <seconds>', 'give up on a host that has not answered after this long', '5');
}

export function fleetFromOptions(stack: Stack, options: FleetCliOptions): Fleet {
  if (Object.keys(stack.heal.hosts).length === 0) {
    throw new UsageError(`${stack.file}: x-heal.hosts is empty: list the Docker hosts heal manages`);
  }
  const seconds = Number(options.connectTimeout ?? '5');
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(`--connect-timeout: "${options.connectTimeout}" is not a number of seconds`);
  // Before any host is touched: registry credentials that name no registry are refused, not guessed.
  const registryProblem = registryEnvironmentProblem(process.env);
  if (registryProblem) throw new UsageError(registryProblem);
  return openFleet(stack, {
    acceptNewHostKeys: options.acceptNewHostKeys === true,
    connectTimeoutMs: seconds * 1000,
  });
}

/**
 * The shape of every command that changes the hosts: a fleet for the stack and the stack's lock,
 * both released after `work`, whatever happens in it. `work` gets the lock's signal: it aborts
 * when the lock is lost, and no action may start after that.
 */
export async function withLockedFleet(
  stack: Stack,
  options: FleetCliOptions,
  lock: { readonly command: string; readonly waitMs?: number },
  work: (fleet: Fleet, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const fleet = fleetFromOptions(stack, options);
  try {
    const held = await acquireLock(stack, { reach: fleet.reach, ...lock });
    try {
      await work(fleet, held.signal);
    } finally {
      await held.release();
    }
  } finally {
    await fleet.close();
  }
}

export type ObservingOptions = SpecOptions & FleetCliOptions & { json?: boolean };

/**
 * The shape of every read-only command: load the spec, observe the hosts, print rows (JSON or a
 * table), warn about hosts that did not answer, and exit 1 when one did not.
 */
export function observingCommand<Row>(
  command: Command,
  rows: (stack: Stack, observed: Observed, fleet: Fleet) => Promise<Row[]> | Row[],
  render: (rows: readonly Row[]) => string,
  /** What a silent host means for the output, for the warning; null when the rows say it already. */
  unanswered: string | null,
): Command {
  return withFleetOptions(withSpecOptions(command))
    .option('--json', 'print a JSON array')
    .action(async (options: ObservingOptions) => {
      const stack = await loadFromOptions(options);
      const fleet = fleetFromOptions(stack, options);
      try {
        const observed = await observe(stack, fleet.reach, Date.now);
        const result = await rows(stack, observed, fleet);
        process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : render(result));
        for (const host of observed.hosts.filter((item) => !item.reachable)) {
          if (unanswered)
            process.stderr.write(
              `warning: ${host.name} did not answer; ${unanswered}: ${host.error ?? ''}\n`,
            );
          process.exitCode = 1;
        }
      } finally {
        await fleet.close();
      }
    });
}
