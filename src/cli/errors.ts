import { SpecError } from '../spec/errors.js';

/** A mistake in how heal was called (a bad flag value, a missing argument). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Exit codes, in one place. 1: the user's input or the world is not as it should be (a spec
 * error, an unreachable host, a failed action). 2 is kept for `plan --detailed-exitcode`.
 * 64: usage. 70: a bug in heal (the only case that prints a stack trace).
 */
export const EXIT = { ok: 0, failed: 1, changes: 2, usage: 64, internal: 70 } as const;

/** Known error classes of the layers below register here so the CLI can map them. */
const userErrors: (new (...args: never[]) => Error)[] = [SpecError, UsageError];

export function registerUserError(kind: new (...args: never[]) => Error): void {
  userErrors.push(kind);
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  return userErrors.some((kind) => error instanceof kind) ? EXIT.failed : EXIT.internal;
}

/** What the user reads: the message alone for their mistakes, the stack for heal's own bugs. */
export function describeError(error: unknown): string {
  if (userErrors.some((kind) => error instanceof kind)) return (error as Error).message;
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `heal: internal error (a bug in heal; please report it):\n${detail}`;
}
