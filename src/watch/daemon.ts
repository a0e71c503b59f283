import { relative } from 'node:path';
import { apply } from '../executor/apply.js';
import { openFleet, type Fleet } from '../executor/fleet.js';
import { acquireLock, LockHeldError } from '../executor/lock.js';
import { observe } from '../executor/observe.js';
import type { Observed } from '../planner/observed.js';
import { plan } from '../planner/plan.js';
import { statusRows } from '../planner/status.js';
import type { Action, Plan } from '../planner/plan-types.js';
import type { Confinement } from '../spec/confine.js';
import type { Stack } from '../spec/types.js';
import { followEvents } from './events.js';
import { HostStates } from './host-states.js';
import { startHttp } from './http.js';
import { loadIsolated } from './load-isolated.js';
import type { Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { Reconciler } from './reconciler.js';
import { Restarts } from './restarts.js';
import type { SpecSource } from './source.js';
import { verifyWebhook } from './webhook.js';

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
  /** Told every secret value a loaded spec holds (env_file values), so logs can hide them. */
  readonly secrets?: (values: string[]) => void;
};

export type Outcome = 'converged' | 'waiting' | 'failed' | 'applying' | 'rolled_back' | 'paused';

type LastReconcile = {
  at: string;
  outcome: Outcome;
  ms: number;
  actions: number;
  failed: number;
  message: string | null;
};

const FAILURE_BACKOFF_MS = { initial: 1_000, max: 60_000 };
const EVENT_SETTLE_MS = 100;

/**
 * `heal watch`: follows the spec source, the hosts' events and a resync timer, and reconciles on
 * each. Returns once the HTTP listener is up; `stop()` ends it cleanly (the reconcile in flight
 * finishes its phase, the lock is released).
 */
