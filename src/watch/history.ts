import type { HealReason } from './metrics.js';
import type { LastReconcile } from './daemon-state.js';

/** One reconcile as the page lists it: the last reconcile's fields, and the revision it ran. */
export type ReconcileEntry = LastReconcile & { readonly revision: string | null };

/** One heal: what broke, what heal did, how long it took. */
export type HealEntry = {
  /** When the action ended. */
  readonly at: string;
  readonly service: string | null;
  readonly slot: number | null;
  readonly host: string;
  readonly cause: HealReason;
  /** What broke, as the plan said it: `exited (137)`, `unhealthy`, ... */
  readonly broke: string;
  /** What heal did: `restarted`, `replaced`, `recreated`, `removed`, `unpaused`. */
  readonly did: string;
  /** The action itself. */
  readonly actionMs: number;
  /** From the break (the engine's stop event, or the container's end) to the action done; null when unknown. */
  readonly tookMs: number | null;
};

/** A rollout batch being applied, from its phase event until the reconcile that runs it ends. */
export type InFlight = {
  readonly services: readonly string[];
  readonly batch: string;
  readonly since: string;
};

/** How many reconciles and heals are kept: the page shows the recent ones, memory stays bounded. */
export const HISTORY_SIZE = 20;

/**
 * What the daemon did lately, bounded (the last reconciles and heals, newest first), and who to
 * tell when anything the page shows changed: the page's live stream listens here instead of
 * asking the hosts anything.
 */
export class History {
  readonly #reconciles: ReconcileEntry[] = [];
  readonly #heals: HealEntry[] = [];
  readonly #listeners = new Set<() => void>();
  /** Slots (`web.2`) seen with a container: a slot created that was never seen is deployed, not healed. */
  readonly #slots = new Set<string>();
  /** The revision of the last reconcile that converged. */
  applied: string | null = null;
  inFlight: InFlight | null = null;

  constructor(private readonly size = HISTORY_SIZE) {}

  reconciled(entry: ReconcileEntry): void {
    if (entry.outcome === 'converged') this.applied = entry.revision;
    this.inFlight = null;
    push(this.#reconciles, entry, this.size);
    this.changed();
  }

  healed(entry: HealEntry): void {
    push(this.#heals, entry, this.size);
    this.changed();
  }

  batch(services: readonly string[], batch: string, now: number): void {
    this.inFlight = { services, batch, since: new Date(now).toISOString() };
    this.changed();
  }

  /** A look saw a container of this slot. */
  saw(service: string, slot: number): void {
    this.#slots.add(`${service}.${slot}`);
  }

  /** Whether a look ever saw a container of this slot. */
  knows(service: string, slot: number): boolean {
    return this.#slots.has(`${service}.${slot}`);
  }

  /** Newest first. */
  reconciles(): readonly ReconcileEntry[] {
    return [...this.#reconciles];
  }

  /** Newest first. */
  heals(): readonly HealEntry[] {
    return [...this.#heals];
  }

  /** Something the page shows may have changed (a look, a heal, a reconcile's end). */
  changed(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` on each change until the returned function is called. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  listeners(): number {
    return this.#listeners.size;
  }
}

function push<T>(ring: T[], entry: T, size: number): void {
  ring.unshift(entry);
  if (ring.length > size) ring.length = size;
}
