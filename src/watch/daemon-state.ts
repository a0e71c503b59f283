import type { Observed } from '../planner/observed.js';
import type { FleetWatch } from './fleet-watch.js';
import type { History } from './history.js';
import type { Outcome } from './reconcile.js';
import type { Restarts } from './restarts.js';
import type { SpecState } from './spec-state.js';

/** The last reconcile, as `/status` shows it. */
export type LastReconcile = {
  readonly at: string;
  readonly outcome: Outcome;
  readonly ms: number;
  readonly actions: number;
  readonly failed: number;
  readonly message: string | null;
};

/**
 * Everything the daemon holds between reconciles, in one value: the reconcile reads and updates
 * it, the triggers only queue a reconcile, and the HTTP routes read a snapshot of it.
 */
export type DaemonState = {
  /** The spec in force, the one before it, and why the newest was rejected. */
  readonly spec: SpecState;
  /** Restarts heal made per slot: the crash backoff and max_attempts. */
  readonly restarts: Restarts;
  /** The hosts of the spec in force: connections, states, events, heartbeat. */
  watch: FleetWatch | null;
  /** What the last look saw. */
  observed: Observed | null;
  /**
   * Until when (epoch ms) the stops that events reported have been seen by a look, or by a try
   * for the lock that failed: a container that stopped after it calls for the lock first.
   */
  stopsSeenAt: number;
  /** More than half of the hosts silent at once: nothing is declared down. */
  partitioned: boolean;
  last: LastReconcile | null;
  /** The last reconciles and heals, the rollout batch in flight; tells the page's stream of each change. */
  readonly history: History;
  /** Failed reconciles in a row: the backoff. */
  failures: number;
  /** A reconcile has finished: `/readyz`. */
  ready: boolean;
  /** When the reconcile loop last showed it is alive (a reconcile ended, an apply moved on). */
  aliveAt: number;
  /** Until when the loop announced it would be quiet (a batch delay). */
  quietUntil: number;
};
