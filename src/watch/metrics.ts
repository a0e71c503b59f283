import { CONDITION_TYPES } from '../planner/conditions.js';
import type { HostAvailabilityView } from './host-conditions.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ActionOutcome } from '../executor/apply.js';
import type { ActionKind } from '../planner/plan-types.js';

/** How a reconcile ended. */
export type ReconcileOutcome = 'converged' | 'waiting' | 'failed' | 'rolled_back' | 'paused';
/** Why heal replaced or started a slot. */
export type HealReason = 'crashed' | 'unhealthy' | 'host_down' | 'drift' | 'missing';
export type HostHealth = 'up' | 'suspect' | 'down';
/** What became of a notification: sent, failed (after its retries), dropped (queue full), suppressed (a repeat within the hour). */
export type NotificationOutcome = 'sent' | 'failed' | 'dropped' | 'suppressed';
export type ActionResult = ActionOutcome['result'];

export type ServiceRow = {
  readonly service: string;
  readonly desired: number;
  readonly running: number;
  readonly healthy: number;
  readonly crashLooping: boolean;
  /** The spec's config of the service was rolled back, or its rollout paused. */
  readonly rollout: { readonly state: 'rolled-back' | 'paused' } | null;
};

export type HostRow = { readonly name: string; readonly state: HostHealth };

/** The daemon's Prometheus metrics, on a registry of its own (never prom-client's global one). */
export type Metrics = {
  /** The services of a stack as last observed; services no longer listed lose their series. */
  setServices(stack: string, rows: readonly ServiceRow[]): void;
  /** The hosts of a stack; hosts no longer listed lose their series. */
  setHosts(stack: string, hosts: readonly HostRow[]): void;
  /** Each host's availability (active, pause, drain) and conditions (watch/host-conditions.ts). */
  setHostAvailability?(stack: string, hosts: readonly HostAvailabilityView[]): void;
  observeReconcile(stack: string, outcome: ReconcileOutcome, seconds: number): void;
  countAction(stack: string, kind: ActionKind, result: ActionResult): void;
  countHeal(stack: string, reason: HealReason): void;
  /** The spec revision now applied: one series at 1, the previous one removed. */
  setRevision(stack: string, revision: string): void;
  /** A spec (re)load: counts failures, and whether the last one worked. */
  specLoad(stack: string, ok: boolean): void;
  /** A notification's fate, by target (`webhook`, `github`, `gitlab`, `gitea`); `by` 0 declares the series. */
  countNotification(target: string, outcome: NotificationOutcome, by?: number): void;
  /**
   * An autoscaling decision (`watch/autoscaler.ts`): the count it holds, the figures it read
   * (null: not measured), and whether it changed the count (`up`, `down`) or not (null).
   */
  autoscaled(
    stack: string,
    service: string,
    decision: {
      readonly replicas: number;
      readonly responseMs: number | null;
      readonly requestRate: number | null;
      readonly cpuCores: number | null;
      readonly memoryBytes: number | null;
      readonly change: 'up' | 'down' | null;
    },
  ): void;
  /** The exposition text, for `GET /metrics`. */
  text(): Promise<string>;
  readonly contentType: string;
};

const OUTCOMES: readonly ReconcileOutcome[] = ['converged', 'waiting', 'failed', 'rolled_back', 'paused'];
const HEAL_REASONS: readonly HealReason[] = ['crashed', 'unhealthy', 'host_down', 'drift', 'missing'];
const HOST_STATES: readonly HostHealth[] = ['up', 'suspect', 'down'];

