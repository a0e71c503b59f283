import type { DaemonState } from './daemon-state.js';
import type { HostView } from './host-states.js';
import type { Outcome, Reconciled } from './reconcile.js';

/**
 * What the daemon tells people. `deploy.*` follow one revision from its load to its end;
 * `commit.refused` is a revision that did not load or whose plan was refused; the others are
 * the fleet's news.
 */
export type NotifyKind =
  | 'deploy.started'
  | 'deploy.applied'
  | 'deploy.rolled_back'
  | 'deploy.paused'
  | 'deploy.failed'
  | 'deploy.superseded'
  | 'deploy.stalled'
  | 'commit.refused'
  | 'host.down'
  | 'host.up'
  | 'service.crashlooping';

export type NotifyEvent = {
  readonly kind: NotifyKind;
  readonly stack: string | null;
  /** The commit (null for a local file, and for the fleet's news). */
  readonly revision: string | null;
  readonly host: string | null;
  readonly service: string | null;
  /** One sentence a person reads: what happened, and why when heal knows. */
  readonly message: string;
  /** ISO time. */
  readonly at: string;
};

/** What one reconcile left, as the notices read it. */
export type ReconcileView = {
  readonly stack: string | null;
  /** The revision of the spec in force after it. */
  readonly revision: string | null;
  readonly outcome: Outcome;
  readonly actions: number;
  readonly message: string | null;
  readonly hosts: readonly HostView[];
  /** The services crash-looping now. */
  readonly crashLooping: readonly string[];
};

/** What the notices read after a reconcile, from the daemon's state and the reconcile's result. */
export function reconcileView(state: DaemonState, result: Reconciled, now: number): ReconcileView {
  const stack = result.stack ?? state.spec.good?.stack ?? null;
  return {
    stack: stack?.name ?? null,
    revision: state.spec.good?.revision ?? null,
    outcome: result.outcome,
    actions: result.actions,
    message: result.message,
    hosts: state.watch?.hosts.views() ?? [],
    crashLooping: stack
      ? Object.keys(stack.services).filter((service) => state.restarts.crashLooping(service, now))
      : [],
  };
}

/**
 * How long a deploy may go on before heal says it is stalled (Kubernetes' progressDeadlineSeconds
 * defaults to 10 minutes): still applying, waiting on a replica that will not place or get healthy.
 */
export const PROGRESS_DEADLINE_MS = 600_000;

type Deploy = {
  readonly stack: string;
  readonly revision: string | null;
  /** When it came into force (epoch ms). */
  readonly since: number;
  announced: boolean;
  /** Whether `deploy.stalled` was said: once per deploy. */
  stalled: boolean;
  /** Why an apply stopped its rollout (failure_action), for the settled outcome that follows. */
  reason: string | null;
};

/**
 * Turns what the daemon already knows (a spec loaded or rejected, how each reconcile ended, the
 * hosts' states, the crash backoff) into events, each once, when it changes. No I/O and no
 * clock: time is passed in.
 *
 * A deploy is the spec newly in force, followed until its reconcile converges (applied), settles
 * on another config (rolled back, paused), fails, or a newer spec replaces it; one that goes on
 * past PROGRESS_DEADLINE_MS is said to be stalled, once, and its end still follows. The first spec a
 * daemon loads is announced only once it changes something: a restarted daemon says nothing about
 * a stack already running as its commit asks.
 */
export class Notices {
  #deploy: Deploy | null = null;
  readonly #down = new Set<string>();
  #looping = new Set<string>();

