import { statusRows } from '../planner/status.js';
import type { DaemonState } from './daemon-state.js';

/** A call an engine has not answered for this long is named in `/status` as holding things up. */
const SLOW_CALL_MS = 1_000;

/** `/status`: the daemon's state as JSON, read from the state the last reconcile left. */
export function statusOf(state: DaemonState, source: string, now: number): unknown {
  const good = state.spec.good;
  return {
    stack: good?.stack.name ?? null,
    source,
    revision: good?.revision ?? null,
    specError: state.spec.error,
    partitioned: state.partitioned,
    lastReconcile: state.last,
    hosts: state.watch?.hosts.views() ?? [],
    waitingOn: waitingOn(state, now),
    services:
      good && state.observed
        ? statusRows(good.stack, state.observed).map((row) => ({
            ...row,
            crashLooping: state.restarts.crashLooping(row.service, now),
          }))
        : [],
  };
}

/** The engine calls unanswered for more than a second, oldest first: the hosts holding things up. */
function waitingOn(state: DaemonState, now: number): { host: string; operation: string; seconds: number }[] {
  const clients = [...(state.watch?.clients.values() ?? [])];
  return clients
    .flatMap((client) =>
      client
        .pending()
        .map((call) => ({ host: client.host.name, operation: call.operation, since: call.since })),
    )
    .filter((call) => now - call.since >= SLOW_CALL_MS)
    .sort((a, b) => a.since - b.since)
    .map(({ host, operation, since }) => ({
      host,
      operation,
      seconds: Math.round((now - since) / 100) / 10,
    }));
}

/**
 * `/healthz`: alive while the reconcile loop moves: a reconcile ended, or an apply moved on, within
 * `stallMs` (beyond a wait it announced, such as a batch delay). Every call to an engine has a
 * deadline, so a loop that stands still longer is stuck, and a service manager should restart it.
 */
export function liveness(state: DaemonState, now: number, stallMs: number): { ok: boolean; why: string } {
  const since = Math.max(state.aliveAt, state.quietUntil);
  if (now - since <= stallMs) return { ok: true, why: 'ok' };
  return {
    ok: false,
    why: `no reconcile has finished or moved on for ${Math.round((now - state.aliveAt) / 1000)} s`,
  };
}
