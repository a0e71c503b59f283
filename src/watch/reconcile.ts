import { reportStandings, trackHostConditions } from './host-conditions.js';
import { apply, type ApplyEvent } from '../executor/apply.js';
import { imageFailure } from '../executor/build.js';
import { acquireLock, LockHeldError, type Lock } from '../executor/lock.js';
import { observe } from '../executor/observe.js';
import type { Observed } from '../planner/observed.js';
import { plan } from '../planner/plan.js';
import type { Action, ContainerRef, Plan } from '../planner/plan-types.js';
import { statusRows } from '../planner/status.js';
import { newStackKey } from '../spec/keyed-hash.js';
import type { Stack } from '../spec/types.js';
import type { DaemonState } from './daemon-state.js';
import type { FleetWatch } from './fleet-watch.js';
import type { Logger } from './log.js';
import type { HealReason, Metrics } from './metrics.js';

export type Outcome = 'converged' | 'waiting' | 'failed' | 'applying' | 'rolled_back' | 'paused';

/** What one reconcile did and found: the daemon records it and schedules the next one by it. */
export type Reconciled = {
  readonly outcome: Outcome;
  readonly stack: Stack | null;
  readonly actions: number;
  readonly failed: number;
  readonly message: string | null;
  /** When to look again at the latest (epoch ms); null: at the next trigger or resync. */
  readonly retryAt: number | null;
  /** How many times it observed the hosts when it took the lock: 1 when it took the lock first. */
  readonly looks?: number;
};

/** What a reconcile needs besides the state: where to log and count, and how to reach the hosts. */
export type ReconcileDeps = {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The hosts' watch for this stack, opened (or kept) for its hosts. */
  readonly watchFor: (stack: Stack) => FleetWatch;
  /** Aborted when the daemon stops. */
  readonly stopping: AbortSignal;
  /** An apply's progress, for liveness: `until`, a wait it announced (a batch delay). */
  readonly progress: (until: number) => void;
};

/** How long to wait before trying again when another heal holds the stack's lock. */
const LOCKED_RETRY_MS = 2_000;

/**
 * One reconcile, level-triggered: the spec (read again only if the source announced a change),
 * every host observed afresh, a plan; with actions, the stack's lock, then a second look and plan
 * under it (another heal may have acted since the first), and the apply. Never asks which trigger
 * fired: only whether an event said a container stopped since the last look, in which case there
 * is work almost surely, and it takes the lock first and looks once, under it.
 */
export async function reconcile(state: DaemonState, deps: ReconcileDeps): Promise<Reconciled> {
  await state.spec.load();
  const good = state.spec.good;
  if (!good) return done('failed', null, state.spec.error);
  const { stack, revision } = good;
  const watch = deps.watchFor(stack);
  const lockFirst = stoppedSince(watch, state.stopsSeenAt);
  if (!lockFirst) {
    const first = await lookAndPlan(state, deps, stack, revision, watch);
    if (first.made.refused) return refuse(state, deps, stack, first.made.refused);
    if (!builds(first.made)) state.spec.planned();
    if (first.made.actions.length === 0) return settled(stack, first.made, first.nextHostChange, deps);
  }
  const looks = lockFirst ? 1 : 2;

  let lock: Lock;
  try {
    const silent = watch.hosts.views().filter((view) => view.state !== 'up');
    lock = await acquireLock(stack, {
      reach: watch.fleet.reach,
      command: 'heal watch',
      // Not waited for: a hung host would hold every heal up for its deadline.
      skip: new Set(silent.map((view) => view.name)),
    });
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    deps.log.warn({ stack: stack.name, error: error.message }, 'stack locked; retrying');
    // The retry looks first: without the lock (no majority, another heal) the hosts are still looked at.
    state.stopsSeenAt = Date.now();
    return done('waiting', stack, error.message, Date.now() + LOCKED_RETRY_MS);
  }
  deps.log.debug({ stack: stack.name, hosts: lock.hosts }, 'lock taken');
  let again: Looked;
  try {
    // Under the lock, from a fresh look: what the first look planned may have been done meanwhile.
    again = await lookAndPlan(state, deps, stack, revision, watch);
    const current = again.made;
    if (lockFirst && !current.refused && !builds(current)) state.spec.planned();
    if (!current.refused && current.actions.length > 0)
      return { ...(await applyPlan(state, deps, stack, current, watch, lock)), looks };
  } finally {
    await lock.release().catch(() => undefined);
    deps.log.debug({ stack: stack.name }, 'lock released');
  }
  // A refusal of the only look is handled once the lock is released: a fallback spec takes it anew.
  if (lockFirst && again.made.refused) return refuse(state, deps, stack, again.made.refused);
  return { ...settled(stack, again.made, again.nextHostChange, deps), looks };
}

