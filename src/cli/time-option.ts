import { parseDuration } from '../spec/syntax/duration.js';
import { UsageError } from './errors.js';

/**
 * `--since`/`--until` as docker reads them: a duration back from now (`10m`, `1h30m`), a Unix
 * timestamp (`1733400000`, fractions allowed), or a date (`2026-12-05T18:00:00Z`, `2026-12-05`).
 * Returns epoch seconds.
 */
export function parseTimeOption(option: string, value: string, nowMs: number): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const duration = parseDuration(value);
  if ('value' in duration) return (nowMs - duration.value) / 1000;
  const date = Date.parse(value);
  if (Number.isFinite(date)) return date / 1000;
  throw new UsageError(
    `${option}: "${value}" is neither a duration (10m), a Unix timestamp nor a date (2026-12-05T18:00:00Z)`,
  );
}

/** A count of lines: a whole number, or `all`. */
export function parseTailOption(value: string): number | null {
  if (value === 'all') return null;
  if (!/^\d+$/.test(value)) throw new UsageError(`--tail: "${value}" is not a number of lines (or all)`);
  return Number(value);
}
