import type { Reach } from '../executor/observe.js';
import { readContainerStats } from '../executor/container-stats.js';
import { readProxyStats } from '../executor/proxy-stats.js';
import { writeScaleMark } from '../executor/scale-marks.js';
import {
  autoscaledStack,
  decideScale,
  EMPTY_HISTORY,
  newest,
  type ScaleHistory,
} from '../planner/autoscale.js';
import {
  combineFigures,
  intervalFigures,
  usageFigures,
  type ProxyLook,
  type UsageLook,
} from '../planner/autoscale-figures.js';
import type { Autoscale } from '../spec/autoscale.js';
import type { Observed } from '../planner/observed.js';
import { statusRows } from '../planner/status.js';
import type { Host, Stack } from '../spec/types.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** What the autoscaler reads of the daemon each time it looks: the spec in force and the last look. */
export type AutoscalerInput = {
  readonly stack: Stack;
  readonly observed: Observed;
  readonly reach: (host: Host) => Promise<Reach>;
};

export type AutoscalerDeps = {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The spec in force and the hosts as last observed; null until a reconcile has looked. */
  readonly input: () => AutoscalerInput | null;
  /** Queues a reconcile: the new count is applied by the usual plan. */
  readonly trigger: () => void;
  readonly now?: () => number;
};

/** Per service: the looks of the current interval, the decision history, and a change not yet seen. */
type ServiceState = {
  looks: Look[];
  history: ScaleHistory;
  intervalStart: number;
  /** A count this autoscaler recorded (and when) that the last look at the hosts does not show yet. */
  pending: { readonly replicas: number; readonly at: number } | null;
  /** Replicas running and healthy when the interval started: the figures are theirs. */
  serving: number;
};

/** One look at a service: its proxies' counters and its replicas' stats, each when a target needs them. */
type Look = { readonly at: number; readonly proxies: ProxyLook | null; readonly usage: UsageLook | null };

/** The most often the proxies are read, and the least: several looks per interval. */
const LOOK_MS = { min: 500, max: 2_000 };

/**
 * The daemon's autoscaling loop (`x-heal-autoscale`). It reads each autoscaled service's mesh
 * proxies several times per interval (`show stat`, over the hosts' existing connections), and
 * once per interval asks the planner's pure `decideScale` for a count; a new count is recorded on
 * the hosts (`executor/scale-marks.ts`) and a reconcile queued, which places or drains replicas by
 * the usual plan. While the service rolls out or a replica is starting, it looks but does not
 * decide; an interval in which the replicas serving changed starts again, so the figures are
 * always of one count (a replica that cannot be placed blocks nothing: the figures are of those
 * that serve, as HPA counts ready pods).
 */
