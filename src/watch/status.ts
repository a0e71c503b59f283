import { hostAvailability, type HostAvailabilityView } from './host-conditions.js';
import { hasRole } from '../planner/labels.js';
import type { Observed } from '../planner/observed.js';
import { keyedStack } from '../planner/stack-key.js';
import { statusRows, type StatusRow } from '../planner/status.js';
import type { Stack } from '../spec/types.js';
import type { DaemonState } from './daemon-state.js';
import type { HealEntry, InFlight, ReconcileEntry } from './history.js';
import type { HostView } from './host-states.js';

/** A call an engine has not answered for this long is named in `/status` as holding things up. */
const SLOW_CALL_MS = 1_000;

/** A replica as the page's grid shows it: one cell of hosts × services. */
export type ReplicaView = {
  readonly host: string;
  readonly service: string;
  readonly slot: number;
  readonly name: string;
  readonly state: string;
  readonly health: string;
  /** Its config is not the spec's: a rollout or a heal will replace it. */
  readonly dirty: boolean;
};

/** `/status`, and what the page and its stream show: one value, so they never disagree. */
export type DaemonStatus = {
  readonly stack: string | null;
  readonly source: string;
  /** The revision in force: the spec heal reconciles to. */
  readonly revision: string | null;
  /** The revision the source offered last (loaded or rejected). */
  readonly desiredRevision: string | null;
  /** The revision of the last reconcile that converged. */
  readonly appliedRevision: string | null;
  readonly specError: string | null;
  readonly partitioned: boolean;
  readonly lastReconcile: DaemonState['last'];
  readonly hosts: readonly HostView[];
  /** Each host's availability (active, pause, drain), why, and its conditions. */
  readonly availability?: readonly HostAvailabilityView[];
  readonly waitingOn: readonly { host: string; operation: string; seconds: number }[];
  readonly services: readonly (StatusRow & { crashLooping: boolean })[];
  readonly inFlight: InFlight | null;
  readonly replicas: readonly ReplicaView[];
  readonly reconciles: readonly ReconcileEntry[];
  readonly heals: readonly HealEntry[];
};

/** `/status`: the daemon's state as JSON, read from the state the last reconcile left. */
export function statusOf(state: DaemonState, source: string, now: number): DaemonStatus {
  const good = state.spec.good;
  return {
    stack: good?.stack.name ?? null,
    source,
    revision: good?.revision ?? null,
    desiredRevision: state.spec.desired,
    appliedRevision: state.history.applied,
    specError: state.spec.error,
    partitioned: state.partitioned,
    lastReconcile: state.last,
    hosts: state.watch?.hosts.views() ?? [],
    availability: hostAvailability(state),
    waitingOn: waitingOn(state, now),
    services:
      good && state.observed
        ? statusRows(good.stack, state.observed).map((row) => ({
            ...row,
            crashLooping: state.restarts.crashLooping(row.service, now),
          }))
        : [],
    inFlight: state.history.inFlight,
    replicas: good && state.observed ? replicasOf(good.stack, state.observed) : [],
    reconciles: state.history.reconciles(),
    heals: state.history.heals(),
  };
}

/** The stack's replicas on every host (not its mesh proxies or one-offs), by service, slot, host. */
function replicasOf(stack: Stack, observed: Observed): ReplicaView[] {
  const hashes = new Map(
    Object.values(keyedStack(stack, observed).stack.services).map((s) => [s.name, s.configHash]),
  );
  return observed.hosts
    .flatMap((host) => host.containers)
    .filter((container) => container.service !== null && container.slot !== null && !hasRole(container))
    .map((container) => ({
      host: container.host,
      service: container.service!,
      slot: container.slot!,
      name: container.name,
      state: container.state,
      health: container.health,
      dirty: container.configHash !== hashes.get(container.service!),
    }))
    .sort((a, b) =>
      a.service !== b.service
        ? a.service < b.service
          ? -1
          : 1
        : a.slot - b.slot || (a.host < b.host ? -1 : 1),
    );
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
