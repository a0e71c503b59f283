import { StoppedError } from '../executor/errors.js';
import { Autoscaler } from './autoscaler.js';
import type { Confinement } from '../spec/confine.js';
import type { Stack } from '../spec/types.js';
import type { DaemonState } from './daemon-state.js';
import { watchFleet, watchKey, type FleetWatch } from './fleet-watch.js';
import { History } from './history.js';
import { startHttp } from './http.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { earliest, reconcile, type Reconciled } from './reconcile.js';
import { pageRoutes } from './page/stream.js';
import { Reconciler } from './reconciler.js';
import { createNotifier, type NotifyConfig } from './notify.js';
import { Notices, reconcileView } from './notify-events.js';
import { Restarts } from './restarts.js';
import type { SpecSource } from './source-types.js';
import { SpecState } from './spec-state.js';
import { liveness, statusOf } from './status.js';
import { verifyWebhook } from './webhook.js';

export type { Outcome } from './reconcile.js';

export type DaemonOptions = {
  readonly source: SpecSource;
  readonly environment: Readonly<Record<string, string | undefined>>;
  readonly envFile?: string;
  /** What a commit may reach (variables, files); heal watch always sets it. */
  readonly confine?: Confinement;
  /** `127.0.0.1:9400` */
  readonly listen: string;
  readonly log: Logger;
  /** Shared secret for POST /hooks/git; without one the hook answers 404. */
  readonly webhookSecret?: string;
  readonly acceptNewHostKeys?: boolean;
  readonly connectTimeoutMs?: number;
  /** `/healthz` fails once the reconcile loop has not moved for this long. Default 11 min. */
  readonly stallAfterMs?: number;
  /** Told every secret value a loaded spec holds (env_file values), so logs can hide them. */
  readonly secrets?: (values: string[]) => void;
  /** Where to tell people what heal did (a webhook, commit statuses); none: nobody is told. */
  readonly notify?: NotifyConfig;
};

const FAILURE_BACKOFF_MS = { initial: 1_000, max: 60_000 };
/** Longer than any one step of a reconcile may take: the longest, a pull, is bounded by 10 min. */
const DEFAULT_STALL_MS = 11 * 60_000;

/**
 * `heal watch`: follows the spec source, the hosts (events, heartbeat) and a resync timer, and
 * reconciles on each. Triggers only queue a reconcile (`Reconciler`); `reconcile.ts` decides and
 * acts; the routes read a snapshot of the state. Returns once the HTTP listener is up; `stop()`
 * ends it: no action starts after it, a batch delay ends at once, the lock is released.
 */