export class Autoscaler {
  private readonly services = new Map<string, ServiceState>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly deps: AutoscalerDeps) {}

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    const input = this.deps.input();
    const intervals = input
      ? Object.values(input.stack.services).flatMap((service) =>
          service.deploy.autoscale ? [service.deploy.autoscale.interval] : [],
        )
      : [];
    const every =
      intervals.length === 0
        ? LOOK_MS.max
        : Math.min(LOOK_MS.max, Math.max(LOOK_MS.min, Math.min(...intervals) / 5));
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((error: unknown) =>
          this.deps.log.warn(
            { error: error instanceof Error ? error.message : String(error) },
            'autoscale failed',
          ),
        )
        .finally(() => this.schedule());
    }, every);
  }

  private async tick(): Promise<void> {
    const input = this.deps.input();
    if (!input) return;
    const { stack, observed } = input;
    const scaled = autoscaledStack(stack, observed);
    const names = new Set(scaled.autoscaled.map((item) => item.service));
    for (const name of this.services.keys()) if (!names.has(name)) this.services.delete(name);
    const rows = statusRows(stack, observed);
    await Promise.all(
      scaled.autoscaled.map(async (item) => {
        const service = stack.services[item.service]!;
        const policy = service.deploy.autoscale!;
        const now = this.now();
        const marks = observed.hosts.flatMap((host) => host.scales ?? []);
        let state = this.services.get(item.service);
        if (!state) {
          // After a restart: the cooldown counts from the recorded decision, and the scale-down
          // window starts now (decideScale seeds it with the count in force).
          const mark = newest(marks, item.service);
          state = {
            looks: [],
            history: { ...EMPTY_HISTORY, lastChange: mark?.at ?? null },
            intervalStart: now,
            pending: null,
            serving: -1,
          };
          this.services.set(item.service, state);
        }
        const row = rows.find((each) => each.service === item.service);
        // Seen once the hosts show that mark or a newer one (its count may be clamped since).
        if (state.pending !== null && (newest(marks, item.service)?.at ?? -1) >= state.pending.at)
          state.pending = null;
        const busy =
          state.pending !== null
            ? `waiting for the count of ${state.pending.replicas} to be applied`
            : row === undefined
              ? 'not observed yet'
              : row.dirty > 0
                ? `rolling out (${row.dirty} replicas on another config)`
                : row.running > row.healthy
                  ? `settling (${row.running - row.healthy} replicas starting)`
                  : null;
        const look = await this.look(input, item.service, policy);
        // Figures are per replica serving: an interval in which that count changed starts again.
        const serving = row?.healthy ?? 0;
        if (busy === null && serving !== state.serving) {
          state.serving = serving;
          state.looks = [look];
          state.intervalStart = look.at;
          return;
        }
        if (busy !== null) {
          // The figures of a service in motion say little about the count it is moving to.
          state.looks = [look];
          state.intervalStart = look.at;
          const decision = decideScale(policy, item.replicas, state.history, null, now, busy);
          if (decision.changed) await this.record(input, item.service, item.replicas, decision, state, null);
          return;
        }
        state.looks.push(look);
        if (look.at - state.intervalStart < policy.interval) return;
        const figures = this.figures(state.looks, serving, policy);
        const decision = decideScale(policy, item.replicas, state.history, figures, now, null);
        state.history = decision.history;
        state.looks = [look];
        state.intervalStart = look.at;
        this.deps.log.debug(
          {
            stack: stack.name,
            service: item.service,
            replicas: decision.replicas,
            responseMs: figures.responseTime === null ? null : Math.round(figures.responseTime),
            requestRate: figures.requestRate === null ? null : Number(figures.requestRate.toFixed(2)),
            cpuCores: figures.cpuCores === null ? null : Number(figures.cpuCores.toFixed(3)),
            memoryBytes: figures.memoryBytes === null ? null : Math.round(figures.memoryBytes),
            reason: decision.reason,
          },
          'autoscale decision',
        );
        await this.record(input, item.service, item.replicas, decision, state, figures);
      }),
    );
  }

  /** Records a changed count on the hosts, logs it, counts it, and queues a reconcile. */
  private async record(
    input: AutoscalerInput,
    service: string,
    current: number,
    decision: ReturnType<typeof decideScale>,
    state: ServiceState,
    figures: ReturnType<typeof combineFigures> | null,
  ): Promise<void> {
    const { stack } = input;
    const change = !decision.changed ? null : decision.replicas > current ? 'up' : 'down';
    this.deps.metrics.autoscaled(stack.name, service, {
      replicas: decision.replicas,
      responseMs: figures?.responseTime ?? null,
      requestRate: figures?.requestRate ?? null,
      cpuCores: figures?.cpuCores ?? null,
      memoryBytes: figures?.memoryBytes ?? null,
      change,
    });
    if (!decision.changed) return;
    const at = this.now();
    const hosts = await writeScaleMark(stack, input.reach, {
      service,
      replicas: decision.replicas,
      reason: decision.reason,
      at,
    });
    state.pending = { replicas: decision.replicas, at };
    state.history = { ...decision.history, lastChange: at };
    this.deps.log.info(
      { stack: stack.name, service, from: current, to: decision.replicas, reason: decision.reason, hosts },
      'autoscaled',
    );
    this.deps.trigger();
  }

  /** The figures of one interval: from the proxies, the replicas' stats, or both, as the targets need. */
  private figures(
    looks: readonly Look[],
    serving: number,
    policy: Autoscale,
  ): ReturnType<typeof combineFigures> {
    const span = policy.interval / 2;
    const proxies = looks.flatMap((look) => (look.proxies ? [look.proxies] : []));
    const usage = looks.flatMap((look) => (look.usage ? [look.usage] : []));
    return combineFigures(
      serving,
      meshTargets(policy) ? intervalFigures(proxies, serving, span) : null,
      usageTargets(policy) ? usageFigures(usage, span) : null,
    );
  }

  /** Reads, in parallel, what the service's targets need: its proxies, its replicas' stats. */
  private async look(input: AutoscalerInput, service: string, policy: Autoscale): Promise<Look> {
    const [proxies, usage] = await Promise.all([
      meshTargets(policy) ? this.lookAtProxies(input, service) : null,
      usageTargets(policy) ? this.lookAtReplicas(input, service) : null,
    ]);
    return { at: this.now(), proxies, usage };
  }

  /** Reads every running proxy of the service once, in parallel. */
  private async lookAtProxies(input: AutoscalerInput, service: string): Promise<ProxyLook> {
    const { stack, observed } = input;
    const hosts = observed.hosts.filter(
      (host) => host.reachable && (host.proxies ?? []).some((proxy) => proxy.service === service),
    );
    const read = await Promise.all(
      hosts.map(async (host) => {
        const reached = await input.reach(host.host);
        if ('error' in reached) return [host.name, { error: reached.error.message }] as const;
        try {
          return [host.name, await readProxyStats(reached.client, stack, service)] as const;
        } catch (error) {
          return [host.name, { error: message(error) }] as const;
        }
      }),
    );
    return { at: this.now(), hosts: Object.fromEntries(read) };
  }

  /**
   * Reads the Engine stats (one-shot) of every replica serving (running, healthy or without a
   * health check, on a host that answered the last look), in parallel.
   */
  private async lookAtReplicas(input: AutoscalerInput, service: string): Promise<UsageLook> {
    const serving = input.observed.hosts
      .filter((host) => host.reachable)
      .flatMap((host) =>
        host.containers
          .filter(
            (container) =>
              container.service === service &&
              container.state === 'running' &&
              (container.health === 'healthy' || container.health === 'none'),
          )
          .map((container) => ({ host, id: container.id })),
      );
    const read = await Promise.all(
      serving.map(async ({ host, id }) => {
        const reached = await input.reach(host.host);
        if ('error' in reached) return [id, { error: reached.error.message }] as const;
        try {
          return [id, await readContainerStats(reached.client, id)] as const;
        } catch (error) {
          return [id, { error: `on ${host.name}: ${message(error)}` }] as const;
        }
      }),
    );
    return { at: this.now(), replicas: Object.fromEntries(read) };
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}

/** Whether the policy has a target the mesh's proxies measure. */
function meshTargets(policy: Autoscale): boolean {
  return policy.responseTime !== null || policy.requestsPerSecond !== null;
}

/** Whether the policy has a target the replicas' Engine stats measure. */
function usageTargets(policy: Autoscale): boolean {
  return policy.cpu !== null || policy.memory !== null;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
