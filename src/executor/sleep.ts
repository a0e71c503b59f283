import { stopped } from './errors.js';

/** Waits `ms`, or rejects with a StoppedError as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(stopped(signal));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = (): void => {
      clearTimeout(timer);
      reject(stopped(signal!));
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}