/** From a quick no-op reconcile to a rolling update that waits on health checks and monitor periods. */
const RECONCILE_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export function createMetrics(): Metrics {
  const registry = new Registry();
  // The event-loop lag histogram samples every 10 ms by default: 100 wake-ups a second, ~0.9% of
  // a core on an idle daemon. Every 500 ms still shows a stalled loop.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 500 });
  const registers = [registry];

  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
    new Gauge({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    new Counter({ name, help, labelNames, registers });

  const desired = gauge('heal_replicas_desired', 'Replicas the spec asks for.', ['stack', 'service']);
  const running = gauge('heal_replicas_running', 'Replicas whose container is running.', [
    'stack',
    'service',
  ]);
  const healthy = gauge('heal_replicas_healthy', 'Running replicas that are healthy.', ['stack', 'service']);
  const crashLooping = gauge('heal_service_crashlooping', '1 while a replica keeps crashing.', [
    'stack',
    'service',
  ]);
  const rolledBack = gauge(
    'heal_service_rolled_back',
    "1 while the spec's config of the service is rolled back (not tried again until the spec changes).",
    ['stack', 'service'],
  );
  const paused = gauge('heal_service_rollout_paused', "1 while the service's rollout is paused.", [
    'stack',
    'service',
  ]);
  const hostUp = gauge('heal_host_up', '1 when the host is up, 0 when suspect or down.', ['stack', 'host']);
  const hostState = gauge('heal_host_state', '1 for the state the host is in, 0 for the others.', [
    'stack',
    'host',
    'state',
  ]);
  const reconcileSeconds = new Histogram({
    name: 'heal_reconcile_duration_seconds',
    help: 'Time from reading the spec to the end of applying its plan.',
    labelNames: ['stack', 'outcome'],
    buckets: RECONCILE_BUCKETS,
    registers,
  });
  const reconciles = counter('heal_reconciles_total', 'Reconciles, by how they ended.', ['stack', 'outcome']);
  const actions = counter('heal_actions_total', 'Actions run on hosts, by kind and result.', [
    'stack',
    'kind',
    'result',
  ]);
  const heals = counter('heal_heals_total', 'Slots healed, by why.', ['stack', 'reason']);
  const revisionInfo = gauge('heal_spec_revision_info', 'The spec revision applied (always 1).', [
    'stack',
    'revision',
  ]);
  const loadErrors = counter('heal_spec_load_errors_total', 'Spec loads that failed.', ['stack']);
  const lastLoadOk = gauge('heal_spec_last_load_ok', '1 when the last spec load worked.', ['stack']);
  const notifications = counter('heal_notifications_total', 'Notifications, by target and outcome.', [
    'target',
    'outcome',
  ]);

  const availability = gauge(
    'heal_host_availability',
    '1 for the availability the host is in (active, pause, drain), 0 for the others.',
    ['stack', 'host', 'availability'],
  );
  const draining = gauge('heal_host_draining', '1 while heal moves work off the host.', ['stack', 'host']);
  const condition = gauge(
    'heal_host_condition',
    `1 while the host shows the condition (${CONDITION_TYPES.join(', ')}).`,
    ['stack', 'host', 'condition'],
  );

  const services = new Map<string, Set<string>>();
  const hosts = new Map<string, Set<string>>();
  const revisions = new Map<string, string>();
  const seen = new Set<string>();

  /** Counters with a fixed set of labels start at 0, so rate() and increase() see the first event. */
  const see = (stack: string): void => {
    if (seen.has(stack)) return;
    seen.add(stack);
    for (const outcome of OUTCOMES) reconciles.inc({ stack, outcome }, 0);
    for (const reason of HEAL_REASONS) heals.inc({ stack, reason }, 0);
    loadErrors.inc({ stack }, 0);
  };

  const autoscaleReplicas = gauge(
    'heal_autoscale_replicas',
    'The replica count autoscaling holds for the service (x-heal-autoscale).',
    ['stack', 'service'],
  );
  const autoscaleResponse = gauge(
    'heal_autoscale_response_seconds',
    "Mean response time through the service's mesh proxies over the last interval.",
    ['stack', 'service'],
  );
  const autoscaleRate = gauge(
    'heal_autoscale_requests_per_second',
    "Requests per second through the service's mesh proxies over the last interval.",
    ['stack', 'service'],
  );
  const autoscaleCpu = gauge(
    'heal_autoscale_cpu_cores',
    'Mean CPU per replica of the service over the last interval, in cores (Engine stats).',
    ['stack', 'service'],
  );
  const autoscaleMemory = gauge(
    'heal_autoscale_memory_bytes',
    'Mean memory in use per replica of the service over the last interval (Engine stats, as docker stats counts it).',
    ['stack', 'service'],
  );
  const autoscaleChanges = counter(
    'heal_autoscale_changes_total',
    'Replica count changes autoscaling made, by direction.',
    ['stack', 'service', 'direction'],
  );

  /** Drops the series of names no longer listed for a stack and remembers the new list. */
  const replaceNames = (
    known: Map<string, Set<string>>,
    stack: string,
    names: readonly string[],
    drop: (name: string) => void,
  ): void => {
    const next = new Set(names);
    for (const name of known.get(stack) ?? []) if (!next.has(name)) drop(name);
    known.set(stack, next);
  };

  return {
    setServices(stack, rows) {
      see(stack);
      replaceNames(
        services,
        stack,
        rows.map((row) => row.service),
        (service) => {
          for (const metric of [desired, running, healthy, crashLooping, rolledBack, paused])
            metric.remove({ stack, service });
        },
      );
      for (const row of rows) {
        const labels = { stack, service: row.service };
        desired.set(labels, row.desired);
        running.set(labels, row.running);
        healthy.set(labels, row.healthy);
        crashLooping.set(labels, row.crashLooping ? 1 : 0);
        rolledBack.set(labels, row.rollout?.state === 'rolled-back' ? 1 : 0);
        paused.set(labels, row.rollout?.state === 'paused' ? 1 : 0);
      }
    },
    setHosts(stack, rows) {
      see(stack);
      replaceNames(
        hosts,
        stack,
        rows.map((row) => row.name),
        (host) => {
          hostUp.remove({ stack, host });
          for (const state of HOST_STATES) hostState.remove({ stack, host, state });
        },
      );
      for (const row of rows) {
        hostUp.set({ stack, host: row.name }, row.state === 'up' ? 1 : 0);
        for (const state of HOST_STATES)
          hostState.set({ stack, host: row.name, state }, row.state === state ? 1 : 0);
      }
    },
    setHostAvailability(stack, rows) {
      for (const row of rows) {
        for (const level of ['active', 'pause', 'drain'] as const)
          availability.set(
            { stack, host: row.host, availability: level },
            row.availability === level ? 1 : 0,
          );
        draining.set({ stack, host: row.host }, row.draining ? 1 : 0);
        for (const type of CONDITION_TYPES)
          condition.set(
            { stack, host: row.host, condition: type },
            row.conditions.some((item) => item.type === type && item.clearedAt === null) ? 1 : 0,
          );
      }
    },
    observeReconcile(stack, outcome, seconds) {
      see(stack);
      reconcileSeconds.observe({ stack, outcome }, seconds);
      reconciles.inc({ stack, outcome });
    },
    countAction(stack, kind, result) {
      see(stack);
      actions.inc({ stack, kind, result });
    },
    countHeal(stack, reason) {
      see(stack);
      heals.inc({ stack, reason });
    },
    setRevision(stack, revision) {
      see(stack);
      const previous = revisions.get(stack);
      if (previous !== undefined && previous !== revision) revisionInfo.remove({ stack, revision: previous });
      revisions.set(stack, revision);
      revisionInfo.set({ stack, revision }, 1);
    },
    specLoad(stack, ok) {
      see(stack);
      if (!ok) loadErrors.inc({ stack });
      lastLoadOk.set({ stack }, ok ? 1 : 0);
    },
    countNotification(target, outcome, by = 1) {
      notifications.inc({ target, outcome }, by);
    },
    autoscaled(stack, service, decision) {
      see(stack);
      const labels = { stack, service };
      autoscaleReplicas.set(labels, decision.replicas);
      if (decision.responseMs === null) autoscaleResponse.remove(labels);
      else autoscaleResponse.set(labels, decision.responseMs / 1000);
      if (decision.requestRate === null) autoscaleRate.remove(labels);
      else autoscaleRate.set(labels, decision.requestRate);
      if (decision.cpuCores === null) autoscaleCpu.remove(labels);
      else autoscaleCpu.set(labels, decision.cpuCores);
      if (decision.memoryBytes === null) autoscaleMemory.remove(labels);
      else autoscaleMemory.set(labels, decision.memoryBytes);
      if (decision.change !== null) autoscaleChanges.inc({ ...labels, direction: decision.change });
    },
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
