/**
 * Lines of many containers in one time order. Each container's own lines come in time order, so
 * a k-way merge holds one line per source and never more: bounded memory however much there is.
 */

export type Timed = { readonly time: string };

/** Merges sources that are each in time order; ties keep the sources' order. */
export async function* mergeInTime<T extends Timed>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const heads = await Promise.all(iterators.map((iterator) => iterator.next()));
  try {
    for (;;) {
      let pick = -1;
      for (const [index, head] of heads.entries()) {
        if (head.done) continue;
        if (pick < 0 || head.value.time < (heads[pick]!.value as T).time) pick = index;
      }
      if (pick < 0) return;
      yield heads[pick]!.value as T;
      heads[pick] = await iterators[pick]!.next();
    }
  } finally {
    await Promise.all(
      iterators.map((iterator, index) => (heads[index]?.done ? undefined : iterator.return?.())),
    );
  }
}

/**
 * Live lines from many sources, in time order as far as arrival allows: each line waits `lagMs`
 * after it arrived, so that a line of another host sent at the same moment can overtake it, then
 * leaves in time order. At most `limit` lines wait; beyond that the oldest leave at once.
 */
export class LiveMerge<T extends Timed> {
  private waiting: { readonly line: T; readonly at: number }[] = [];

  constructor(
    private readonly lagMs: number,
    private readonly limit: number,
  ) {}

  add(line: T, now: number): void {
    this.waiting.push({ line, at: now });
  }

  /** The lines due at `now`, oldest first. */
  due(now: number): T[] {
    const ripe = this.waiting.filter((entry) => now - entry.at >= this.lagMs);
    let keep = this.waiting.filter((entry) => now - entry.at < this.lagMs);
    const over = keep.length - this.limit;
    if (over > 0) {
      const byTime = [...keep].sort((a, b) => compare(a.line, b.line));
      const forced = new Set(byTime.slice(0, over));
      ripe.push(...forced);
      keep = keep.filter((entry) => !forced.has(entry));
    }
    this.waiting = keep;
    return ripe.map((entry) => entry.line).sort(compare);
  }

  /** Everything still waiting, oldest first. */
  flush(): T[] {
    const all = this.waiting.map((entry) => entry.line).sort(compare);
    this.waiting = [];
    return all;
  }
}

function compare(a: Timed, b: Timed): number {
  return a.time < b.time ? -1 : a.time > b.time ? 1 : 0;
}
