/**
 * Reads a `.env` file the way compose-go's `dotenv` package does. Values here may be secrets,
 * so no message ever quotes a value: only keys and line numbers.
 */
import { describeFailure, MAX_INTERPOLATED_LENGTH, substitute, type Lookup } from './interpolate.js';

export type DotenvProblem = { line: number; message: string };

type Quote = "'" | '"';

/** One statement as written, before its key is checked and its value interpolated. */
type Statement =
  /** `KEY` alone: compose takes the value from the environment. */
  | { readonly kind: 'inherited'; readonly key: string; readonly end: number }
  | {
      readonly kind: 'assignment';
      readonly key: string;
      /** The value without its quotes; a double-quoted one still holds its backslash escapes. */
      readonly raw: string;
      readonly quote: Quote | null;
      readonly end: number;
    }
  | { readonly kind: 'broken'; readonly message: string; readonly at: number; readonly end: number };

type Outcome =
  | { readonly key: string; readonly value: string }
  /** final: nothing after it is read (the file's values outgrew the bound). */
  | { readonly problem: string; readonly final?: boolean }
  | null;

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const EXPORT = /^export[ \t]+/;
const AFTER_QUOTE = /^[ \t\r\v\f]*(?:#.*)?$/;
const ESCAPE = /\\(?:([abfnrtv\\"$])|0([0-7]{3}))/g;
const ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
  // `$$` is how interpolation spells a literal `$`, so `\$` keeps `\${X}` from expanding.
  $: '$$',
};

/** Parses a .env file as docker compose does. Returns variables in order, or problems with 1-based line numbers. */
export function parseDotenv(
  text: string,
  lookup: Lookup = () => undefined,
): { values: Map<string, string>; problems: DotenvProblem[] } {
  const values = new Map<string, string>();
  const problems: DotenvProblem[] = [];
  // Editors on Windows may prepend a byte order mark; compose drops it too.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  // As compose-go: the environment first, then the lines above in this file.
  const scope: Lookup = (name) => lookup(name) ?? values.get(name);
  const lineOf = lineCounter(source);
  // `B=${A}${A}`, `C=${B}${B}`... doubles at every line: the values together are bounded.
  let left = MAX_INTERPOLATED_LENGTH;
  for (let index = skipIgnored(source, 0); index < source.length;) {
    const statement = readStatement(source, index);
    const line = lineOf(statement.kind === 'broken' ? statement.at : index);
    const outcome = evaluateStatement(statement, scope, lookup, left);
    if (outcome !== null && 'problem' in outcome) {
      problems.push({ line, message: outcome.problem });
      if (outcome.final) break;
    } else if (outcome !== null) {
      values.set(outcome.key, outcome.value);
      left -= outcome.value.length;
    }
    index = skipIgnored(source, statement.end);
  }
  return { values, problems };
}

function evaluateStatement(statement: Statement, scope: Lookup, lookup: Lookup, left: number): Outcome {
  if (statement.kind === 'broken') return { problem: statement.message };
  const key = statement.key;
  if (!KEY.test(key)) return { problem: `invalid variable name ${JSON.stringify(key)}` };
  if (statement.kind === 'inherited') {
    const value = lookup(key);
    if (typeof value === 'object') return { problem: `variable ${key} ${value.refused}` };
    return value === undefined ? null : { key, value };
  }
  if (statement.quote === "'") return { key, value: statement.raw };
  const template = statement.quote === '"' ? decodeEscapes(statement.raw) : statement.raw;
  const result = substitute(template, scope, left);
  if ('failure' in result) {
    const problem = describeFailure(result.failure, `the value of ${key}`);
    return { problem, final: result.failure.kind === 'too-large' };
  }
  return { key, value: result.value };
}

/** Skips blank space, line breaks and `#` comment lines; returns where the next statement starts. */
function skipIgnored(text: string, from: number): number {
  let index = from;
  while (index < text.length) {
    if (/\s/.test(text[index] ?? '')) index++;
    else if (text[index] === '#') index = lineEnd(text, index);
    else break;
  }
  return index;
}

function readStatement(text: string, start: number): Statement {
  const end = lineEnd(text, start);
  const keyStart = start + (EXPORT.exec(text.slice(start, end))?.[0].length ?? 0);
  const separator = findSeparator(text, keyStart, end);
  if (separator === -1) return { kind: 'inherited', key: text.slice(keyStart, end).trim(), end };
  const key = text.slice(keyStart, separator).trim();
  const valueStart = skipSpaces(text, separator + 1, end);
  const first = text[valueStart];
  if (first === "'" || first === '"') return readQuoted(text, key, valueStart, first);
  return { kind: 'assignment', key, raw: unquotedValue(text.slice(valueStart, end)), quote: null, end };
}

/** `=`, or `:` for the YAML-like `KEY: value` that compose also accepts. */
function findSeparator(text: string, from: number, to: number): number {
  for (let index = from; index < to; index++) {
    if (text[index] === '=' || text[index] === ':') return index;
  }
  return -1;
}

function skipSpaces(text: string, from: number, to: number): number {
  let index = from;
  while (index < to && (text[index] === ' ' || text[index] === '\t')) index++;
  return index;
}

/** Compose trims leading space before looking for ` #`, so `KEY= #x` is `#x`, while `KEY=a #x` is `a`. */
function unquotedValue(rest: string): string {
  const comment = rest.indexOf(' #');
  return (comment === -1 ? rest : rest.slice(0, comment)).trimEnd();
}

/** A quoted value may span lines; a backslash before the quote character escapes it, in both quotes. */
function readQuoted(text: string, key: string, open: number, quote: Quote): Statement {
  let raw = '';
  for (let index = open + 1; index < text.length; index++) {
    const char = text[index] ?? '';
    const next = text[index + 1];
    if (char === '\\' && next !== undefined) {
      raw += next === quote ? next : char + next;
      index++;
    } else if (char === quote) {
      return afterQuote(text, key, raw, quote, index);
    } else {
      raw += char;
    }
  }
  return { kind: 'broken', message: `unterminated quoted value for ${key}`, at: open, end: text.length };
}

/** Only space and a comment may follow the closing quote on its line. */
function afterQuote(text: string, key: string, raw: string, quote: Quote, close: number): Statement {
  const end = lineEnd(text, close);
  if (AFTER_QUOTE.test(text.slice(close + 1, end))) return { kind: 'assignment', key, raw, quote, end };
  return { kind: 'broken', message: `unexpected text after the closing quote of ${key}`, at: close, end };
}

/** Compose's escapes in double quotes; any other backslash stays as written (`\x07` is four characters). */
function decodeEscapes(raw: string): string {
  return raw.replace(ESCAPE, (match, single: string | undefined, octal: string | undefined) => {
    if (single !== undefined) return ESCAPES[single] ?? match;
    const code = Number.parseInt(octal ?? '', 8);
    return code <= 0xff ? String.fromCharCode(code) : match;
  });
}

function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end === -1 ? text.length : end;
}

/** Line numbers for positions asked in increasing order, counting each line break once. */
function lineCounter(text: string): (index: number) => number {
  let line = 1;
  let counted = 0;
  return (index) => {
    for (; counted < index; counted++) if (text[counted] === '\n') line++;
    return line;
  };
}

/**
 * compose's `format: raw` env file: each line is KEY=VALUE with the value taken as written (no
 * quotes removed, nothing interpolated); blank lines and `#` comments are skipped.
 */
export function parseRawEnv(text: string): { values: Map<string, string>; problems: DotenvProblem[] } {
  const values = new Map<string, string>();
  const problems: DotenvProblem[] = [];
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  source.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const at = line.indexOf('=');
    const key = at < 0 ? line.trim() : line.slice(0, at).trim();
    if (key === '') return void problems.push({ line: index + 1, message: 'has no variable name' });
    values.set(key, at < 0 ? '' : line.slice(at + 1));
  });
  return { values, problems };
}
