import { Command, CommanderError } from 'commander';
import { DockerApiError, HostUnreachableError } from '../executor/errors.js';
import { LockHeldError } from '../executor/lock.js';
import { applyCommand, ApplyRefused } from './commands/apply.js';
import { configCommand } from './commands/config.js';
import { downCommand } from './commands/down.js';
import { hostsCommand } from './commands/hosts.js';
import { logsCommand } from './commands/logs.js';
import { execCommand } from './commands/exec.js';
import { runCommand } from './commands/run.js';
import { planCommand } from './commands/plan.js';
import { psCommand } from './commands/ps.js';
import { rollbackCommand } from './commands/rollback.js';
import { scaleCommand } from './commands/scale.js';
import { statusCommand } from './commands/status.js';
import { validateCommand } from './commands/validate.js';
import { watchCommand } from './commands/watch.js';
import { HttpListenError } from '../watch/http.js';
import { SpecSourceError } from '../watch/source-error.js';
import { describeError, EXIT, exitCodeFor, registerUserError } from './errors.js';

registerUserError(HostUnreachableError);
registerUserError(DockerApiError);
registerUserError(ApplyRefused);
registerUserError(LockHeldError);
registerUserError(HttpListenError);
registerUserError(SpecSourceError);

export function buildProgram(): Command {
  const program = new Command('heal')
    .description('Keep Docker hosts matching a compose file in git: plan, apply, and heal what breaks.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError()
    .exitOverride();
  for (const command of [
    validateCommand(),
    configCommand(),
    hostsCommand(),
    psCommand(),
    planCommand(),
    applyCommand(),
    statusCommand(),
    logsCommand(),
    execCommand(),
    runCommand(),
    scaleCommand((args) => main(['node', 'heal', ...args])),
    rollbackCommand(),
    downCommand(),
    watchCommand(),
  ]) {
    program.addCommand(command.exitOverride());
  }
  return program;
}

/** Runs the CLI and returns its exit code; every error is mapped to a code in errors.ts. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    process.stderr.write(`${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}
