/**
 * The daemon loads each revision in a worker thread with a bounded heap and a deadline. The spec
 * phases bound what a document may expand to, but a commit is written by whoever can push: if
 * one still finds a way to exhaust memory or time, the worker dies, the revision is rejected like
 * any bad spec, and the daemon goes on healing with the last good one instead of dying (and, on
 * restart, loading the same commit and dying again).
 */
import { Worker } from 'node:worker_threads';
import { allowedEnvironment } from '../spec/confine.js';
import { SpecError } from '../spec/errors.js';
import type { LoadOptions } from '../spec/load.js';
import { fromPortable } from '../spec/transfer.js';
import type { Stack } from '../spec/types.js';
import type { LoadReply } from './load-worker.js';

export type Isolation = {
  /** The worker's V8 heap (old generation), in MiB. */
  readonly heapMb: number;
  readonly timeoutMs: number;
  /** The worker's script: the built load-worker.js beside this module. */
  readonly worker: URL;
};

/**
 * A spec is at most 4 MiB and expands to at most 16 MiB of text; a real one loads in
 * milliseconds with a few MiB. These bounds are far above that and far below the machine.
 */
export const ISOLATION: Isolation = {
  heapMb: 256,
  timeoutMs: 30_000,
  worker: new URL('./load-worker.js', import.meta.url),
};

/** loadStack's options; a worker reads no stdin. */
export type IsolatedLoadOptions = Omit<LoadOptions, 'stdin'>;

/** loadStack in a worker: the same Stack, or the same SpecError, or a SpecError for a worker that ran out. */
export function loadIsolated(
  options: IsolatedLoadOptions,
  isolation: Partial<Isolation> = {},
): Promise<Stack> {
  const { heapMb, timeoutMs, worker: script } = { ...ISOLATION, ...isolation };
  const refuse = (message: string): SpecError =>
    new SpecError([{ file: options.file, line: 0, col: 0, path: '', message }]);
  const workerData: IsolatedLoadOptions = {
    ...options,
    // A confined load needs only the allowed variables: nothing else crosses into the worker.
    environment: options.confine
      ? allowedEnvironment(options.environment, options.confine)
      : { ...options.environment },
  };
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      // The worker's process.env: empty, the variables it may use are in workerData.
      env: {},
      stdout: true,
      stderr: true,
    });
    worker.stdout.resume();
    worker.stderr.resume();
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      outcome();
    };
    const timer = setTimeout(
      () =>
        settle(() => reject(refuse(`loading it took longer than ${timeoutMs / 1000} s, so heal refused it`))),
      timeoutMs,
    );
    worker.on('message', (reply: LoadReply) =>
      settle(() => {
        if ('stack' in reply) resolve(fromPortable(reply.stack));
        else if ('problems' in reply) reject(new SpecError(reply.problems));
        else reject(new Error(`the spec loader failed: ${reply.failure}`));
      }),
    );
    worker.on('error', (error: Error & { code?: string }) =>
      settle(() =>
        reject(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? refuse(`loading it took more than ${heapMb} MiB of memory, so heal refused it`)
            : new Error(`the spec loader failed: ${error.message}`),
        ),
      ),
    );
    worker.on('exit', (code) =>
      settle(() => reject(new Error(`the spec loader stopped (exit code ${code}) before answering`))),
    );
  });
}
