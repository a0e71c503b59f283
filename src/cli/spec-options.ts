import type { Command } from 'commander';
import { loadStack } from '../spec/load.js';
import type { Stack } from '../spec/types.js';

export type SpecOptions = { file: string; envFile?: string };

/** `-f FILE` and `--env-file FILE`, shared by every command that reads the spec. */
export function withSpecOptions(command: Command): Command {
  return command
    .option('-f, --file <file>', 'the spec: a compose file with x-heal (- reads stdin)', 'stack.yml')
    .option('--env-file <file>', 'variables for ${VAR} instead of the .env beside the spec');
}

/** The spec the options name; what it holds that heal does not act on is said on stderr. */
export async function loadFromOptions(options: SpecOptions): Promise<Stack> {
  const stack = await loadStack({
    file: options.file,
    ...(options.envFile === undefined ? {} : { envFile: options.envFile }),
    environment: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
  });
  for (const warning of stack.warnings) process.stderr.write(`warning: ${warning}\n`);
  return stack;
}
