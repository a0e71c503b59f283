import type { Milliseconds } from '../types.js';
import { quote, type Parsed } from './parsed.js';

const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  // compose-go reads durations with str2duration, which adds days and weeks to Go's units.
  d: 86_400e9,
  w: 604_800e9,
};

// `ms` before `m` and `s`: alternation takes the first unit that matches.
const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/g;
const WHOLE = new RegExp(`^(?:${TERM.source})+$`);

/** Go's time.Duration is an int64 of nanoseconds: compose rejects anything longer. */
const MAX_NS = 2 ** 63 - 1;

/**
 * A compose duration (`1m30s`, `500ms`, `2.5s`, `1h5m30s20ms`) in milliseconds, fractions kept.
 * Compose reads durations as strings, so a bare number has no unit and only `0` is allowed.
 */
export function parseDuration(input: string | number): Parsed<Milliseconds> {
  if (typeof input === 'number') return parseNumber(input);
  if (input === '0') return { value: 0 };
  if (input.startsWith('-') && WHOLE.test(input.slice(1))) {
    return { error: `${quote(input)} is negative; a duration must be 0 or more` };
  }
  if (!WHOLE.test(input)) {
    return { error: `${quote(input)} is not a duration: use numbers with units, as in "10s" or "1m30s"` };
  }
  const ns = sumNanoseconds(input);
  if (ns > MAX_NS) return { error: `${quote(input)} is too long a duration` };
  return { value: ns / 1e6 };
}

function parseNumber(input: number): Parsed<Milliseconds> {
  if (input === 0) return { value: 0 };
  if (input < 0) return { error: `${quote(input)} is negative; a duration must be 0 or more` };
  return { error: `${quote(input)} is not a duration: give it a unit, as in "${quote(input)}s"` };
}

function sumNanoseconds(input: string): number {
  let ns = 0;
  for (const [, amount = '', unit = ''] of input.matchAll(TERM)) {
    const perUnit = NS_PER_UNIT[unit] ?? 0;
    const [whole = '', fraction = ''] = amount.split('.');
    ns += Number(whole) * perUnit;
    // As Go does: scale the fraction's digits, then drop what is below a nanosecond.
    if (fraction !== '') ns += Math.trunc(Number(fraction) * (perUnit / 10 ** fraction.length));
  }
  return ns;
}
