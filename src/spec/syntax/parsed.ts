/** What every syntax parser returns: the value, or one sentence that quotes the offending input. */
export type Parsed<T> = { value: T } | { error: string };

/**
 * Renders an input the way messages quote it: strings in double quotes, other scalars as written,
 * collections by their kind, so a message never dumps a whole mapping.
 */
export function quote(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object' && input !== null) return 'a mapping';
  return String(input);
}
