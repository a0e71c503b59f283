/**
 * Reconciles of one stack never overlap, and triggers that arrive while one runs coalesce into
 * one more run after it. A trigger carries no instructions: every run reads everything afresh.
 */
export class Reconciler {
  #running: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(private readonly run: () => Promise<{ retryAt: number | null }>) {}

  /** Queue a reconcile now. */
  trigger(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => (this.#running = null));
  }

  /** Queue a reconcile at `at` (epoch ms), unless one is already due sooner. */
  triggerAt(at: number): void {
    if (this.#stopped || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.trigger();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** Stops taking triggers and waits for the run in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      const { retryAt } = await this.run();
      if (retryAt !== null) this.triggerAt(retryAt);
    } while (this.#again && !this.#stopped);
  }
}