export async function startDaemon(
  options: DaemonOptions,
): Promise<{ stop(): Promise<void>; address: { host: string; port: number } }> {
  const { log, source } = options;
  const metrics = createMetrics();
  const restarts = new Restarts();
  let good: { stack: Stack; revision: string | null } | null = null;
  /** The good spec before the newest one, until the newest has planned: a plan it refuses falls back. */
  let fallback: { stack: Stack; revision: string | null } | null = null;
  /** When each host's event stream last dropped: its engine restarted or stopped answering. */
  const streamLost = new Map<string, number>();
  let specError: string | null = null;
  /** The source announced something new since the spec was last read (true at the start). */
  let specChanged = true;
  let fleet: { key: string; fleet: Fleet; events: { stop(): void } } | null = null;
  let hostStates: HostStates | null = null;
  let last: LastReconcile | null = null;
  let lastObserved: Observed | null = null;
  let partitioned = false;
  let failures = 0;
  let stopping = false;
  let ready = false;

  const fleetFor = (stack: Stack): Fleet => {
    const key = JSON.stringify(stack.heal.hosts) + JSON.stringify(stack.heal.ssh);
    if (fleet?.key === key) return fleet.fleet;
    const previous = fleet;
    const opened = openFleet(stack, {
      acceptNewHostKeys: options.acceptNewHostKeys === true,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      retryAfterMs: 1_000,
      log,
    });
    const events = followEvents({
      stack: stack.name,
      hosts: Object.values(stack.heal.hosts),
      reach: opened.reach,
      onSignal: (signal) => {
        if (signal.kind === 'lost') {
          streamLost.set(signal.host, Date.now());
          hostStates?.lost(signal.host, Date.now(), signal.error);
          log.debug({ host: signal.host, error: signal.error }, 'event stream lost');
          reconciler.trigger();
          return;
        }
        if (signal.kind === 'opened') {
          log.info({ host: signal.host }, 'host answers again');
          reconciler.trigger();
          return;
        }
        log.debug(
          { host: signal.host, action: signal.action, service: signal.service, slot: signal.slot },
          'docker event',
        );
        // dockerd emits die before its container list says exited: look shortly after, and once
        // more a second later in case the first look was still too early.
        reconciler.triggerAt(Date.now() + EVENT_SETTLE_MS);
        setTimeout(() => reconciler.trigger(), 1_000).unref();
      },
    });
    fleet = { key, fleet: opened, events };
    if (previous) {
      previous.events.stop();
      void previous.fleet.close();
    }
    hostStates = new HostStates(stack.heal.watch.hostDownAfter);
    return opened;
  };

  /**
   * The spec now: the source refreshed and loaded; on failure the last good spec stays in force.
   * Only after the source said it changed (a new commit fetched, a file saved) or at the start:
   * a reconcile for a crashed container must not wait on the forge, nor fail while it is down.
   */
  const loadSpec = async (): Promise<void> => {
    if (!specChanged) return;
    // Cleared first: a change that lands while this load runs sets it again.
    specChanged = false;
    let at: string | null = null;
    try {
      const revision = await source.refresh();
      at = revision.revision;
      // In a worker: a spec that would exhaust memory or time is rejected, not fatal.
      const stack = await loadIsolated({
        // Relative to the checkout, so an error reads `stack.yml:5:1`, not the cache's path.
        file: relative(revision.cwd, revision.file),
        cwd: revision.cwd,
        environment: options.environment,
        ...(options.envFile ? { envFile: options.envFile } : {}),
        ...(options.confine ? { confine: options.confine } : {}),
      });
      if (good?.revision !== revision.revision || good.stack.name !== stack.name)
        log.info({ stack: stack.name, revision: revision.revision }, 'spec loaded');
      if (good && good.revision !== revision.revision) fallback = good;
      good = { stack, revision: revision.revision };
      source.pollEvery?.(stack.heal.watch.interval);
      options.secrets?.(
        Object.values(stack.services).flatMap((service) =>
          service.secretEnvironment.flatMap((key) => service.environment[key] ?? []),
        ),
      );
      specError = null;
      metrics.specLoad(stack.name, true);
      metrics.setRevision(stack.name, revision.revision ?? 'file');
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const message = at === null ? detail : `revision ${at.slice(0, 12)}: ${detail}`;
      if (message !== specError)
        log.error(
          { stack: good?.stack.name ?? null, revision: at, error: message },
          'spec rejected; the last good spec stays in force',
        );
      specError = message;
      metrics.specLoad(good?.stack.name ?? 'unknown', false);
    }
  };

  const rejectNewest = (reason: string): Promise<{ retryAt: number | null }> => {
    const message = `revision ${good?.revision?.slice(0, 12) ?? 'file'}: ${reason}`;
    log.error(
      { stack: good?.stack.name ?? null, revision: good?.revision ?? null, error: message },
      'spec rejected; the last good spec stays in force',
    );
    specError = message;
    good = fallback;
    fallback = null;
    metrics.specLoad(good?.stack.name ?? 'unknown', false);
    metrics.setRevision(good?.stack.name ?? 'unknown', good?.revision ?? 'file');
    return reconcileOnce();
  };

  const reconcileOnce = async (): Promise<{ retryAt: number | null }> => {
    const started = Date.now();
    await loadSpec();
    if (!good) return finish(started, 'failed', 0, 0, specError, null, null);
    const { stack, revision } = good;
    const current = fleetFor(stack);
    // A silent host gets until it would be declared down to answer: a hung connect must not delay that.
    const observed = await observe(
      stack,
      current.reach,
      Date.now,
      (name) => hostStates?.downAt(name) ?? null,
    );
    lastObserved = observed;
    const now = Date.now();
    const hosts = hostStates!.update(observed.hosts, now);
    for (const change of hosts.changes) {
      if (change.from === null && change.to === 'up') continue;
      const message =
        change.to === 'down'
          ? 'host down: its replicas move'
          : change.to === 'suspect'
            ? 'host suspect'
            : 'host up';
      log[change.to === 'up' ? 'info' : 'warn'](
        { stack: stack.name, host: change.name, from: change.from, error: change.error },
        message,
      );
    }
    if (hosts.partitioned !== partitioned) {
      partitioned = hosts.partitioned;
      if (partitioned)
        log.warn(
          { stack: stack.name, hosts: hosts.suspect },
          "more than half of the hosts are silent: assuming heal's own network is at fault; nothing is rescheduled",
        );
    }
    for (const host of observed.hosts) {
      for (const container of host.containers) {
        if (container.state === 'running' && container.service && container.slot !== null)
          restarts.running(container.service, container.slot, container.startedAt, now);
      }
    }
    metrics.setHosts(
      stack.name,
      hostStates!.views().map((view) => ({ name: view.name, state: view.state })),
    );
    const made = plan(stack, observed, {
      now,
      revision,
      suspect: hosts.suspect,
      notBefore: restarts.notBefore(stack.services, now),
    });
    updateServiceMetrics(stack, observed, now);

    if (made.refused) {
      log.error({ stack: stack.name, reason: made.refused }, 'plan refused');
      // A commit that would remove the whole stack is rejected like one that does not load.
      if (fallback) return rejectNewest(made.refused);
      return finish(started, 'failed', 0, 0, made.refused, null, stack);
    }
    fallback = null;
    const waitAt = earliest(hosts.nextChangeAt, made.waitUntil);
    if (made.actions.length === 0) {
      const waiting = waitAt !== null || made.unplaced.length > 0;
      for (const item of made.unplaced)
        log.warn(
          { stack: stack.name, service: item.service, slot: item.slot, reason: item.reason },
          'slot cannot be placed',
        );
      // Converged on a config other than the spec's is never a success.
      const held = made.held.some((mark) => mark.state === 'rolled-back')
        ? 'rolled_back'
        : made.held.length > 0
          ? 'paused'
          : null;
      if (held && !waiting) return finish(started, held, 0, 0, made.warnings.join('; '), null, stack);
      const why = [
        ...made.warnings,
        ...made.unplaced.map((item) => `${item.service}.${item.slot} cannot be placed: ${item.reason}`),
      ];
      return finish(
        started,
        waiting ? 'waiting' : 'converged',
        0,
        0,
        waiting ? why.join('; ') || null : null,
        waitAt,
        stack,
      );
    }
    return applyPlan(stack, made, started, waitAt);
  };

  const applyPlan = async (
    stack: Stack,
    made: Plan,
    started: number,
    waitAt: number | null,
  ): Promise<{ retryAt: number | null }> => {
    const current = fleetFor(stack);
    let lock;
    try {
      lock = await acquireLock(stack, { reach: current.reach, command: 'heal watch' });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.warn({ stack: stack.name, error: message }, 'stack locked; retrying');
      return finish(started, 'waiting', 0, 0, message, Date.now() + 2_000, stack);
    }
    try {
      for (const action of made.actions)
        log.info(actionFields(stack.name, good?.revision ?? null, action), 'action planned');
      const report = await apply(made, stack, {
        reach: current.reach,
        stopping: () => stopping,
        disturbedSince: (host, since) => (streamLost.get(host) ?? 0) >= since,
        onEvent: (event) => {
          // A rollout's batches, as `heal apply` prints them: `update batch 2 of 4`.
          if (event.type === 'phase' && made.rollouts.length > 0)
            log.info(
              { stack: stack.name, phase: event.label, actions: event.count, afterMs: event.delayBefore },
              'phase started',
            );
          if (event.type === 'rollout')
            log.warn({ stack: stack.name, ...event.rollout }, 'rollout stopped by failure_action');
          if (event.type === 'done' || event.type === 'failed') {
            metrics.countAction(stack.name, event.action.kind, event.type);
            const fields = {
              ...actionFields(stack.name, good?.revision ?? null, event.action),
              ms: event.ms,
            };
            if (event.type === 'failed') log.warn({ ...fields, error: event.error }, 'action failed');
            else log.info(fields, 'action done');
            if (event.type === 'done') noteHeal(stack, event.action);
          }
        },
      });
      const failed = report.outcomes.filter((outcome) => outcome.result !== 'done').length;
      for (const rollout of report.rollouts)
        log[rollout.result === 'done' ? 'info' : 'warn']({ stack: stack.name, ...rollout }, 'rollout ended');
      // The failed config is marked: the next pass plans the way back at once.
      const rolledBack = report.rollouts.find((rollout) => rollout.result === 'rolled-back');
      if (rolledBack)
        return finish(started, 'applying', made.actions.length, failed, rolledBack.reason, Date.now(), stack);
      if (!report.ok) {
        const message = report.outcomes
          .flatMap((outcome) => (outcome.result === 'failed' ? [outcome.error] : []))
          .join('; ');
        return finish(started, 'failed', made.actions.length, failed, message, null, stack);
      }
      // Applied: look again at once to confirm convergence (level-triggered, never trusting the plan).
      return finish(started, 'applying', made.actions.length, 0, null, earliest(waitAt, Date.now()), stack);
    } finally {
      await lock.release().catch(() => undefined);
    }
  };

  const noteHeal = (stack: Stack, action: Action): void => {
    if (action.kind === 'start' || (action.kind === 'replace' && !action.update)) {
      restarts.record(action.service, action.slot, Date.now());
      metrics.countHeal(stack.name, /unhealthy/.test(action.reason) ? 'unhealthy' : 'crashed');
    }
    if (action.kind === 'create' && /missing/.test(action.reason)) {
      const hostDown = hostStates?.views().some((view) => view.state === 'down') ?? false;
      metrics.countHeal(stack.name, hostDown ? 'host_down' : 'missing');
    }
    if (action.kind === 'remove' && /also runs as/.test(action.reason))
      metrics.countHeal(stack.name, 'drift');
  };

  const updateServiceMetrics = (stack: Stack, observed: Observed, now: number): void => {
    metrics.setServices(
      stack.name,
      statusRows(stack, observed).map((row) => ({
        ...row,
        desired: row.desired ?? row.running,
        crashLooping: restarts.crashLooping(row.service, now),
      })),
    );
  };

  const finish = (
    started: number,
    outcome: Outcome,
    actions: number,
    failed: number,
    message: string | null,
    retryAt: number | null,
    stack: Stack | null,
  ): { retryAt: number | null } => {
    const ms = Date.now() - started;
    last = { at: new Date().toISOString(), outcome, ms, actions, failed, message };
    ready = true;
    // An applying pass is followed at once by the pass that tells whether it converged.
    if (stack && outcome !== 'applying') metrics.observeReconcile(stack.name, outcome, ms / 1000);
    const level = outcome === 'failed' ? 'warn' : outcome === 'converged' ? 'debug' : 'info';
    log[level](
      { stack: stack?.name ?? null, revision: good?.revision ?? null, outcome, ms, actions, failed, message },
      'reconcile done',
    );
    failures = outcome === 'failed' ? failures + 1 : 0;
    const backoff =
      outcome === 'failed'
        ? Date.now() + Math.min(FAILURE_BACKOFF_MS.max, FAILURE_BACKOFF_MS.initial * 2 ** (failures - 1))
        : null;
    return { retryAt: earliest(retryAt, backoff) };
  };

  const reconciler = new Reconciler(async () => {
    try {
      return await reconcileOnce();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof LockHeldError) return { retryAt: Date.now() + 2_000 };
      log.error({ error: message }, 'reconcile crashed');
      return finish(Date.now(), 'failed', 0, 0, message, null, good?.stack ?? null);
    }
  });

  const status = (): unknown => ({
    stack: good?.stack.name ?? null,
    source: source.describe,
    revision: good?.revision ?? null,
    specError,
    partitioned,
    lastReconcile: last,
    hosts: hostStates?.views() ?? [],
    services: good && lastObserved ? serviceStatus(good.stack, lastObserved, restarts) : [],
  });

  const http = await startHttp({
    listen: options.listen,
    metrics,
    status,
    ready: () => ready,
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
    specChanged = true;
    reconciler.trigger();
  });
  let resync: NodeJS.Timeout | null = null;
  const scheduleResync = (): void => {
    const interval = good?.stack.heal.watch.interval ?? 15_000;
    resync = setTimeout(() => {
      reconciler.trigger();
      scheduleResync();
    }, interval);
  };
  scheduleResync();
  reconciler.trigger();
  log.info(
    { source: source.describe, listen: `${http.address.host}:${http.address.port}` },
    'heal watch started',
  );

  return {
    address: http.address,
    async stop() {
      stopping = true;
      if (resync) clearTimeout(resync);
      await reconciler.stop();
      fleet?.events.stop();
      await Promise.all([fleet?.fleet.close(), source.close(), http.close()]);
      log.info({}, 'heal watch stopped');
    },
  };
}

function serviceStatus(stack: Stack, observed: Observed, restarts: Restarts): unknown[] {
  const now = Date.now();
  return statusRows(stack, observed).map((row) => ({
    ...row,
    crashLooping: restarts.crashLooping(row.service, now),
  }));
}

function actionFields(stack: string, revision: string | null, action: Action): Record<string, unknown> {
  return {
    stack,
    revision,
    kind: action.kind,
    host: action.host,
    service: action.service,
    slot: action.slot,
    reason: action.reason,
  };
}

function earliest(...times: (number | null)[]): number | null {
  const known = times.filter((time): time is number => time !== null);
  return known.length > 0 ? Math.min(...known) : null;
}
