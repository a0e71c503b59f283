import { Command } from 'commander';
import { stringify } from 'yaml';
import { toCompose } from '../../spec/to-compose.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';

export function configCommand(): Command {
  return withSpecOptions(new Command('config'))
    .description(
      'print the normalized spec, interpolated and with every default, as docker compose config does',
    )
    .option('--json', 'print JSON instead of YAML')
    .action(async (options: SpecOptions & { json?: boolean }) => {
      const compose = toCompose(await loadFromOptions(options));
      process.stdout.write(
        options.json
          ? `${JSON.stringify(compose, null, 2)}\n`
          : stringify(compose, { aliasDuplicateObjects: false }),
      );
    });
}
