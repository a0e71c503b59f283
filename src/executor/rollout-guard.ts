import type { Action, Plan, Rollout } from '../planner/plan-types.js';
import type { Host, Stack } from '../spec/types.js';
import type { HostClient } from './host-client.js';
import { waitHealthy } from './containers.js';
import { HostUnreachableError } from './errors.js';
import { writeMark } from './marks.js';
import type { Reach } from './observe.js';

/** How long a replica found starting may take to turn healthy before a rollout goes on without it. */
const SETTLE_TIMEOUT_MS = 60_000;

/** How one service's rollout ended in this apply. */
export type RolloutResult = {
  readonly service: string;
  readonly kind: Rollout['kind'];
  readonly to: string;
  /**
   * `done`: every slot moved; `incomplete`: some were skipped (an image that did not pull, a host
   * that stopped answering); `continued`: some failed, and failure_action is continue; `paused`,
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
};

/**
 * Follows each rollout's update_config while apply runs. A replacement that fails, or a new
 * container that exits or turns unhealthy within `monitor` of starting, is a failure; once the
 * failures exceed max_failure_ratio of the rollout's slots, failure_action decides: continue, or
 * stop the rollout (its later batches are skipped) and record on the hosts that its config was
 * paused or is to be rolled back. Monitoring never waits: the containers in their window are
 * looked at before each phase and once at the end.
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
      this.states.set(rollout.service, { rollout, updated: 0, failures: [], halted: null });
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

  /** Looks once at every new container still in its monitor window. */
  async check(): Promise<void> {
    const now = Date.now();
    this.watched = this.watched.filter((item) => item.until > now);
    const failing = await Promise.all(this.watched.map(async (item) => ({ item, why: await problem(item) })));
    for (const { item, why } of failing) {
      if (why === null) continue;
      this.watched = this.watched.filter((other) => other !== item);
      // Its engine restarted (or was lost) since it started: the stop was the host's, not the config's.
      if (this.disturbedSince(item.client.host.name, item.startedAt)) continue;
      await this.count(item.service, `${item.client.host.name}: ${item.name} ${why} within monitor`);
    }
  }

  results(): RolloutResult[] {
    return [...this.states.values()].map((state) => this.result(state));
  }

  private result({ rollout, updated, failures, halted }: State): RolloutResult {
    return {
      service: rollout.service,
      kind: rollout.kind,
      to: rollout.to,
      result: halted ?? (failures.length > 0 ? 'failed' : updated < rollout.slots ? 'incomplete' : 'done'),
      slots: rollout.slots,
      updated,
      failures: failures.length,
      reason: failures.length > 0 ? summary(rollout, failures) : null,
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

async function problem(item: Watched): Promise<string | null> {
  try {
    const info = await item.client.call(`inspect ${item.name}`, (docker, abortSignal) =>
      docker.getContainer(item.id).inspect({ abortSignal }),
    );
    if (item.job && info.State.Status === 'exited' && info.State.ExitCode === 0) return null;
    if (!info.State.Running) return `exited with code ${info.State.ExitCode}`;
    if (info.State.Health?.Status === 'unhealthy') return 'turned unhealthy';
    return null;
  } catch {
    // Gone, or its host stopped answering: neither says anything about its config.
    return null;
  }
}
