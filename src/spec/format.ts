import type { Milliseconds } from './types.js';

const UNITS: readonly [string, number][] = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

/** Milliseconds as compose writes a duration: `1m30s`, `500ms`, `0s`. */
export function formatDuration(ms: Milliseconds): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) out += `${count}${unit}`;
    rest -= count * size;
  }
  // Below a millisecond: keep the fraction rather than lose it.
  if (rest > 0) out += `${Math.round(rest * 1000)}us`;
  return out;
}
