import type { Action, Plan, Rollout } from '../planner/plan-types.js';
import type { Host, Stack } from '../spec/types.js';
import type { HostClient } from './host-client.js';
import { signalledSince, waitHealthy } from './containers.js';
import { DockerApiError, HostUnreachableError } from './errors.js';
import { writeMark } from './marks.js';
import type { Reach } from './observe.js';
import { sleep } from './sleep.js';

/** How long a replica found starting may take to turn healthy before a rollout goes on without it. */
const SETTLE_TIMEOUT_MS = 60_000;

/** How often `watch` looks at the new containers still in their monitor window. */
const MONITOR_POLL_MS = 500;

/** How one service's rollout ended in this apply. */
export type RolloutResult = {
  readonly service: string;
  readonly kind: Rollout['kind'];
  readonly to: string;
  /**
   * `done`: every slot moved, and its new container lasted its monitor window; `incomplete`: some
   * were skipped (an image that did not pull, a host that stopped answering), or heal stopped
   * before the monitor windows had passed; `continued`: some failed, and failure_action is continue; `paused`,
   * `rolled-back`: failure_action stopped it; `failed`: a rollback that failed, or failures below
   * the ratio.
   */
  readonly result: 'done' | 'incomplete' | 'continued' | 'paused' | 'rolled-back' | 'failed';
  readonly slots: number;
  readonly updated: number;
  readonly failures: number;
  readonly reason: string | null;
};

/** A new container of a rollout, watched for `monitor` after it started. */
type Watched = {
  readonly service: string;
  readonly client: HostClient;
  readonly id: string;
  readonly name: string;
  readonly startedAt: number;
  readonly until: number;
  /** A one-off job: an exit 0 is it done, not failing. */
  readonly job: boolean;
};

type State = {
  rollout: Rollout;
  updated: number;
  failures: string[];
  halted: RolloutResult['result'] | null;
  /** heal stopped while new containers of this rollout were still in their monitor window. */
  unwatched: boolean;
};

/** A rollout whose new containers `watch` is about to follow: until its last window ends. */
export type MonitorWindow = { readonly service: string; readonly monitor: number; readonly until: number };

/**
 * Follows each rollout's update_config while apply runs. A replacement that fails, or a new
 * container that exits or turns unhealthy within `monitor` of starting, is a failure; once the
 * failures exceed max_failure_ratio of the rollout's slots, failure_action decides: continue, or
 * stop the rollout (its later batches are skipped) and record on the hosts that its config was
 * paused or is to be rolled back. Between phases monitoring never waits: the containers in their
 * window are looked at before each phase. After the last phase, `watch` follows them until the
 * last window has passed, as Swarm does: a rollout is done only once its last batch has lasted
 * `monitor`.
 */
export class RolloutGuard {
  private readonly states = new Map<string, State>();
  private watched: Watched[] = [];

  constructor(
    plan: Plan,
    private readonly stack: Stack,
    private readonly reach: (host: Host) => Promise<Reach>,
    private readonly onHalt: (service: string, result: RolloutResult) => void,
    private readonly disturbedSince: (host: string, since: number) => boolean = () => false,
  ) {
    for (const rollout of plan.rollouts)
      this.states.set(rollout.service, {
        rollout,
        updated: 0,
        failures: [],
        halted: null,
        unwatched: false,
      });
  }

  /** Why a replacement must not run: its service's rollout stopped. */
  skipReason(action: Action): string | null {
    if (action.kind !== 'replace') return null;
    const state = this.states.get(action.service);
    if (!state?.halted || state.halted === 'continued') return null;
    return `the rollout of ${action.service} stopped (${state.halted}): ${state.failures[0] ?? ''}`;
  }

  /** A replacement of the rollout finished: `id` is its new container, now healthy. */
  updated(action: Action, client: HostClient, id: string): void {
    if (action.kind !== 'replace' || !action.update) return;
    const state = this.states.get(action.service);
    if (!state) return;
    state.updated += 1;
    if (state.rollout.monitor > 0)
      this.watched.push({
        service: action.service,
        client,
        id,
        name: action.create.query.name,
        startedAt: Date.now(),
        until: Date.now() + state.rollout.monitor,
        job: action.create.exitZero !== 'failure',
      });
  }

  async failed(action: Action, error: string): Promise<void> {
    if (action.kind !== 'replace' || !action.update) return;
    await this.count(
      action.service,
      error.startsWith(`${action.host}: `) ? error : `${action.host}: ${error}`,
    );
  }

  /**
   * Waits until the replicas each rollout found still starting are healthy, before its first
   * batch takes more down. One of the config rolled out that fails counts against the rollout;
   * any other is left for the next reconcile to heal.
   */
  async settle(): Promise<void> {
    await Promise.all(
      [...this.states.values()].flatMap(({ rollout }) =>
        rollout.settling.map(async (replica) => {
          const host = this.stack.heal.hosts[replica.host];
          const reached = host ? await this.reach(host) : null;
          if (!reached || 'error' in reached) return;
          try {
            await waitHealthy(reached.client, replica.id, replica.name, SETTLE_TIMEOUT_MS);
          } catch (error) {
            if (error instanceof HostUnreachableError || replica.configHash !== rollout.to) return;
            await this.count(rollout.service, (error as Error).message);
          }
        }),
      ),
    );
  }