/** A plan that would remove the whole stack: its commit is rejected like one that does not load. */
function refuse(state: DaemonState, deps: ReconcileDeps, stack: Stack, reason: string): Promise<Reconciled> {
  deps.log.error({ stack: stack.name, reason }, 'plan refused');
  if (state.spec.rejectNewest(reason)) return reconcile(state, deps);
  return Promise.resolve(done('failed', stack, reason));
}

/**
 * A plan that builds images keeps the spec before it as the fallback until its builds succeed:
 * a build that fails rejects its revision like a commit that does not load.
 */
function builds(made: Plan): boolean {
  return made.actions.some(makesImage);
}

function makesImage(action: Action): boolean {
  return action.kind === 'build' || action.kind === 'copy-image';
}

/** Whether an event said a container of the stack stopped after `since` (epoch ms). */
function stoppedSince(watch: FleetWatch, since: number): boolean {
  for (const ids of watch.stopped.values()) for (const at of ids.values()) if (at > since) return true;
  return false;
}

type Looked = { made: Plan; nextHostChange: number | null };

/** Observe every host, fold in their states, and plan; and when a silent host's state changes next. */
async function lookAndPlan(
  state: DaemonState,
  deps: ReconcileDeps,
  stack: Stack,
  revision: string | null,
  watch: FleetWatch,
): Promise<Looked> {
  const { log, metrics } = deps;
  state.stopsSeenAt = Date.now();
  // Every container seen running was running at least since it started until the look began;
  // `now`, after the look, may be seconds later on a loaded machine, and would clear the backoff of
  // a replica that crashed after a second (restarts.running).
  const lookedAt = state.stopsSeenAt;
  const stopped = recentlyStopped(watch, state.stopsSeenAt);
  const observed = await observe(stack, watch.fleet.reach, Date.now, {
    // A silent host gets until it would be declared down to answer: a hung call must not delay that.
    answerBy: (name) => answerBy(watch, name, Date.now()),
    recheck: (name) => stopped.get(name) ?? [],
  });
  state.observed = observed;
  const now = Date.now();
  const hosts = watch.hosts.update(observed.hosts, now, watch.lastAnswer);
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
  if (hosts.partitioned !== state.partitioned) {
    state.partitioned = hosts.partitioned;
    if (hosts.partitioned)
      log.warn(
        { stack: stack.name, hosts: hosts.suspect },
        "more than half of the hosts up recently are silent: assuming heal's own network is at fault; nothing is rescheduled",
      );
  }
  for (const host of observed.hosts)
    for (const container of host.containers) {
      if (container.service && container.slot !== null) state.history.saw(container.service, container.slot);
      if (container.state === 'running' && container.service && container.slot !== null)
        state.restarts.running(container.service, container.slot, container.startedAt, lookedAt);
    }
  metrics.setHosts(
    stack.name,
    watch.hosts.views().map((view) => ({ name: view.name, state: view.state })),
  );
  const made = plan(stack, observed, {
    now,
    revision,
    suspect: hosts.suspect,
    notBefore: state.restarts.notBefore(stack.services, now),
    // Used only when a service has secrets and no host holds the stack's key yet.
    freshStackKey: newStackKey(),
    rebalance: stack.heal.watch.rebalance,
    conditions: trackHostConditions(state, stack, observed, now, watch.samples),
  });
  reportStandings(state, stack, made, log, metrics);
  updateServiceMetrics(state, metrics, stack, observed, now);
  state.history.changed();
  return { made, nextHostChange: hosts.nextChangeAt };
}

/**
 * How long a look waits for a host: a suspect one until it would be declared down; a down one
 * not at all until it answers the heartbeat again (which then asks for the look that reads it);
 * any other by its calls' deadlines.
 */
function answerBy(watch: FleetWatch, host: string, now: number): number | null {
  const state = watch.hosts.views().find((view) => view.name === host)?.state;
  if (state === 'suspect') return watch.hosts.downAt(host);
  if (state === 'down' && now - (watch.lastAnswer(host) ?? 0) > RECENT_ANSWER_MS) return now;
  return null;
}

/** An answer this recent (the heartbeat asks every second) says a host is back. */
const RECENT_ANSWER_MS = 2_500;

/** How long after its event a stopped container is inspected: the list lags by a moment, not more. */
const RECHECK_MS = 5_000;

