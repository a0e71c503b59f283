import { Command } from 'commander';
import { chooseReplica, parseReplicaRef } from '../../operate/choose-replica.js';
import { wantsTty } from '../../operate/attach.js';
import { execIn } from '../../operate/exec.js';
import { replicasEverywhere, unknownServices } from '../../operate/targets.js';
import type { Stack } from '../../spec/types.js';
import { UsageError } from '../errors.js';
import { fleetFromOptions, withFleetOptions, type FleetCliOptions } from '../fleet-options.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';

type Options = SpecOptions & FleetCliOptions & { host?: string; interactive?: boolean; tty: boolean };

/** `heal exec web.3 -- sh`: a command in a running replica, its exit code passed back. */
export function execCommand(): Command {
  return withFleetOptions(withSpecOptions(new Command('exec')))
    .description('run a command in a running replica (SERVICE or SERVICE.SLOT), like docker exec')
    .argument('<replica>', 'SERVICE, or SERVICE.SLOT for one replica')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--host <host>', 'a replica on this host')
    .option('-i, --interactive', "pass heal's stdin to the command even without a terminal")
    .option('-T, --no-tty', 'no TTY, even in a terminal')
    .action(async (ref: string, command: string[], options: Options) => {
      const stack = await loadFromOptions(options);
      const wanted = wantedOf(stack, ref, options.host);
      const fleet = fleetFromOptions(stack, options);
      try {
        const found = await replicasEverywhere(stack, fleet.reach, [wanted.service], Date.now());
        const replica = chooseReplica(found.replicas, wanted);
        if ('error' in replica) throw new UsageError(withSilent(replica.error, found.silent));
        const terminal = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
        const tty = wantsTty(terminal, !options.tty);
        process.exitCode = await execIn(found.clients.get(replica.host)!, replica.id, {
          command,
          tty,
          interactive: tty || options.interactive === true,
          terminal,
        });
      } finally {
        await fleet.close();
      }
    });
}

/** The replica the arguments name, refused when the spec has no such service or host. */
export function wantedOf(stack: Stack, ref: string, host: string | undefined) {
  // A service whose name has a dot is that service, not a slot of another.
  const parsed = ref in stack.services ? { service: ref, slot: null, host: null } : parseReplicaRef(ref);
  if ('error' in parsed) throw new UsageError(parsed.error);
  const unknown = unknownServices(stack, [parsed.service]);
  if (unknown !== null) throw new UsageError(unknown);
  if (host !== undefined && !(host in stack.heal.hosts))
    throw new UsageError(
      `--host ${host}: no such host in x-heal.hosts (it has ${Object.keys(stack.heal.hosts).sort().join(', ')})`,
    );
  return { ...parsed, host: host ?? parsed.host };
}

export function withSilent(error: string, silent: readonly string[]): string {
  return silent.length === 0 ? error : `${error} (not answering: ${silent.join('; ')})`;
}
