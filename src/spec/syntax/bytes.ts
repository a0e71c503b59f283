import type { Bytes } from '../types.js';
import { quote, type Parsed } from './parsed.js';

const MULTIPLIER: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * docker's units.RAMInBytes, which compose uses: an amount, one optional space, then an optional binary
 * prefix (`k` = 1024), an optional `i` after the prefix and an optional `b`, in any case.
 */
const SIZE = /^(\d+(?:\.\d+)?) ?(?:([kmgtp])i?)?b?$/i;

/** A compose byte value (`2b`, `1024kb`, `2048k`, `300m`, `1gb`, or a plain number of bytes) in bytes. */
export function parseBytes(input: string | number): Parsed<Bytes> {
  if (typeof input === 'number') return parseNumber(input);
  const match = SIZE.exec(input);
  if (match === null) {
    return {
      error: `${quote(input)} is not a byte size: use a number with an optional unit b, k, m or g, as in "300m"`,
    };
  }
  const [, amount = '', prefix = ''] = match;
  // A fraction of a byte is dropped, as docker does.
  const bytes = Math.floor(Number(amount) * (MULTIPLIER[prefix.toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(bytes)) return { error: `${quote(input)} is too large a byte size` };
  return { value: bytes };
}

function parseNumber(input: number): Parsed<Bytes> {
  if (!Number.isInteger(input) || input < 0) {
    return { error: `${quote(input)} is not a byte size: use a whole number of bytes, 0 or more` };
  }
  if (!Number.isSafeInteger(input)) return { error: `${quote(input)} is too large a byte size` };
  return { value: input };
}
