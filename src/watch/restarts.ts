import type { Service } from '../spec/types.js';

/**
 * Memory of the restarts heal made per slot, for backoff and max_attempts. The first restart of
 * a crashed replica is immediate (or after restart_policy.delay); each one after it waits twice
 * as long, up to a cap; a replica that stays up for RESET_AFTER_MS starts again from zero.
 * Kept in memory only: a restarted daemon starts from zero, which costs at most one quick retry.
 */
export const RESET_AFTER_MS = 10_000;
export const MAX_BACKOFF_MS = 30_000;
const FIRST_BACKOFF_MS = 1_000;
/** Restarts within the recent window that make a service "crash-looping" in status and metrics. */
const CRASH_LOOP_RESTARTS = 3;

type History = { count: number; last: number; attemptsInWindow: number[] };

export class Restarts {
  readonly #slots = new Map<string, History>();

  /** Records a restart (start or replace of a crashed or unhealthy replica) heal made. */
  record(service: string, slot: number, now: number): void {
    const key = `${service}.${slot}`;
    const history = this.#slots.get(key) ?? { count: 0, last: 0, attemptsInWindow: [] };
    history.count += 1;
    history.last = now;
    history.attemptsInWindow.push(now);
    this.#slots.set(key, history);
  }

  /** A replica seen running since `startedAt`: once it has stayed up long enough, its slate is clean. */
  running(service: string, slot: number, startedAt: number | null, now: number): void {
    const key = `${service}.${slot}`;
    const history = this.#slots.get(key);
    if (
      history &&
      startedAt !== null &&
      now - startedAt >= RESET_AFTER_MS &&
      startedAt > history.last - 1_000
    )
      this.#slots.delete(key);
  }

  /** When each slot in backoff may be restarted next (epoch ms), for the planner. */
  notBefore(services: Readonly<Record<string, Service>>, now: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, history] of this.#slots) {
      const service = services[key.slice(0, key.lastIndexOf('.'))];
      if (!service) continue;
      const policy = service.deploy.restartPolicy;
      const window = policy.window;
      const attempts =
        window > 0 ? history.attemptsInWindow.filter((at) => now - at <= window) : history.attemptsInWindow;
      if (policy.maxAttempts > 0 && attempts.length >= policy.maxAttempts) {
        out[key] = Number.POSITIVE_INFINITY;
        continue;
      }
      const backoff = Math.min(
        MAX_BACKOFF_MS,
        Math.max(policy.delay, FIRST_BACKOFF_MS * 2 ** (history.count - 1)),
      );
      const due = history.last + backoff;
      if (due > now) out[key] = due;
    }
    return out;
  }

  crashLooping(service: string, now: number): boolean {
    for (const [key, history] of this.#slots) {
      if (!key.startsWith(`${service}.`)) continue;
      const recent = history.attemptsInWindow.filter((at) => now - at <= 60_000).length;
      if (recent >= CRASH_LOOP_RESTARTS) return true;
    }
    return false;
  }
}
