/**
 * The worker thread of load-isolated.ts: loads one spec and answers once. Nothing imports it; a
 * spec that exhausts this thread's heap or time ends this thread, not the daemon.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SpecError, type SpecProblem } from '../spec/errors.js';
import { loadStack, type LoadOptions } from '../spec/load.js';
import { toPortable, type PortableStack } from '../spec/transfer.js';

export type LoadReply =
  | { readonly stack: PortableStack }
  | { readonly problems: readonly SpecProblem[] }
  | { readonly failure: string };

const reply: LoadReply = await loadStack(workerData as LoadOptions).then(
  (stack) => ({ stack: toPortable(stack) }),
  (error: unknown) =>
    error instanceof SpecError
      ? { problems: error.problems }
      : { failure: error instanceof Error ? error.message : String(error) },
);
parentPort?.postMessage(reply);