  /** A spec newly in force (the first one, a new commit, a saved file). */
  loaded(stack: string, revision: string | null, first: boolean, now: number): NotifyEvent[] {
    const events: NotifyEvent[] = [];
    const previous = this.#deploy;
    if (previous?.announced)
      events.push(
        event('deploy.superseded', previous, now, `superseded by ${short(revision)} before it converged`),
      );
    this.#deploy = { stack, revision, since: now, announced: !first, stalled: false, reason: null };
    if (!first)
      events.push(event('deploy.started', this.#deploy, now, `applying ${short(revision)} to ${stack}`));
    return events;
  }

  /** A revision that did not load, or whose plan was refused: the last good spec stays in force. */
  rejected(stack: string | null, revision: string | null, error: string, now: number): NotifyEvent[] {
    if (this.#deploy?.revision === revision) this.#deploy = null;
    return [
      event(
        'commit.refused',
        { stack, revision },
        now,
        `refused; the last good spec stays in force: ${error}`,
      ),
    ];
  }

  /** After each reconcile: hosts down or back, services that began crash-looping, the deploy's end. */
  reconciled(view: ReconcileView, now: number): NotifyEvent[] {
    const stack = view.stack;
    const events: NotifyEvent[] = [];
    const known = new Set(view.hosts.map((host) => host.name));
    for (const name of this.#down) if (!known.has(name)) this.#down.delete(name);
    for (const host of view.hosts) {
      const fleet = { stack, revision: null, host: host.name };
      if (host.state === 'down' && !this.#down.has(host.name)) {
        this.#down.add(host.name);
        const why = host.error ? ` (${host.error})` : '';
        events.push(event('host.down', fleet, now, `host ${host.name} is down${why}: its replicas move`));
      } else if (host.state === 'up' && this.#down.delete(host.name)) {
        events.push(event('host.up', fleet, now, `host ${host.name} is back`));
      }
    }
    const looping = new Set(view.crashLooping);
    for (const service of looping)
      if (!this.#looping.has(service))
        events.push(
          event(
            'service.crashlooping',
            { stack, revision: null, service },
            now,
            `${service} is crash-looping`,
          ),
        );
    this.#looping = looping;
    events.push(...this.#deployEnd(view, now));
    return events;
  }

  #deployEnd(view: ReconcileView, now: number): NotifyEvent[] {
    const deploy = this.#deploy;
    if (!deploy || view.stack !== deploy.stack || view.revision !== deploy.revision) return [];
    const events: NotifyEvent[] = [];
    if (view.actions > 0 && !deploy.announced) {
      deploy.announced = true;
      events.push(
        event('deploy.started', deploy, now, `applying ${short(deploy.revision)} to ${deploy.stack}`),
      );
    }
    if (view.outcome === 'applying' && view.message) deploy.reason = view.message;
    const why = view.message || deploy.reason;
    const reason = why ? `: ${why}` : '';
    const end =
      view.outcome === 'converged'
        ? event('deploy.applied', deploy, now, `${short(deploy.revision)} applied to ${deploy.stack}`)
        : view.outcome === 'rolled_back'
          ? event('deploy.rolled_back', deploy, now, `${short(deploy.revision)} rolled back${reason}`)
          : view.outcome === 'paused'
            ? event('deploy.paused', deploy, now, `${short(deploy.revision)} paused${reason}`)
            : view.outcome === 'failed'
              ? event('deploy.failed', deploy, now, `${short(deploy.revision)} failed${reason}`)
              : null;
    if (end === null) {
      if (deploy.announced && !deploy.stalled && now - deploy.since >= PROGRESS_DEADLINE_MS) {
        deploy.stalled = true;
        const minutes = Math.round((now - deploy.since) / 60_000);
        events.push(
          event(
            'deploy.stalled',
            deploy,
            now,
            `${short(deploy.revision)} not applied after ${minutes} min${reason}`,
          ),
        );
      }
      return events;
    }
    // A failed reconcile is tried again: the deploy may still converge, and say so.
    if (view.outcome !== 'failed') this.#deploy = null;
    if (deploy.announced) events.push(end);
    return events;
  }
}

/** A commit's first 12 characters, or what a local file has instead. */
function short(revision: string | null): string {
  return revision === null ? 'the saved file' : revision.slice(0, 12);
}

function event(
  kind: NotifyKind,
  about: {
    readonly stack: string | null;
    readonly revision: string | null;
    readonly host?: string;
    readonly service?: string;
  },
  now: number,
  message: string,
): NotifyEvent {
  return {
    kind,
    stack: about.stack,
    revision: about.revision,
    host: about.host ?? null,
    service: about.service ?? null,
    message,
    at: new Date(now).toISOString(),
  };
}

/**
 * Identical events repeat at most once per window: the same kind about the same stack, revision,
 * host and service (and, for a refused file save, which has no revision, the same error). Bounded:
 * entries older than the window are dropped, and at most `max` are kept.
 */
export class Dedupe {
  readonly #seen = new Map<string, number>();

  constructor(
    private readonly windowMs = 3_600_000,
    private readonly max = 1_000,
  ) {}

  /** Whether to send it now; remembers it when so. */
  admit(item: NotifyEvent, now: number): boolean {
    for (const [key, at] of this.#seen) if (now - at >= this.windowMs) this.#seen.delete(key);
    const key = dedupeKey(item);
    const last = this.#seen.get(key);
    if (last !== undefined && now - last < this.windowMs) return false;
    this.#seen.delete(key);
    this.#seen.set(key, now);
    // Oldest first in a Map: drop from the front.
    while (this.#seen.size > this.max) this.#seen.delete(this.#seen.keys().next().value!);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}

function dedupeKey(item: NotifyEvent): string {
  const message = item.kind === 'commit.refused' && item.revision === null ? item.message : '';
  return JSON.stringify([item.kind, item.stack, item.revision, item.host, item.service, message]);
}
