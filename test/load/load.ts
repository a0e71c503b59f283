/**
 * A bounded HTTP load generator for the test bed: e2e tests, `npm run bench` and the demo (through
 * cli.ts) send requests to the hosts' published ports with it and count what failed, and why.
 *
 * Every loop is bounded: a run stops at its request count or its duration, whichever comes first,
 * and each request at its own timeout, so a run ends by itself at most `maxDurationMs + timeoutMs`
 * after its start. No keep-alive: each request opens its own connection, so a balancer sees each
 * one and the replicas that answer show the balancing. Requests go to the targets round-robin.
 */
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type FailReason, type LoadSummary, type RequestRecord, summarize, type Window } from './summary.js';

export type LoadOptions = {
  /** `http://ADDRESS:PORT/PATH`, used round-robin. */
  readonly targets: readonly string[];
  /** Requests in flight at once (each on its own connection). */
  readonly concurrency: number;
  /** No request starts after this many. */
  readonly maxRequests: number;
  /** No request starts this long after the run's start. */
  readonly maxDurationMs: number;
  /** A request with no complete answer by then fails as `timeout` (connect, answer and body). */
  readonly timeoutMs: number;
  /** Pacing: request i starts no earlier than i / rate seconds after the start. None: as fast as answered. */
  readonly ratePerSecond?: number;
  /** Keep each successful answer's body (trimmed, first `maxBodyBytes`): `/host` names the replica. */
  readonly keepBodies?: boolean;
  readonly maxBodyBytes?: number;
};

/** Counters so far, cheap to read while the run goes on. */
export type LoadSample = {
  /** ms since the epoch. */
  readonly at: number;
  /** Requests started. */
  readonly sent: number;
  /** Requests finished, ok or failed. */
  readonly done: number;
  readonly ok: number;
  readonly failed: number;
  readonly inFlight: number;
  readonly byReason: Readonly<Partial<Record<FailReason, number>>>;
  readonly running: boolean;
};

/** Why a run stopped starting requests. */
export type StopCause = 'max-requests' | 'max-duration' | 'stopped';

export type LoadResult = LoadSummary & {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly stoppedBy: StopCause;
  readonly records: readonly RequestRecord[];
};

/** A run in the background: sample it, summarize a window of it, stop it. */
export type LoadRun = {
  readonly startedAt: number;
  sample(): LoadSample;
  /** The finished requests so far, in the order they finished. */
  records(): readonly RequestRecord[];
  /** The finished requests started within the window (all when none is given). */
  summary(window?: Window): LoadSummary;
  /** Starts no more requests, waits for those in flight (each bounded by its timeout). */
  stop(): Promise<LoadResult>;
  /** Resolves when the run ends: a bound reached, or stop(). */
  readonly done: Promise<LoadResult>;
};

const DEFAULT_MAX_BODY = 4096;

/** Throws on options that would leave a loop unbounded or a request with nowhere to go. */
export function checkLoadOptions(options: LoadOptions): void {
  const problems: string[] = [];
  if (options.targets.length === 0) problems.push('no target');
  for (const target of options.targets) {
    const url = URL.canParse(target) ? new URL(target) : null;
    if (url?.protocol !== 'http:') problems.push(`target ${target}: want http://address:port/path`);
  }
  const positive = (name: keyof LoadOptions, value: number | undefined, integer: boolean): void => {
    if (value === undefined || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
      problems.push(`${name} must be a positive ${integer ? 'integer' : 'number'} (got ${value})`);
  };
  positive('concurrency', options.concurrency, true);
  positive('maxRequests', options.maxRequests, true);
  positive('maxDurationMs', options.maxDurationMs, false);
  positive('timeoutMs', options.timeoutMs, false);
  if (options.ratePerSecond !== undefined) positive('ratePerSecond', options.ratePerSecond, false);
  if (options.maxBodyBytes !== undefined) positive('maxBodyBytes', options.maxBodyBytes, true);
  if (problems.length > 0) throw new Error(`load: ${problems.join('; ')}`);
}

/** The failure reason of a request that got no answer, from its error's code. */
export function reasonOf(code: string | undefined): FailReason {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return 'unreachable';
    default:
      return 'error';
  }
}

/** The failure reason of an answer, or undefined when it is a success (1xx-3xx). */
export function reasonOfStatus(status: number): FailReason | undefined {
  if (status >= 500) return 'http-5xx';
  if (status >= 400) return 'http-4xx';
  return undefined;
}

