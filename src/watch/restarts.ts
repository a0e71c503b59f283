import type { Service } from '../spec/types.js';

/**
 * Memory of the restarts heal made per slot, for backoff and max_attempts. The first restart of
 * a crashed replica is immediate (or after restart_policy.delay); each one after it waits twice
 * as long, up to a cap; a replica that stays up for RESET_AFTER_MS starts again from zero.
 * Kept in memory only: a restarted daemon starts from zero, which costs at most one quick retry.
 *
 * It holds no more than the policy reads: per slot, a count, the last restart, and the times of
 * the few latest restarts (at most max_attempts, or enough to call it crash-looping) within the
 * window. A slot the spec no longer has is forgotten, and so is one whose service the spec
 * changed (its config or its restart_policy): a new spec gets a clean slate, max_attempts included.
 */
export const RESET_AFTER_MS = 10_000;
export const MAX_BACKOFF_MS = 30_000;
const FIRST_BACKOFF_MS = 1_000;
/** Restarts within CRASH_LOOP_MS that make a service "crash-looping" in status and metrics. */
const CRASH_LOOP_RESTARTS = 3;
const CRASH_LOOP_MS = 60_000;

type History = {
  /** The service as it was when the restarts were made: another one starts from zero. */
  readonly fingerprint: string;
  count: number;
  last: number;
  /** The latest restarts, oldest first: those max_attempts and crash-looping may still count. */
  recent: number[];
};

export class Restarts {
  readonly #slots = new Map<string, History>();

  /** Records a restart (start or replace of a crashed or unhealthy replica) heal made. */
  record(service: Service, slot: number, now: number): void {
    const key = `${service.name}.${slot}`;
    const fingerprint = fingerprintOf(service);
    const before = this.#slots.get(key);
    const history =
      before?.fingerprint === fingerprint ? before : { fingerprint, count: 0, last: 0, recent: [] };
    history.count += 1;
    history.last = now;
    history.recent.push(now);
    const policy = service.deploy.restartPolicy;
    const horizon = Math.max(policy.window, CRASH_LOOP_MS);
    const keep = Math.max(policy.maxAttempts, CRASH_LOOP_RESTARTS);
    history.recent = history.recent.filter((at) => now - at <= horizon).slice(-keep);
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

  /**
   * Forgets what the spec in force makes moot: slots of services it no longer has (or above their
   * replicas), and services it changed since their restarts were made.
   */
  prune(services: Readonly<Record<string, Service>>): void {
    for (const [key, history] of this.#slots) {
      const cut = key.lastIndexOf('.');
      const service = services[key.slice(0, cut)];
      const slot = Number(key.slice(cut + 1));
      const gone =
        !service ||
        history.fingerprint !== fingerprintOf(service) ||
        (service.deploy.mode === 'global' ? slot !== 0 : slot < 1 || slot > service.deploy.replicas);
      if (gone) this.#slots.delete(key);
    }
  }

  /** When each slot in backoff may be restarted next (epoch ms), for the planner. */
  notBefore(services: Readonly<Record<string, Service>>, now: number): Record<string, number> {
    this.prune(services);
    const out: Record<string, number> = {};
    for (const [key, history] of this.#slots) {
      const service = services[key.slice(0, key.lastIndexOf('.'))];
      if (!service) continue;
      const policy = service.deploy.restartPolicy;
      // Window 0 is unbounded: every restart since the slot last stayed up counts.
      const attempts =
        policy.window > 0 ? history.recent.filter((at) => now - at <= policy.window).length : history.count;
      if (policy.maxAttempts > 0 && attempts >= policy.maxAttempts) {
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
      const recent = history.recent.filter((at) => now - at <= CRASH_LOOP_MS).length;
      if (recent >= CRASH_LOOP_RESTARTS) return true;
    }
    return false;
  }

  /** What is remembered per slot (`service.slot`): all of it, so a test can see it stays bounded. */
  snapshot(): Record<string, { count: number; last: number; recent: readonly number[] }> {
    return Object.fromEntries(
      [...this.#slots].map(([key, { count, last, recent }]) => [key, { count, last, recent: [...recent] }]),
    );
  }
}

/** What a restart history belongs to: the service's config and its restart_policy. */
function fingerprintOf(service: Service): string {
  return `${service.configHash} ${JSON.stringify(service.deploy.restartPolicy)}`;
}
