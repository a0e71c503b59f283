import type { ObservedHost } from '../planner/observed.js';

export type HostState = 'up' | 'suspect' | 'down';

export type HostChange = {
  readonly name: string;
  readonly from: HostState | null;
  readonly to: HostState;
  readonly error: string | null;
};

export type HostView = {
  readonly name: string;
  readonly state: HostState;
  readonly since: number;
  readonly error: string | null;
};

/**
 * Up, suspect or down, per host, from what each reconcile observes and what the heartbeat and
 * event streams notice in between. A host that stops answering is suspect at once and down once
 * it has been silent for `downAfterMs`, counted from its last answer: only then are its replicas
 * placed elsewhere. When more than half of the hosts that were up recently (answered within
 * `recentMs`) fall silent together, the likelier fault is heal's own network: nothing is
 * declared down, and `partitioned` says so. Hosts silent for longer are not counted.
 */
/** A host that answered within this long counts in the partition guard. */
export const RECENTLY_UP_MS = 5 * 60_000;

export class HostStates {
  readonly #hosts = new Map<string, HostView>();
  /** While partitioned: the hosts counted when it began. */
  #partition: ReadonlySet<string> | null = null;

  /**
   * `recentMs`: how recently a silent host must have answered to count in the partition guard.
   * A host silent for longer (down for maintenance) is neither a vote for "heal's network is at
   * fault" nor against it, so a fleet with hosts long gone keeps healing when one more blips.
   */
  constructor(
    private readonly downAfterMs: number,
    private readonly recentMs = Math.max(RECENTLY_UP_MS, downAfterMs * 3),
  ) {}

  /**
   * Folds in one observation; returns the hosts the planner must treat as suspect. `lastAnswer`:
   * when each host last answered, so that a host found silent counts as silent since then.
   */
  update(
    observed: readonly ObservedHost[],
    now: number,
    lastAnswer: (host: string) => number | null = () => null,
  ): { suspect: string[]; partitioned: boolean; nextChangeAt: number | null; changes: HostChange[] } {
    const previous = new Map([...this.#hosts].map(([name, view]) => [name, view.state]));
    for (const host of observed) {
      const before = this.#hosts.get(host.name);
      if (host.reachable) {
        if (before?.state !== 'up')
          this.#hosts.set(host.name, { name: host.name, state: 'up', since: now, error: null });
        continue;
      }
      if (!before || before.state === 'up') {
        const since = this.silentSince(lastAnswer(host.name), now);
        this.#hosts.set(host.name, { name: host.name, state: 'suspect', since, error: host.error });
        continue;
      }
      const state =
        before.state === 'suspect' && now - before.since >= this.downAfterMs ? 'down' : before.state;
      this.#hosts.set(host.name, { ...before, state, error: host.error });
    }
    for (const name of [...this.#hosts.keys()])
      if (!observed.some((host) => host.name === name)) this.#hosts.delete(name);

    const views = [...this.#hosts.values()];
    const notUp = views.filter((view) => view.state !== 'up');
    const counted = this.counted(views, now);
    const partitioned = counted !== null;
    const suspect = notUp
      .filter((view) => (counted ? counted.has(view.name) : view.state === 'suspect'))
      .map((view) => view.name)
      .sort();
    const pending = views
      .filter((view) => view.state === 'suspect')
      .map((view) => view.since + this.downAfterMs);
    const changes = views
      .filter((view) => previous.get(view.name) !== view.state)
      .map((view) => ({
        name: view.name,
        from: previous.get(view.name) ?? null,
        to: view.state,
        error: view.error,
      }));
    return { suspect, partitioned, nextChangeAt: pending.length > 0 ? Math.min(...pending) : null, changes };
  }

  /**
   * The hosts the partition guard holds back while more than half of those up recently are silent,
   * or null. The set is kept for as long as the partition lasts: a long one does not age its
   * hosts out of the count and let the few left take every replica.
   */
  private counted(views: readonly HostView[], now: number): ReadonlySet<string> | null {
    const pool = this.#partition
      ? views.filter((view) => this.#partition?.has(view.name))
      : views.filter((view) => view.state === 'up' || now - view.since <= this.recentMs);
    const silent = pool.filter((view) => view.state !== 'up');
    const partitioned = pool.length > 1 && silent.length * 2 > pool.length;
    this.#partition = partitioned ? new Set(pool.map((view) => view.name)) : null;
    return partitioned ? new Set(silent.map((view) => view.name)) : null;
  }

  /** When a suspect host will be declared down if it stays silent; null when it is not suspect. */
  downAt(name: string): number | null {
    const view = this.#hosts.get(name);
    return view?.state === 'suspect' ? view.since + this.downAfterMs : null;
  }

  /**
   * A host noticed silent between looks (its event stream dropped, or its engine stopped
   * answering the heartbeat): suspect from its last answer, not from the next look.
   */
  lost(name: string, now: number, error: string, lastAnswer: number | null = null): void {
    const before = this.#hosts.get(name);
    if (before && before.state !== 'up') return;
    this.#hosts.set(name, { name, state: 'suspect', since: this.silentSince(lastAnswer, now), error });
  }

  /** The host's last answer, but never so long ago that one failed look would declare it down. */
  private silentSince(lastAnswer: number | null, now: number): number {
    if (lastAnswer === null) return now;
    return Math.min(now, Math.max(lastAnswer, now - this.downAfterMs * 0.75));
  }

  views(): HostView[] {
    return [...this.#hosts.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
