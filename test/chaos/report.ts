/** The chaos suite's table (printed) and bench/results/chaos.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FaultRecord } from './harness.js';

export type ChaosResults = {
  date: string;
  mode: 'short' | 'full';
  seed: number;
  faults: Omit<FaultRecord, 'notes'>[];
  notes: Record<string, string[]>;
};

export function renderTable(records: readonly FaultRecord[]): string {
  const header = [
    'fault',
    'injected',
    'survived',
    'dup',
    'orphans',
    'touched',
    'secrets',
    'leaked',
    'below-min s',
    'converge s',
  ];
  const rows = records.map((record) => [
    record.fault,
    record.injected ? 'yes' : 'no',
    record.survived ? 'yes' : 'NO',
    String(record.duplicates),
    String(record.orphans),
    String(record.unmanagedTouched),
    String(record.secretsLogged),
    String(record.leaked),
    String(record.belowMinimumSeconds),
    record.convergeSeconds === null ? '-' : record.convergeSeconds.toFixed(1),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
        .join('  '),
    )
    .join('\n');
}

export function writeResults(
  file: string,
  mode: 'short' | 'full',
  seed: number,
  records: readonly FaultRecord[],
): void {
  const results: ChaosResults = {
    date: new Date().toISOString(),
    mode,
    seed,
    faults: records.map(({ notes: _notes, ...row }) => row),
    notes: Object.fromEntries(
      records.filter((record) => record.notes.length > 0).map((record) => [record.fault, record.notes]),
    ),
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
