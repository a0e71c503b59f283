import { Command } from 'commander';
import type { LogEntry } from '../../operate/logs.js';
import { readLogs } from '../../operate/logs.js';
import { replicaName, unknownServices } from '../../operate/targets.js';
import type { Stack } from '../../spec/types.js';
import { EXIT, UsageError } from '../errors.js';
import { fleetFromOptions, withFleetOptions, type FleetCliOptions } from '../fleet-options.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';
import { parseTailOption, parseTimeOption } from '../time-option.js';

type Options = SpecOptions &
  FleetCliOptions & {
    follow?: boolean;
    since?: string;
    until?: string;
    tail: string;
    timestamps?: boolean;
    prefix: boolean;
    json?: boolean;
  };

/** One line of `heal logs --json`: a documented contract. */
export type LogRow = {
  time: string;
  service: string;
  slot: number;
  host: string;
  container: string;
  stream: 'stdout' | 'stderr';
  message: string;
};

/** `heal logs`: what the replicas printed, from every host, merged in time order. */
export function logsCommand(): Command {
  return withFleetOptions(withSpecOptions(new Command('logs')))
    .description("print the replicas' output from every host in time order, like docker service logs")
    .argument('[services...]', 'only these services (default: all)')
    .option('--follow', 'go on printing new output, across replacements, until interrupted')
    .option('--since <time>', 'from this time: a duration back from now (10m), a timestamp or a date')
    .option('--until <time>', 'up to this time (not with --follow)')
    .option('--tail <lines>', 'the last lines of each replica (or all)', 'all')
    .option('-t, --timestamps', "show each line's time")
    .option('--no-prefix', 'print the lines only, without service, slot and host')
    .option('--json', 'print one JSON object per line')
    .action(async (services: string[], options: Options) => {
      const now = Date.now();
      if (options.follow && options.until !== undefined)
        throw new UsageError('--until and --follow do not go together: a follow has no end');
      const since = options.since === undefined ? null : parseTimeOption('--since', options.since, now);
      const until = options.until === undefined ? null : parseTimeOption('--until', options.until, now);
      const tail = parseTailOption(options.tail);
      const stack = await loadFromOptions(options);
      const unknown = unknownServices(stack, services);
      if (unknown !== null) throw new UsageError(unknown);
      const fleet = fleetFromOptions(stack, options);
      const stop = new AbortController();
      const interrupt = (): void => stop.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const write = writer(stack, options);
      try {
        const silent = await readLogs({
          stack,
          fleet,
          services,
          since,
          until,
          tail,
          follow: options.follow === true,
          onEntry: write,
          onNote: (note) => process.stderr.write(`heal: ${note}\n`),
          signal: stop.signal,
          now: Date.now,
        });
        if (silent.length > 0) process.exitCode = EXIT.failed;
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
        await fleet.close();
      }
    });
}

/** Each entry to stdout or stderr as the replica wrote it: JSON, or `web.3@h1 | line`. */
function writer(stack: Stack, options: Options): (entry: LogEntry) => void {
  const width = prefixWidth(stack);
  return (entry) => {
    const out = entry.stream === 'stderr' ? process.stderr : process.stdout;
    if (options.json) return void out.write(`${JSON.stringify(toRow(entry))}\n`);
    const time = options.timestamps ? `${entry.time} ` : '';
    const prefix = options.prefix
      ? `${`${replicaName(entry.replica)}@${entry.replica.host}`.padEnd(width)} | `
      : '';
    out.write(`${prefix}${time}${entry.text}\n`);
  };
}

function toRow(entry: LogEntry): LogRow {
  return {
    time: entry.time,
    service: entry.replica.service,
    slot: entry.replica.slot,
    host: entry.replica.host,
    container: entry.replica.name,
    stream: entry.stream,
    message: entry.text,
  };
}

/** Wide enough for the longest `service.slot@host` the spec can make, so that columns line up. */
function prefixWidth(stack: Stack): number {
  const host = Math.max(0, ...Object.keys(stack.heal.hosts).map((name) => name.length));
  const service = Math.max(
    0,
    ...Object.values(stack.services).map(
      (service) => service.name.length + 1 + Math.max(host, String(service.deploy.replicas ?? 1).length),
    ),
  );
  return service + 1 + host;
}