/** One GET on a new connection, bounded by `timeoutMs` from its start to its body's end. */
export function sendOne(
  target: string,
  timeoutMs: number,
  keepBody: boolean,
  maxBodyBytes = DEFAULT_MAX_BODY,
): Promise<RequestRecord> {
  const startedAt = Date.now();
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<RequestRecord, 'target' | 'startedAt' | 'durationMs'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ target, startedAt, durationMs: performance.now() - t0, ...outcome });
    };
    const failed = (error: unknown): void => {
      const code = (error as NodeJS.ErrnoException).code;
      finish({
        ok: false,
        reason: reasonOf(code),
        error: code ?? (error instanceof Error ? error.message : String(error)),
      });
    };
    // agent: false gives each request a connection of its own, closed after the answer.
    const req = request(
      target,
      { method: 'GET', agent: false, headers: { connection: 'close' } },
      (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (!keepBody || kept >= maxBodyBytes) return;
          chunks.push(chunk.subarray(0, maxBodyBytes - kept));
          kept += chunk.length;
        });
        response.on('error', failed);
        // The connection died before the whole body came: not an answer.
        response.on('close', () => {
          if (!response.complete)
            failed(Object.assign(new Error('answer cut short'), { code: 'ECONNRESET' }));
        });
        response.on('end', () => {
          const reason = reasonOfStatus(status);
          const body = keepBody ? Buffer.concat(chunks).toString('utf8').trim() : undefined;
          finish({
            ok: reason === undefined,
            status,
            ...(reason ? { reason } : {}),
            ...(body !== undefined && reason === undefined ? { body } : {}),
          });
        });
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, reason: 'timeout', error: `timeout after ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', failed);
    req.end();
  });
}

/** Starts a run in the background. */
export function startLoad(options: LoadOptions): LoadRun {
  checkLoadOptions(options);
  const startedAt = Date.now();
  const t0 = performance.now();
  const deadline = t0 + options.maxDurationMs;
  const records: RequestRecord[] = [];
  const byReason: Partial<Record<FailReason, number>> = {};
  let next = 0;
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  let stopCause: StopCause | null = null;
  // Pacing waits, woken early by stop().
  const sleepers = new Set<() => void>();
  const nap = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  const halt = (cause: StopCause): void => {
    stopCause ??= cause;
    for (const wake of [...sleepers]) wake();
  };

  /** The index of the next request to start, or null when a bound is reached. */
  const claim = async (): Promise<number | null> => {
    for (;;) {
      if (stopCause) return null;
      if (next >= options.maxRequests) {
        halt('max-requests');
        return null;
      }
      const now = performance.now();
      if (now >= deadline) {
        halt('max-duration');
        return null;
      }
      if (options.ratePerSecond === undefined) return next++;
      const due = t0 + (next * 1000) / options.ratePerSecond;
      if (due >= deadline) {
        halt('max-duration');
        return null;
      }
      if (due <= now) return next++;
      await nap(due - now);
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const index = await claim();
      if (index === null) return;
      inFlight += 1;
      const target = options.targets[index % options.targets.length]!;
      const record = await sendOne(
        target,
        options.timeoutMs,
        options.keepBodies ?? false,
        options.maxBodyBytes,
      );
      inFlight -= 1;
      records.push(record);
      if (record.ok) ok += 1;
      else {
        failed += 1;
        const reason = record.reason ?? 'error';
        byReason[reason] = (byReason[reason] ?? 0) + 1;
      }
    }
  };

  const workers = Array.from({ length: Math.min(options.concurrency, options.maxRequests) }, () => worker());
  const done: Promise<LoadResult> = Promise.all(workers).then(() => ({
    ...summarize(records),
    startedAt,
    endedAt: Date.now(),
    stoppedBy: stopCause ?? 'max-requests',
    records,
  }));

  return {
    startedAt,
    sample: () => ({
      at: Date.now(),
      sent: next,
      done: records.length,
      ok,
      failed,
      inFlight,
      byReason: { ...byReason },
      running: stopCause === null || inFlight > 0,
    }),
    records: () => records,
    summary: (window) => summarize(records, window),
    stop: () => {
      halt('stopped');
      return done;
    },
    done,
  };
}

/** Runs to a bound and returns everything it saw. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return startLoad(options).done;
}
