import type { Command } from 'commander';
import { openFleet, type Fleet } from '../executor/fleet.js';
import type { Stack } from '../spec/types.js';
import { UsageError } from './errors.js';

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
  return openFleet(stack, {
    acceptNewHostKeys: options.acceptNewHostKeys === true,
    connectTimeoutMs: seconds * 1000,
  });
}
