/**
 * The interpolate phase: compose's `${VAR}` substitution, as compose-go's `template` package does it.
 * The environment comes in as a lookup, so this phase does no I/O and reads no `process.env`.
 */

/** A variable the spec may not read (heal watch's `HEAL_*`): why, as the end of a sentence. */
export type Refused = { readonly refused: string };

/**
 * A variable's value, undefined when it is unset (unset and empty differ for `-`, `?` and `+`),
 * or a refusal: then no operator can read around it, not even `${NAME:-default}`.
 */
export type Lookup = (name: string) => string | Refused | undefined;

/**
 * What interpolation may produce in all, in UTF-16 code units. `${A}${A}...` multiplies bytes
 * without any alias; past this the result is refused before it takes the memory.
 */
export const MAX_INTERPOLATED_LENGTH = 16 * 1024 * 1024;

/** Why a string could not be interpolated, before it is worded for its reader. */
export type InterpolationFailure =
  | { readonly kind: 'format' }
  | { readonly kind: 'required'; readonly name: string; readonly reason: string }
  | { readonly kind: 'refused'; readonly name: string; readonly reason: string }
  | { readonly kind: 'too-large' };

export type Substitution = { readonly value: string } | { readonly failure: InterpolationFailure };

export type TreeProblem = { path: (string | number)[]; message: string };

type Operator = ':-' | '-' | ':?' | '?' | ':+' | '+';

type Part =
  | { readonly kind: 'text'; readonly text: string }
  | {
      readonly kind: 'variable';
      readonly name: string;
      readonly operator: Operator | null;
      /** The default, alternative or message: parsed up front, evaluated only when used. */
      readonly argument: readonly Part[];
    };

type Step = { readonly part: Part; readonly end: number };

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

const FORMAT_HINT = 'you may need to escape any $ with another $';

/** Interpolates one string as compose does. Returns the result, or an error sentence (no path/position: the caller adds them). */
export function interpolateString(text: string, lookup: Lookup): { value: string } | { error: string } {
  const result = substitute(text, lookup);
  if ('failure' in result) return { error: describeFailure(result.failure, JSON.stringify(text)) };
  return { value: result.value };
}

/**
 * Interpolates one string and says why it failed as data, for callers that must word the failure
 * themselves (a `.env` value may be a secret, so its text must not appear in a message).
 * `limit`: what is left of MAX_INTERPOLATED_LENGTH for this string.
 */
export function substitute(text: string, lookup: Lookup, limit = MAX_INTERPOLATED_LENGTH): Substitution {
  if (!text.includes('$')) return text.length > limit ? tooLarge() : { value: text };
  const parts = parseTemplate(text);
  if (parts === null) return { failure: { kind: 'format' } };
  return evaluate(parts, lookup, limit);
}

/** `subject` names what failed to parse: the quoted text, or a phrase like `the value of FOO`. */
export function describeFailure(failure: InterpolationFailure, subject: string): string {
  if (failure.kind === 'format') return `invalid interpolation format for ${subject}; ${FORMAT_HINT}`;
  if (failure.kind === 'refused') return `variable ${failure.name} ${failure.reason}`;
  if (failure.kind === 'too-large')
    return `interpolated, the spec would exceed ${MAX_INTERPOLATED_LENGTH / 1024 / 1024} MiB of text (a variable repeated too often?)`;
  const sentence = `required variable ${failure.name} is missing a value`;
  return failure.reason === '' ? sentence : `${sentence}: ${failure.reason}`;
}

/**
 * Interpolates every string in a plain JSON-like tree (objects, arrays, scalars). Keys are not
 * interpolated. Returns the new tree and one problem per failing string with its key path. The
 * strings it returns add up to at most MAX_INTERPOLATED_LENGTH: past it, one problem, and the
 * rest is left as written.
 */
export function interpolateTree(tree: unknown, lookup: Lookup): { value: unknown; problems: TreeProblem[] } {
  const walk: TreeWalk = { lookup, problems: [], left: MAX_INTERPOLATED_LENGTH, full: false };
  const value = interpolateNode(tree, [], walk);
  return { value, problems: walk.problems };
}

type TreeWalk = { readonly lookup: Lookup; readonly problems: TreeProblem[]; left: number; full: boolean };

function interpolateNode(node: unknown, path: (string | number)[], walk: TreeWalk): unknown {
  if (typeof node === 'string') return interpolateLeaf(node, path, walk);
  if (Array.isArray(node)) {
    return node.map((item: unknown, index) => interpolateNode(item, [...path, index], walk));
  }
  if (!isPlainObject(node)) return node;
  // fromEntries defines properties, so a `__proto__` key stays a key instead of becoming a prototype.
  return Object.fromEntries(
    Object.entries(node).map(([key, child]) => [key, interpolateNode(child, [...path, key], walk)]),
  );
}

function interpolateLeaf(text: string, path: (string | number)[], walk: TreeWalk): string {
  if (walk.full) return text;
  const result = substitute(text, walk.lookup, walk.left);
  if ('value' in result) {
    walk.left -= result.value.length;
    return result.value;
  }
  if (result.failure.kind === 'too-large') walk.full = true;
  walk.problems.push({ path, message: describeFailure(result.failure, JSON.stringify(text)) });
  // The original text stands in, so the rest of the tree can still be checked.
  return text;
}