/** The containers events said stopped in the last few seconds, by host; older ones are forgotten. */
function recentlyStopped(watch: FleetWatch, now: number): Map<string, string[]> {
  const recent = new Map<string, string[]>();
  for (const [host, ids] of watch.stopped) {
    for (const [id, at] of ids) if (now - at > RECHECK_MS) ids.delete(id);
    recent.set(host, [...ids.keys()]);
  }
  return recent;
}

/** Nothing to do: converged, or waiting (on a backoff, a suspect host, a slot with no host), or held. */
function settled(stack: Stack, made: Plan, nextHostChange: number | null, deps: ReconcileDeps): Reconciled {
  const waitAt = earliest(nextHostChange, made.waitUntil);
  const waiting = waitAt !== null || made.unplaced.length > 0;
  for (const item of made.unplaced)
    deps.log.warn(
      { stack: stack.name, service: item.service, slot: item.slot, reason: item.reason },
      'slot cannot be placed',
    );
  // Converged on a config other than the spec's is never a success.
  const held = made.held.some((mark) => mark.state === 'rolled-back')
    ? 'rolled_back'
    : made.held.length > 0
      ? 'paused'
      : null;
  if (held && !waiting) return done(held, stack, made.warnings.join('; '));
  const why = [
    ...made.warnings,
    ...made.unplaced.map((item) => `${item.service}.${item.slot} cannot be placed: ${item.reason}`),
  ];
  if (!waiting) return done('converged', stack, null);
  return done('waiting', stack, why.join('; ') || null, waitAt);
}

async function applyPlan(
  state: DaemonState,
  deps: ReconcileDeps,
  stack: Stack,
  made: Plan,
  watch: FleetWatch,
  lock: Lock,
): Promise<Reconciled> {
  const { log } = deps;
  const revision = state.spec.good?.revision ?? null;
  for (const action of made.actions) log.info(actionFields(stack.name, revision, action), 'action planned');
  const report = await apply(made, stack, {
    reach: watch.fleet.reach,
    signal: AbortSignal.any([deps.stopping, lock.signal]),
    disturbedSince: (host, since) => (watch.streamLost.get(host) ?? 0) >= since,
    onEvent: (event) => {
      deps.progress(
        event.type === 'phase'
          ? Date.now() + event.delayBefore
          : event.type === 'monitor'
            ? event.until
            : Date.now(),
      );
      logEvent(state, deps, stack, made, revision, event);
    },
  });
  const failed = report.outcomes.filter((outcome) => outcome.result !== 'done').length;
  for (const rollout of report.rollouts)
    log[rollout.result === 'done' ? 'info' : 'warn']({ stack: stack.name, ...rollout }, 'rollout ended');
  if (lock.lost())
    log.warn(
      { stack: stack.name, error: (lock.signal.reason as Error | undefined)?.message ?? null },
      'lock lost',
    );
  // The failed config is marked: the next pass plans the way back at once.
  const rolledBack = report.rollouts.find((rollout) => rollout.result === 'rolled-back');
  if (rolledBack) return done('applying', stack, rolledBack.reason, Date.now(), made.actions.length, failed);
  const imageFailed = imageFailure(report.outcomes);
  const buildError = report.outcomes.flatMap((outcome) =>
    outcome.result === 'failed' && makesImage(outcome.action) ? [outcome.error] : [],
  )[0];
  // The last good revision heals at once, on the next pass; this one waits for a new commit.
  if (imageFailed && state.spec.rejectNewest(buildError ?? imageFailed))
    return done('applying', stack, imageFailed, Date.now(), made.actions.length, failed);
  if (builds(made) && !imageFailed) state.spec.planned();
  if (!report.ok) {
    const message = report.outcomes
      .flatMap((outcome) =>
        outcome.result === 'failed' ? [outcome.error] : outcome.result === 'skipped' ? [outcome.why] : [],
      )
      .join('; ');
    return done('failed', stack, message, null, made.actions.length, failed);
  }
  // Applied: look again at once to confirm convergence (level-triggered, never trusting the plan).
  return done('applying', stack, null, Date.now(), made.actions.length, 0);
}

