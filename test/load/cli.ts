/**
 * The load generator for shell scripts (scripts/demo), built by tsconfig.bench.json:
 *
 *   node dist-bench/test/load/cli.js run --target URL [--target URL ...] --max-requests N
 *        --max-seconds S [--concurrency 4] [--timeout-ms 2000] [--rate R] [--bodies] [--status FILE]
 *     Runs until a bound or SIGTERM/SIGINT; writes FILE (JSON: counters so far and their summary)
 *     every half second and at the end; prints the final summary (JSON) on stdout.
 *
 *   node dist-bench/test/load/cli.js report --status FILE --since PREVIOUS
 *     One line: what the run sent and failed since PREVIOUS (a copy of FILE the last report made,
 *     absent at first) and in all; then copies FILE to PREVIOUS, so each report covers one step.
 *
 *   node dist-bench/test/load/cli.js summary --status FILE
 *     One line: the run in all (sent, failed by reason, p50/p99, distinct bodies, failure window).
 */
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type LoadSample, startLoad } from './load.js';
import { describeStep, describeSummary, type LoadSummary } from './summary.js';

/** What the status file holds. */
export type LoadStatus = { readonly sample: LoadSample; readonly summary: LoadSummary };

const STATUS_EVERY_MS = 500;

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`--${name}: not a number: ${value}`);
  return parsed;
}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: 'string', multiple: true },
      concurrency: { type: 'string', default: '4' },
      'max-requests': { type: 'string' },
      'max-seconds': { type: 'string' },
      'timeout-ms': { type: 'string', default: '2000' },
      rate: { type: 'string' },
      bodies: { type: 'boolean', default: false },
      status: { type: 'string' },
    },
  });
  const maxRequests = number(values['max-requests'], 'max-requests');
  const maxSeconds = number(values['max-seconds'], 'max-seconds');
  if (maxRequests === undefined || maxSeconds === undefined)
    throw new Error('run: --max-requests and --max-seconds are both required (every run is bounded)');
  const rate = number(values.rate, 'rate');
  const load = startLoad({
    targets: values.target ?? [],
    concurrency: number(values.concurrency, 'concurrency')!,
    maxRequests,
    maxDurationMs: maxSeconds * 1000,
    timeoutMs: number(values['timeout-ms'], 'timeout-ms')!,
    keepBodies: values.bodies,
    ...(rate !== undefined ? { ratePerSecond: rate } : {}),
  });
  const statusFile = values.status;
  const writeStatus = (): void => {
    if (!statusFile) return;
    const status: LoadStatus = { sample: load.sample(), summary: load.summary() };
    // Readers never see half a file.
    writeFileSync(`${statusFile}.tmp`, `${JSON.stringify(status)}\n`);
    renameSync(`${statusFile}.tmp`, statusFile);
  };
  const timer = setInterval(writeStatus, STATUS_EVERY_MS);
  const stop = (): void => void load.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const result = await load.done;
  clearInterval(timer);
  writeStatus();
  const { records: _records, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function report(args: string[]): void {
  const { values } = parseArgs({ args, options: { status: { type: 'string' }, since: { type: 'string' } } });
  if (!values.status || !values.since) throw new Error('report: --status FILE and --since FILE are required');
  if (!existsSync(values.status)) {
    console.log('no load status yet');
    return;
  }
  const read = (file: string): LoadStatus => JSON.parse(readFileSync(file, 'utf8')) as LoadStatus;
  const now = read(values.status);
  const before = existsSync(values.since) ? read(values.since) : null;
  console.log(describeStep(now.summary, before?.summary ?? null));
  copyFileSync(values.status, values.since);
}

function summary(args: string[]): void {
  const { values } = parseArgs({ args, options: { status: { type: 'string' } } });
  if (!values.status) throw new Error('summary: --status FILE is required');
  if (!existsSync(values.status)) {
    console.log('no load status');
    return;
  }
  console.log(describeSummary((JSON.parse(readFileSync(values.status, 'utf8')) as LoadStatus).summary));
}

const [verb, ...rest] = process.argv.slice(2);
try {
  if (verb === 'run') await run(rest);
  else if (verb === 'report') report(rest);
  else if (verb === 'summary') summary(rest);
  else throw new Error(`unknown verb ${verb ?? '(none)'}: want run, report or summary`);
} catch (error) {
  console.error(`load: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
}
