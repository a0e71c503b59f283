import type { Constraint } from '../types.js';
import { quote, type Parsed } from './parsed.js';

// Swarm's own grammar (swarmkit manager/constraint): `==` is looked for before `!=`, the key and the
// value are trimmed, and the value may not hold characters of operators, present or future.
const OPERATORS = ['==', '!='] as const;
const KEY = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

/** Keys whose prefix Swarm compares without case; a label's own name keeps its case. */
const FIXED_KEYS = ['node.hostname', 'node.id', 'node.platform.os', 'node.platform.arch'];
const LABEL_PREFIXES = ['node.labels.', 'engine.labels.'];
const SUPPORTED =
  'node.hostname, node.id, node.role, node.labels.<KEY>, engine.labels.<KEY>, node.platform.os or node.platform.arch';
const ROLES = ['manager', 'worker'];

/**
 * A Swarm placement constraint (`node.labels.zone != a`, `node.hostname==h1`, `node.role == manager`:
 * a heal host's role is `x-heal.hosts.NAME.role`, manager unless marked). The key comes out in
 * lower case except a label's name; `node.id` becomes `node.hostname`, since a heal host's only identity
 * is its name. The value is kept as written: Swarm compares values without case, and so should a matcher.
 */
export function parseConstraint(text: string): Parsed<Constraint> {
  const trimmed = text.trim();
  const fail = (reason: string): Parsed<Constraint> => ({
    error: `${quote(trimmed)} is not a placement constraint: ${reason}`,
  });
  const op = OPERATORS.find((candidate) => trimmed.includes(candidate));
  if (op === undefined) return fail('use KEY==VALUE or KEY!=VALUE');
  const at = trimmed.indexOf(op);
  const rawKey = trimmed.slice(0, at).trim();
  const value = trimmed.slice(at + op.length).trim();
  if (!KEY.test(rawKey)) return fail(`${quote(rawKey)} is not a key`);
  if (value === '') return fail('it has no value');
  if (!VALUE.test(value)) return fail(`${quote(value)} is not a value`);

  const key = normalizeKey(rawKey);
  // A host's role is x-heal.hosts.NAME.role; any other value would match no host, ever.
  if (key === 'node.role' && !ROLES.includes(value.toLowerCase())) {
    return fail(`node.role is manager or worker, not ${quote(value)}`);
  }
  if (key === null) {
    return { error: `${quote(trimmed)} uses ${rawKey}, which heal does not support: use ${SUPPORTED}` };
  }
  return { value: { key, op, value, text: trimmed } };
}

function normalizeKey(key: string): string | null {
  const lower = key.toLowerCase();
  if (lower === 'node.id') return 'node.hostname';
  if (lower === 'node.role' || FIXED_KEYS.includes(lower)) return lower;
  const prefix = LABEL_PREFIXES.find(
    (candidate) => lower.startsWith(candidate) && lower.length > candidate.length,
  );
  return prefix === undefined ? null : prefix + key.slice(prefix.length);
}

/**
 * A spread preference's label (`node.labels.zone`, `engine.labels.rack`): the only thing Swarm
 * spreads over. The prefix comes out in lower case, the label's name as written.
 */
export function parseSpread(text: string): Parsed<string> {
  const trimmed = text.trim();
  const prefix = LABEL_PREFIXES.find((candidate) => trimmed.toLowerCase().startsWith(candidate));
  const name = prefix === undefined ? '' : trimmed.slice(prefix.length);
  if (prefix === undefined || !KEY.test(`x${name}`) || name === '')
    return {
      error: `${quote(trimmed)} is not a label to spread over: use node.labels.<KEY> or engine.labels.<KEY>`,
    };
  return { value: `${prefix}${name}` };
}
