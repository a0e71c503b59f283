/**
 * `npm run bench`: heal beside Docker Swarm and the floor (the engines straight) on one test bed.
 * Prints a table and writes bench/results/latest.json. Not part of `npm test`: timings on a
 * shared 2-core machine are figures to read, not assertions.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { TestbedEnv } from '../test/testbed.js';
import { autoscaleRows } from './autoscale-rows.js';
import { BED_KEYS, bedRows, type BedKey } from './bed-rows.js';
import { drainRows } from './drain-rows.js';
import { planRows } from './plan-rows.js';
import type { ResultRow } from './results-row.js';
import { observeRows } from './observe-rows.js';
import { transportRows } from './transport-rows.js';

type Results = { rows: (ResultRow & { date?: string })[]; date: string };

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TESTBED = `${ROOT}scripts/testbed`;

function testbed(...args: string[]): string {
  return execFileSync(TESTBED, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

function render(rows: readonly ResultRow[]): string {
  const cell = (value: number | null): string => (value === null ? '-' : String(value));
  const header = ['benchmark', 'heal', 'swarm', 'floor', 'unit', 'target'];
  const lines = rows.map((row) => [
    row.name,
    cell(row.heal),
    cell(row.swarm),
    cell(row.floor),
    row.unit,
    [row.target ? `${row.target.met ? 'met' : 'MISSED'}: ${row.target.text}` : '', row.note ?? '']
      .filter((text) => text !== '')
      .join('; '),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  return [header, ...lines]
    .map((line) =>
      line
        .map((value, column) => value.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const keep = process.argv.includes('--keep');
// `--only=plan,transport,create,...`: a partial run (results still written to latest.json).
const KEYS = ['plan', 'transport', 'observe', ...BED_KEYS, 'autoscale', 'drain'] as const;
const onlyArgument = process.argv.find((argument) => argument.startsWith('--only='));
const only = new Set(onlyArgument ? onlyArgument.slice('--only='.length).split(',') : KEYS);
for (const key of only) {
  if (!(KEYS as readonly string[]).includes(key))
    throw new Error(`--only: unknown "${key}" (${KEYS.join(', ')})`);
}
const rows: ResultRow[] = [];
if (only.has('plan')) rows.push(...(await planRows()));
const bedKeys = new Set(BED_KEYS.filter((key: BedKey) => only.has(key)));
const onBed = ['transport', 'observe', 'autoscale', 'drain'].some((key) => only.has(key));
if (onBed || bedKeys.size > 0) {
  testbed('up', '3');
  const env = JSON.parse(testbed('env')) as TestbedEnv;
  try {
    if (only.has('transport')) rows.push(...(await transportRows(env)));
    if (only.has('observe')) rows.push(...(await observeRows(env)));
    if (bedKeys.size > 0) rows.push(...(await bedRows(env, bedKeys)));
    if (only.has('autoscale')) rows.push(...(await autoscaleRows(env)));
    if (only.has('drain')) rows.push(...(await drainRows(env)));
  } finally {
    if (!keep) testbed('down');
  }
}
console.log(render(rows));
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
};
mkdirSync(`${ROOT}bench/results`, { recursive: true });
const file = `${ROOT}bench/results/latest.json`;
// A partial run (--only) replaces its own rows and keeps the others, each with the date it ran.
const date = new Date().toISOString();
const dated = rows.map((row) => ({ ...row, date }));
const kept = onlyArgument && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Results) : null;
const merged = kept
  ? [
      ...kept.rows.map((row) => dated.find((mine) => mine.name === row.name) ?? { date: kept.date, ...row }),
      ...dated.filter((mine) => !kept.rows.some((row) => row.name === mine.name)),
    ]
  : dated;
writeFileSync(file, `${JSON.stringify({ rows: merged, machine, date }, null, 2)}\n`);
console.log(`\nwritten: bench/results/latest.json`);