  /**
   * Looks once at every new container still in its monitor window. A failure counts when the look
   * that sees it began within the window; a window that has ended by the look is dropped after it.
   */
  async check(signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    this.watched = this.watched.filter((item) => item.until >= started && this.following(item.service));
    const looks = await Promise.all(
      this.watched.map(async (item) => ({ item, look: await look(item, signal) })),
    );
    for (const { item, look: seen } of looks) {
      if (seen === 'fine') continue;
      this.watched = this.watched.filter((other) => other !== item);
      if (seen === 'left') continue;
      // Its engine restarted (or was lost) since it started: the stop was the host's, not the config's.
      if (this.disturbedSince(item.client.host.name, item.startedAt)) continue;
      await this.count(item.service, `${item.client.host.name}: ${item.name} ${seen.failed} within monitor`);
    }
    this.watched = this.watched.filter((item) => item.until > started && this.following(item.service));
  }

  /** Per rollout still followed, when the monitor window of its last new container ends. */
  windows(): MonitorWindow[] {
    const until = new Map<string, number>();
    for (const item of this.watched)
      if (this.following(item.service))
        until.set(item.service, Math.max(until.get(item.service) ?? 0, item.until));
    return [...until].map(([service, end]) => ({
      service,
      monitor: this.states.get(service)?.rollout.monitor ?? 0,
      until: end,
    }));
  }

  /**
   * After the last phase: looks at the new containers every MONITOR_POLL_MS until every
   * monitor window has passed (a healthy rollout ends with its last window) or every rollout with
   * containers left to watch has stopped. Once `signal` aborts it returns at once, and those
   * rollouts are incomplete: nothing will watch their last containers.
   */
  async watch(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) return this.unwatch();
      await this.check(signal);
      if (this.watched.length === 0) return;
      if (signal?.aborted) return this.unwatch();
      const next = Math.min(...this.watched.map((item) => item.until));
      // The last look at a window lands at its end, not up to a poll later.
      const wait = Math.min(MONITOR_POLL_MS, Math.max(0, next - Date.now()));
      const cut = await sleep(wait, signal).then(
        () => false,
        () => true,
      );
      if (cut) return this.unwatch();
    }
  }

  private unwatch(): void {
    for (const item of this.watched) {
      const state = this.states.get(item.service);
      if (state && this.following(item.service)) state.unwatched = true;
    }
    this.watched = [];
  }

  /** Whether failures of this rollout still matter: it goes on (or goes on by failure_action continue). */
  private following(service: string): boolean {
    const halted = this.states.get(service)?.halted ?? null;
    return halted === null || halted === 'continued';
  }

  results(): RolloutResult[] {
    return [...this.states.values()].map((state) => this.result(state));
  }

  private result({ rollout, updated, failures, halted, unwatched }: State): RolloutResult {
    return {
      service: rollout.service,
      kind: rollout.kind,
      to: rollout.to,
      result:
        halted ??
        (failures.length > 0 ? 'failed' : updated < rollout.slots || unwatched ? 'incomplete' : 'done'),
      slots: rollout.slots,
      updated,
      failures: failures.length,
      reason:
        failures.length > 0
          ? summary(rollout, failures)
          : unwatched
            ? `heal stopped before update_config.monitor (${rollout.monitor / 1000}s) had passed`
            : null,
    };
  }

  private async count(service: string, failure: string): Promise<void> {
    const state = this.states.get(service);
    if (!state || (state.halted && state.halted !== 'continued')) return;
    state.failures.push(failure);
    const { rollout } = state;
    if (state.failures.length / rollout.slots <= rollout.maxFailureRatio) return;
    if (rollout.failureAction === 'continue') {
      if (state.halted === null) this.onHalt(service, { ...this.result(state), result: 'continued' });
      state.halted = 'continued';
      return;
    }
    // A rollback that fails stops where it is; the mark that started it stays.
    const halted =
      rollout.kind === 'rollback'
        ? 'failed'
        : rollout.failureAction === 'rollback'
          ? 'rolled-back'
          : 'paused';
    state.halted = halted;
    const reason = summary(rollout, state.failures);
    if (halted !== 'failed') {
      await writeMark(this.stack, this.reach, {
        service,
        configHash: rollout.to,
        state: halted,
        reason,
      }).catch((error: Error) => state.failures.push(error.message));
    }
    this.onHalt(service, this.result(state));
  }
}

function summary(rollout: Rollout, failures: readonly string[]): string {
  const allowed = rollout.maxFailureRatio > 0 ? ` (max_failure_ratio ${rollout.maxFailureRatio})` : '';
  return `${failures.length} of ${rollout.slots} replacement(s) failed${allowed}: ${failures[0]}`;
}

/**
 * What a look at a watched container finds: `fine` (watch on), `left` (someone stopped, killed or
 * removed it: that says nothing of its config, and it is watched no more), or a failure.
 */
type Look = 'fine' | 'left' | { readonly failed: string };

async function look(item: Watched, signal?: AbortSignal): Promise<Look> {
  try {
    const info = await item.client.call(
      `inspect ${item.name}`,
      (docker, abortSignal) => docker.getContainer(item.id).inspect({ abortSignal }),
      signal ? { signal } : {},
    );
    if (item.job && info.State.Status === 'exited' && info.State.ExitCode === 0) return 'fine';
    const exited = !info.State.Running
      ? `exited with code ${info.State.ExitCode}`
      : // A restart policy (`restart:`) may have started it again since it exited.
        info.RestartCount > 0
        ? 'exited and was restarted'
        : null;
    if (exited === null)
      return info.State.Health?.Status === 'unhealthy' ? { failed: 'turned unhealthy' } : 'fine';
    // `docker stop`, `kill`, `rm -f` send a signal first; a crash does not.
    return (await signalledSince(item.client, item.id, item.startedAt, signal)) ? 'left' : { failed: exited };
  } catch (error) {
    // Gone (removed by someone), or its host did not answer this time: neither says anything
    // about its config; the second is looked at again.
    return error instanceof DockerApiError && error.status === 404 ? 'left' : 'fine';
  }
}