export async function startDaemon(
  options: DaemonOptions,
): Promise<{ stop(): Promise<void>; address: { host: string; port: number } }> {
  const { log, source } = options;
  const metrics = createMetrics();
  const stopping = new AbortController();
  const notifier = options.notify ? createNotifier(options.notify, { log, metrics }) : null;
  const notices = new Notices();
  const state: DaemonState = {
    spec: new SpecState({
      source,
      environment: options.environment,
      ...(options.envFile ? { envFile: options.envFile } : {}),
      ...(options.confine ? { confine: options.confine } : {}),
      log,
      metrics,
      ...(options.secrets ? { secrets: options.secrets } : {}),
      onLoaded: (good, first) =>
        notifier?.send(notices.loaded(good.stack.name, good.revision, first, Date.now())),
      onRejected: (stack, revision, error) =>
        notifier?.send(notices.rejected(stack, revision, error, Date.now())),
    }),
    restarts: new Restarts(),
    watch: null,
    observed: null,
    stopsSeenAt: 0,
    partitioned: false,
    last: null,
    history: new History(),
    failures: 0,
    ready: false,
    aliveAt: Date.now(),
    quietUntil: 0,
  };

  const watchFor = (stack: Stack): FleetWatch => {
    if (state.watch?.key === watchKey(stack)) return state.watch;
    const previous = state.watch;
    state.watch = watchFleet(stack, {
      log,
      acceptNewHostKeys: options.acceptNewHostKeys === true,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      trigger: () => reconciler.trigger(),
      triggerAt: (at) => reconciler.triggerAt(at),
    });
    void previous?.close();
    return state.watch;
  };

  const reconciler = new Reconciler(async () => {
    const started = Date.now();
    let result: Reconciled;
    try {
      result = await reconcile(state, {
        log,
        metrics,
        watchFor,
        stopping: stopping.signal,
        progress: (until) => {
          state.aliveAt = Date.now();
          state.quietUntil = Math.max(state.quietUntil, until);
        },
      });
    } catch (error) {
      if (error instanceof StoppedError) return { retryAt: null };
      const message = error instanceof Error ? error.message : String(error);
      log.error({ error: message }, 'reconcile crashed');
      result = {
        outcome: 'failed',
        stack: state.spec.good?.stack ?? null,
        actions: 0,
        failed: 0,
        message,
        retryAt: null,
      };
    }
    const retryAt = record(state, metrics, log, result, started);
    if (notifier) notifier.send(notices.reconciled(reconcileView(state, result, Date.now()), Date.now()));
    return { retryAt };
  });

  const autoscaler = new Autoscaler({
    log,
    metrics,
    trigger: () => reconciler.trigger(),
    input: () =>
      state.spec.good && state.observed && state.watch
        ? { stack: state.spec.good.stack, observed: state.observed, reach: state.watch.fleet.reach }
        : null,
  });

  const http = await startHttp({
    listen: options.listen,
    metrics,
    status: () => statusOf(state, source.describe, Date.now()),
    pages: pageRoutes({
      status: () => statusOf(state, source.describe, Date.now()),
      subscribe: (listener) => state.history.subscribe(listener),
    }),
    ready: () => state.ready,
    alive: () => liveness(state, Date.now(), options.stallAfterMs ?? DEFAULT_STALL_MS),
    log,
    ...(options.webhookSecret
      ? {
          onGitHook: (body: Buffer, headers: Record<string, string | string[] | undefined>) => {
            const verdict = verifyWebhook(headers, body, options.webhookSecret!);
            if (!verdict.ok) {
              log.warn({ reason: verdict.reason }, 'webhook rejected');
              return { status: 401, message: 'signature rejected' };
            }
            log.info({ provider: verdict.provider }, 'webhook accepted');
            source.poke();
            return { status: 202, message: 'fetching' };
          },
        }
      : {}),
  });

  source.start(() => {
    state.spec.changed = true;
    reconciler.trigger();
  });
  let resync: NodeJS.Timeout | null = null;
  const scheduleResync = (): void => {
    const interval = state.spec.good?.stack.heal.watch.interval ?? 15_000;
    resync = setTimeout(() => {
      reconciler.trigger();
      scheduleResync();
    }, interval);
  };
  scheduleResync();
  reconciler.trigger();
  autoscaler.start();
  log.info(
    { source: source.describe, listen: `${http.address.host}:${http.address.port}` },
    'heal watch started',
  );

  return {
    address: http.address,
    async stop() {
      stopping.abort(new StoppedError('heal is stopping'));
      if (resync) clearTimeout(resync);
      await autoscaler.stop();
      await reconciler.stop();
      await Promise.all([state.watch?.close(), source.close(), http.close(), notifier?.close()]);
      log.info({}, 'heal watch stopped');
    },
  };
}

/** Records how a reconcile ended (status, metrics, log) and says when to look again. */
function record(
  state: DaemonState,
  metrics: Metrics,
  log: Logger,
  result: Reconciled,
  started: number,
): number | null {
  const { outcome, stack, actions, failed, message, looks } = result;
  const ms = Date.now() - started;
  state.last = { at: new Date().toISOString(), outcome, ms, actions, failed, message };
  state.history.reconciled({ ...state.last, revision: state.spec.good?.revision ?? null });
  state.ready = true;
  state.aliveAt = Date.now();
  state.quietUntil = 0;
  // An applying pass is followed at once by the pass that tells whether it converged.
  if (stack && outcome !== 'applying') metrics.observeReconcile(stack.name, outcome, ms / 1000);
  const level = outcome === 'failed' ? 'warn' : outcome === 'converged' ? 'debug' : 'info';
  log[level](
    {
      stack: stack?.name ?? null,
      revision: state.spec.good?.revision ?? null,
      outcome,
      ms,
      actions,
      failed,
      message,
      ...(looks !== undefined ? { looks } : {}),
    },
    'reconcile done',
  );
  state.failures = outcome === 'failed' ? state.failures + 1 : 0;
  const backoff =
    outcome === 'failed'
      ? Date.now() + Math.min(FAILURE_BACKOFF_MS.max, FAILURE_BACKOFF_MS.initial * 2 ** (state.failures - 1))
      : null;
  return earliest(result.retryAt, backoff);
}
