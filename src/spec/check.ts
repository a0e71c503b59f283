import { formatPath, type KeyPath, type SpecProblem } from './errors.js';
import { isPlainObject, type SourceMap } from './parse.js';
import { castBoolean } from './syntax/boolean.js';
import { parseBytes } from './syntax/bytes.js';
import { parseDuration } from './syntax/duration.js';
import type { Parsed } from './syntax/parsed.js';

/**
 * Reads typed values out of the plain tree and records every problem with its place, so one
 * run reports all the mistakes of a file. Each reader returns undefined after recording a problem.
 */
export class Check {
  readonly problems: SpecProblem[] = [];
  /** Keys heal accepts and does not act on, with their places: printed, never fatal. */
  readonly warnings: SpecProblem[] = [];

  constructor(
    private readonly file: string,
    private readonly source: SourceMap,
  ) {}

  fail(path: KeyPath, message: string, which: 'key' | 'value' = 'value'): undefined {
    const { line, col } = this.source.locate(path, which);
    this.problems.push({ file: this.file, line, col, path: formatPath(path), message });
    return undefined;
  }

  warn(path: KeyPath, message: string, which: 'key' | 'value' = 'key'): void {
    const { line, col } = this.source.locate(path, which);
    this.warnings.push({ file: this.file, line, col, path: formatPath(path), message });
  }

  /** Reports keys outside `allowed` (extension keys `x-*` are always allowed) and returns the object. */
  object(value: unknown, path: KeyPath, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (!isPlainObject(value)) return this.fail(path, `must be a mapping, not ${describe(value)}`);
    for (const key of Object.keys(value)) {
      if (key.startsWith('x-') || allowed.includes(key)) continue;
      this.fail([...path, key], `unknown key "${key}"${suggest(key, allowed)}`, 'key');
    }
    return value;
  }

  /** A mapping whose keys are names (services, hosts, ...). */
  mapping(value: unknown, path: KeyPath): Record<string, unknown> | undefined {
    if (value === null || value === undefined) return {};
    if (!isPlainObject(value)) return this.fail(path, `must be a mapping, not ${describe(value)}`);
    return value;
  }

  string(value: unknown, path: KeyPath): string | undefined {
    if (typeof value === 'string') return value;
    // YAML reads `tag: 1.0` or `user: 1000` as numbers where compose wants strings.
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return this.fail(path, `must be a string, not ${describe(value)}`);
  }

  optionalString(value: unknown, path: KeyPath): string | null {
    if (value === undefined || value === null) return null;
    return this.string(value, path) ?? null;
  }

  /**
   * A boolean, or a string compose casts to one (interpolation leaves strings, and YAML 1.1 files
   * write `yes`): y, yes, true, on and n, no, false, off, in any case.
   */
  boolean(value: unknown, path: KeyPath, fallback: boolean): boolean {
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    const cast = typeof value === 'string' ? castBoolean(value) : undefined;
    if (cast !== undefined) return cast;
    this.fail(path, `must be true or false, not ${describe(value)}`);
    return fallback;
  }

  integer(value: unknown, path: KeyPath, range: { min?: number; max?: number } = {}): number | undefined {
    const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number)) {
      return this.fail(path, `must be an integer, not ${describe(value)}`);
    }
    if (range.min !== undefined && number < range.min)
      return this.fail(path, `must be at least ${range.min}`);
    if (range.max !== undefined && number > range.max) return this.fail(path, `must be at most ${range.max}`);
    return number;
  }

  number(value: unknown, path: KeyPath, range: { min?: number; max?: number } = {}): number | undefined {
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isFinite(number)) {
      return this.fail(path, `must be a number, not ${describe(value)}`);
    }
    if (range.min !== undefined && number < range.min)
      return this.fail(path, `must be at least ${range.min}`);
    if (range.max !== undefined && number > range.max) return this.fail(path, `must be at most ${range.max}`);
    return number;
  }

  oneOf<T extends string>(value: unknown, path: KeyPath, choices: readonly T[]): T | undefined {
    if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
    return this.fail(path, `must be one of ${choices.join(', ')}, not ${describe(value)}`);
  }

  /**
   * A list of strings; a single string is a list of one, and an empty one (what `dns: ${UNSET}`
   * leaves) a list of none, as compose omits it.
   */
  strings(value: unknown, path: KeyPath): string[] {
    if (value === undefined || value === null || value === '') return [];
    const items = Array.isArray(value) ? value : [value];
    const out: string[] = [];
    items.forEach((item, index) => {
      const text = this.string(item, Array.isArray(value) ? [...path, index] : path);
      if (text !== undefined) out.push(text);
    });
    return out;
  }

  /**
   * `KEY=VALUE` list or `KEY: VALUE` map, as environment, labels, sysctls and extra_hosts allow.
   * A list entry without `=` (or a map value of null) has a null value.
   */
  keyValues(value: unknown, path: KeyPath, separator = '='): Map<string, string | null> {
    const out = new Map<string, string | null>();
    if (value === undefined || value === null) return out;
    if (Array.isArray(value)) {
      value.forEach((item, index) => {
        const text = this.string(item, [...path, index]);
        if (text === undefined) return;
        const at = text.indexOf(separator);
        const key = at < 0 ? text : text.slice(0, at);
        if (key === '') return void this.fail([...path, index], `"${text}" has no key`);
        out.set(key, at < 0 ? null : text.slice(at + separator.length));
      });
      return out;
    }
    if (!isPlainObject(value)) {
      this.fail(path, `must be a mapping or a list of "KEY${separator}VALUE", not ${describe(value)}`);
      return out;
    }
    for (const [key, item] of Object.entries(value)) {
      if (item === null || item === undefined) out.set(key, null);
      else if (isPlainObject(item) || Array.isArray(item))
        this.fail([...path, key], `must be a string, not ${describe(item)}`);
      else out.set(key, String(item));
    }
    return out;
  }

  /** Like keyValues, where a missing value means the empty string (labels). */
  labels(value: unknown, path: KeyPath): Record<string, string> {
    return Object.fromEntries([...this.keyValues(value, path)].map(([key, item]) => [key, item ?? '']));
  }

  duration(value: unknown, path: KeyPath, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' && typeof value !== 'number')
      return this.fail(path, `must be a duration such as "10s", not ${describe(value)}`) ?? fallback;
    return this.parsed(parseDuration(value), path) ?? fallback;
  }

  bytes(value: unknown, path: KeyPath): number | null {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string' && typeof value !== 'number')
      return this.fail(path, `must be a size such as "512m", not ${describe(value)}`) ?? null;
    return this.parsed(parseBytes(value), path) ?? null;
  }

  /** Runs a syntax parser and records its error at `path`. */
  parsed<T>(result: Parsed<T>, path: KeyPath): T | undefined {
    if ('error' in result) return this.fail(path, result.error);
    return result.value;
  }
}

export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a mapping';
  return JSON.stringify(value);
}

function suggest(key: string, allowed: readonly string[]): string {
  const close = allowed.find((candidate) => editDistance(candidate, key) <= 2);
  return close ? ` (did you mean "${close}"?)` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