function isPlainObject(node: unknown): node is Record<string, unknown> {
  if (typeof node !== 'object' || node === null) return false;
  const prototype: unknown = Object.getPrototypeOf(node);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Parses the whole template before evaluating any of it, so a malformed `${` is reported even
 * inside a default that the current environment would never use.
 */
function parseTemplate(text: string): Part[] | null {
  const parts: Part[] = [];
  let literal = '';
  let index = 0;
  while (index < text.length) {
    const dollar = text.indexOf('$', index);
    if (dollar === -1) {
      literal += text.slice(index);
      break;
    }
    literal += text.slice(index, dollar);
    const step = parseDollar(text, dollar);
    if (step === null) return null;
    if (step.part.kind === 'text') literal += step.part.text;
    else {
      if (literal !== '') parts.push({ kind: 'text', text: literal });
      literal = '';
      parts.push(step.part);
    }
    index = step.end;
  }
  if (literal !== '') parts.push({ kind: 'text', text: literal });
  return parts;
}

/** Reads what starts at a `$`; null when it is a malformed `${`. */
function parseDollar(text: string, dollar: number): Step | null {
  const next = text[dollar + 1];
  if (next === '$') return { part: { kind: 'text', text: '$' }, end: dollar + 2 };
  if (next === '{') return parseBraced(text, dollar + 2);
  const name = readName(text, dollar + 1);
  // Like compose, a `$` before anything else (`$1`, `a $ b`, a trailing `$`) is kept as written.
  if (name === '') return { part: { kind: 'text', text: '$' }, end: dollar + 1 };
  return { part: { kind: 'variable', name, operator: null, argument: [] }, end: dollar + 1 + name.length };
}

/** Reads `${NAME}` or `${NAME<operator><argument>}`, from just after the `${`. */
function parseBraced(text: string, start: number): Step | null {
  const name = readName(text, start);
  if (name === '') return null;
  const afterName = start + name.length;
  if (text[afterName] === '}') {
    return { part: { kind: 'variable', name, operator: null, argument: [] }, end: afterName + 1 };
  }
  const operator = readOperator(text, afterName);
  if (operator === null) return null;
  const argumentStart = afterName + operator.length;
  const close = findClosingBrace(text, argumentStart);
  if (close === -1) return null;
  const argument = parseTemplate(text.slice(argumentStart, close));
  if (argument === null) return null;
  return { part: { kind: 'variable', name, operator, argument }, end: close + 1 };
}

function readName(text: string, start: number): string {
  NAME.lastIndex = start;
  return NAME.exec(text)?.[0] ?? '';
}

function readOperator(text: string, start: number): Operator | null {
  const two = text.slice(start, start + 2);
  if (two === ':-' || two === ':?' || two === ':+') return two;
  const one = text[start];
  if (one === '-' || one === '?' || one === '+') return one;
  return null;
}

/**
 * The `}` that balances the `${`, counting every `{` as compose-go does, so a default may hold
 * `{"a":1}`. When braces never balance, compose-go's regex falls back to the last `}` of the text.
 */
function findClosingBrace(text: string, from: number): number {
  let depth = 1;
  for (let index = from; index < text.length; index++) {
    if (text[index] === '{') depth++;
    else if (text[index] === '}' && --depth === 0) return index;
  }
  const last = text.lastIndexOf('}');
  return last >= from ? last : -1;
}

/** Checked after each part, so a runaway result stops within one part of the limit. */
function evaluate(parts: readonly Part[], lookup: Lookup, limit: number): Substitution {
  let value = '';
  for (const part of parts) {
    if (part.kind === 'text') value += part.text;
    else {
      const resolved = resolveVariable(part, lookup, limit);
      if ('failure' in resolved) return resolved;
      value += resolved.value;
    }
    if (value.length > limit) return tooLarge();
  }
  return { value };
}

function tooLarge(): Substitution {
  return { failure: { kind: 'too-large' } };
}

function resolveVariable(
  variable: Extract<Part, { kind: 'variable' }>,
  lookup: Lookup,
  limit: number,
): Substitution {
  const value = lookup(variable.name);
  if (typeof value === 'object')
    return { failure: { kind: 'refused', name: variable.name, reason: value.refused } };
  const useArgument = () => evaluate(variable.argument, lookup, limit);
  switch (variable.operator) {
    case null:
      return { value: value ?? '' };
    case ':-':
      return value === undefined || value === '' ? useArgument() : { value };
    case '-':
      return value === undefined ? useArgument() : { value };
    case ':+':
      return value === undefined || value === '' ? { value: '' } : useArgument();
    case '+':
      return value === undefined ? { value: '' } : useArgument();
    case ':?':
      return value === undefined || value === '' ? missing(variable.name, useArgument()) : { value };
    case '?':
      return value === undefined ? missing(variable.name, useArgument()) : { value };
  }
}

function missing(name: string, reason: Substitution): Substitution {
  if ('failure' in reason) return reason;
  return { failure: { kind: 'required', name, reason: reason.value } };
}
