import { Command } from 'commander';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';

export function validateCommand(): Command {
  return withSpecOptions(new Command('validate'))
    .description('check the spec and exit 0 when it is valid (like docker compose config -q)')
    .action(async (options: SpecOptions) => {
      const stack = await loadFromOptions(options);
      const services = Object.keys(stack.services).length;
      const hosts = Object.keys(stack.heal.hosts).length;
      process.stdout.write(
        `${stack.file}: valid: stack ${stack.name}, ${plural(services, 'service')}, ${plural(hosts, 'host')}\n`,
      );
    });
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