function logEvent(
  state: DaemonState,
  deps: ReconcileDeps,
  stack: Stack,
  made: Plan,
  revision: string | null,
  event: ApplyEvent,
): void {
  const { log, metrics } = deps;
  // A rollout's batches, as `heal apply` prints them: `update batch 2 of 4`.
  if (event.type === 'phase' && made.rollouts.length > 0) {
    log.info(
      { stack: stack.name, phase: event.label, actions: event.count, afterMs: event.delayBefore },
      'phase started',
    );
    state.history.batch(
      made.rollouts.map((rollout) => rollout.service),
      event.label,
      Date.now(),
    );
  }
  if (event.type === 'rollout')
    log.warn({ stack: stack.name, ...event.rollout }, 'rollout stopped by failure_action');
  if (event.type === 'warning') log.warn({ stack: stack.name, error: event.message }, 'apply warning');
  // A build's output: its last lines come with the failure; each one is here for who wants them.
  if (event.type === 'output')
    log.debug({ ...actionFields(stack.name, revision, event.action), line: event.line }, 'action output');
  if (event.type === 'monitor')
    log.info(
      { stack: stack.name, service: event.service, ms: Math.max(0, event.until - Date.now()) },
      'watching rollout (update_config.monitor)',
    );
  if (event.type !== 'done' && event.type !== 'failed') return;
  metrics.countAction(stack.name, event.action.kind, event.type);
  const fields = { ...actionFields(stack.name, revision, event.action), ms: event.ms };
  if (event.type === 'failed') return log.warn({ ...fields, error: event.error }, 'action failed');
  log.info(fields, 'action done');
  noteHeal(state, metrics, stack, event.action, event.ms);
}

/** A heal made: counted, remembered for the crash backoff, and listed on the page. */
function noteHeal(state: DaemonState, metrics: Metrics, stack: Stack, action: Action, ms: number): void {
  const heal = healOf(state, stack, action);
  if (heal === null) return;
  const now = Date.now();
  const service = action.service === null ? undefined : stack.services[action.service];
  if (service && action.slot !== null && (heal.cause === 'crashed' || heal.cause === 'unhealthy'))
    state.restarts.record(service, action.slot, now);
  // A slot no look ever saw (a first deployment, a scale-up) is created, not healed: not counted.
  const created = action.kind === 'create' && !state.history.knows(action.service, action.slot);
  if (created) return;
  metrics.countHeal(stack.name, heal.cause);
  const brokeAt = heal.container === null ? null : brokeAtOf(state, heal.container);
  state.history.healed({
    at: new Date(now).toISOString(),
    service: action.service,
    slot: action.slot,
    host: action.host,
    cause: heal.cause,
    broke: action.reason,
    did: heal.did,
    actionMs: ms,
    tookMs: brokeAt === null ? null : Math.max(ms, now - brokeAt),
  });
}

/** Whether an action heals, why, and the container it heals (when one stood there). */
function healOf(
  state: DaemonState,
  stack: Stack,
  action: Action,
): { cause: HealReason; did: string; container: ContainerRef | null } | null {
  const service = action.service === null ? undefined : stack.services[action.service];
  if (service && action.kind === 'start')
    return { cause: 'crashed', did: 'restarted', container: action.container };
  if (service && action.kind === 'replace' && !action.update)
    return {
      cause: /unhealthy/.test(action.reason) ? 'unhealthy' : 'crashed',
      did: 'replaced',
      container: action.old,
    };
  if (action.kind === 'create' && /missing/.test(action.reason)) {
    const hostDown = state.watch?.hosts.views().some((view) => view.state === 'down') ?? false;
    return { cause: hostDown ? 'host_down' : 'missing', did: 'recreated', container: null };
  }
  if (action.kind === 'remove' && /also runs as/.test(action.reason))
    return { cause: 'drift', did: 'removed', container: null };
  if (action.kind === 'unpause') return { cause: 'drift', did: 'unpaused', container: action.container };
  return null;
}

/** When a container broke: its engine's stop event, else the end the last look saw; null when neither. */
function brokeAtOf(state: DaemonState, container: ContainerRef): number | null {
  const event = state.watch?.stopped.get(container.host)?.get(container.id);
  if (event !== undefined) return event;
  const seen = state.observed?.hosts
    .find((host) => host.name === container.host)
    ?.containers.find((item) => item.id === container.id);
  return seen?.finishedAt ?? null;
}

function updateServiceMetrics(
  state: DaemonState,
  metrics: Metrics,
  stack: Stack,
  observed: Observed,
  now: number,
): void {
  metrics.setServices(
    stack.name,
    statusRows(stack, observed).map((row) => ({
      ...row,
      desired: row.desired ?? row.running,
      crashLooping: state.restarts.crashLooping(row.service, now),
    })),
  );
}

function done(
  outcome: Outcome,
  stack: Stack | null,
  message: string | null,
  retryAt: number | null = null,
  actions = 0,
  failed = 0,
): Reconciled {
  return { outcome, stack, actions, failed, message, retryAt };
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

export function earliest(...times: (number | null)[]): number | null {
  const known = times.filter((time): time is number => time !== null);
  return known.length > 0 ? Math.min(...known) : null;
}
