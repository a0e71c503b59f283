import { randomUUID } from 'node:crypto';
import type { Logger } from './log.js';
import type { Metrics, NotificationOutcome } from './metrics.js';
import { Dedupe, type NotifyEvent } from './notify-events.js';
import {
  commitStatusRequest,
  webhookRequest,
  type CommitStatusTarget,
  type HttpRequest,
  type WebhookTarget,
} from './notify-targets.js';

/** Where notifications go: set by `heal watch`'s flags and environment, never by the spec. */
export type NotifyConfig = {
  readonly webhook?: WebhookTarget;
  readonly commitStatus?: CommitStatusTarget;
  /** How long one request may take. Default 10 s. */
  readonly timeoutMs?: number;
};

export type Notifier = {
  /** Queues the events for every target and returns at once: nothing here waits on a target. */
  send(events: readonly NotifyEvent[]): void;
  /** Waits up to `graceMs` for the queues to empty, then abandons what is left. */
  close(graceMs?: number): Promise<void>;
};

type Deps = {
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'countNotification'>;
  readonly now?: () => number;
  /** For tests: the retries' pauses. Default 1 s, then 5 s. */
  readonly retryDelaysMs?: readonly number[];
};

type Target = {
  readonly name: string;
  readonly request: (item: NotifyEvent, delivery: string) => HttpRequest | null;
};

type Queued = { readonly item: NotifyEvent; readonly request: HttpRequest };

/** A target that cannot keep up loses its oldest notifications, never memory. */
const QUEUE_MAX = 100;
const DEFAULT_TIMEOUT_MS = 10_000;
const RETRY_DELAYS_MS = [1_000, 5_000];
/** What a target answered, kept for the log: short, and never the request. */
const ANSWER_MAX = 200;

/**
 * Sends the daemon's events to the configured targets in the background. Each target has its own
 * bounded queue, sent in order one request at a time (a commit's `pending` before its `success`),
 * each request bounded in time, retried twice on a network error, a 429 or a 5xx. An event
 * identical to one sent within the hour is dropped (`Dedupe`). Every outcome is logged (the
 * target's name and host, never its URL, token or secret) and counted in
 * `heal_notifications_total{target,outcome}`: sent, failed, dropped (queue full or closing),
 * suppressed (a repeat within the hour).
 */
export function createNotifier(config: NotifyConfig, deps: Deps): Notifier {
  const now = deps.now ?? Date.now;
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const delays = deps.retryDelaysMs ?? RETRY_DELAYS_MS;
  const closing = new AbortController();
  const targets: Target[] = [];
  if (config.webhook) {
    const webhook = config.webhook;
    targets.push({ name: 'webhook', request: (item, delivery) => webhookRequest(webhook, item, delivery) });
  }
  if (config.commitStatus) {
    const status = config.commitStatus;
    targets.push({ name: status.forge, request: (item) => commitStatusRequest(status, item) });
  }
  const dedupe = new Dedupe();
  const outcomes: NotificationOutcome[] = ['sent', 'failed', 'dropped', 'suppressed'];
  for (const target of targets)
    for (const outcome of outcomes) deps.metrics.countNotification(target.name, outcome, 0);

  const queues = new Map(targets.map((target) => [target.name, [] as Queued[]]));
  const running = new Map<string, Promise<void>>();

  const count = (target: string, outcome: NotificationOutcome): void =>
    deps.metrics.countNotification(target, outcome);

  const post = async (target: string, queued: Queued): Promise<void> => {
    const { item, request } = queued;
    const fields = { target, to: new URL(request.url).host, event: item.kind, stack: item.stack };
    let last = '';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (closing.signal.aborted) break;
      if (attempt > 0) await pause(delays[attempt - 1]!, closing.signal);
      const result = await attemptOnce(request, timeoutMs, closing.signal);
      if (result.ok) {
        count(target, 'sent');
        deps.log.debug({ ...fields, status: result.status, attempt: attempt + 1 }, 'notification sent');
        return;
      }
      last = result.error;
      if (!result.retry) break;
    }
    count(target, 'failed');
    deps.log.warn({ ...fields, error: last }, 'notification failed');
  };

  const drain = async (target: string): Promise<void> => {
    const queue = queues.get(target)!;
    for (let next = queue.shift(); next; next = queue.shift()) await post(target, next);
    running.delete(target);
  };

  return {
    send(events) {
      if (closing.signal.aborted) return;
      const at = now();
      for (const item of events) {
        const fresh = dedupe.admit(item, at);
        const delivery = randomUUID();
        for (const target of targets) {
          const request = target.request(item, delivery);
          if (request === null) continue;
          if (!fresh) {
            count(target.name, 'suppressed');
            continue;
          }
          const queue = queues.get(target.name)!;
          queue.push({ item, request });
          while (queue.length > QUEUE_MAX) {
            const lost = queue.shift()!;
            count(target.name, 'dropped');
            deps.log.warn({ target: target.name, event: lost.item.kind }, 'notification dropped: queue full');
          }
          if (!running.has(target.name)) running.set(target.name, drain(target.name));
        }
      }
    },
    async close(graceMs = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([Promise.all(running.values()), grace]);
      clearTimeout(timer);
      closing.abort();
      for (const [name, queue] of queues) {
        if (queue.length > 0) deps.metrics.countNotification(name, 'dropped', queue.length);
        queue.length = 0;
      }
      await Promise.all(running.values());
    },
  };
}

type Attempt = { ok: true; status: number } | { ok: false; retry: boolean; error: string };

async function attemptOnce(request: HttpRequest, timeoutMs: number, closing: AbortSignal): Promise<Attempt> {
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      // A redirect could carry the token to another host: it is a failure, not followed.
      redirect: 'error',
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), closing]),
    });
    const text = await response.text().catch(() => '');
    if (response.ok) return { ok: true, status: response.status };
    return {
      ok: false,
      retry: response.status === 429 || response.status >= 500,
      error: `HTTP ${response.status}${text ? `: ${text.slice(0, ANSWER_MAX).trim()}` : ''}`,
    };
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const timedOut = name === 'TimeoutError';
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : null;
    const message = timedOut
      ? `no answer within ${timeoutMs} ms`
      : (cause ?? (error instanceof Error ? error.message : String(error)));
    return { ok: false, retry: !closing.aborted, error: message };
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
