import type { Health } from '../planner/observed.js';

/**
 * What Docker's container list says in its human `Status` column ("Up 5 seconds (healthy)",
 * "Exited (1) 3 minutes ago"): health, exit code and approximate times, read without inspecting
 * each container. Durations are as precise as the engine prints them (a second under a minute).
 */
export type StatusFacts = {
  readonly health: Health;
  readonly exitCode: number | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
};

const UNITS: Readonly<Record<string, number>> = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
  month: 2_592_000_000,
  year: 31_536_000_000,
};

export function parseStatus(status: string, now: number): StatusFacts {
  const health = /\(healthy\)/.test(status)
    ? 'healthy'
    : /\(unhealthy\)/.test(status)
      ? 'unhealthy'
      : /\(health: starting\)/.test(status)
        ? 'starting'
        : 'none';
  const up = /^Up (.+?)(?: \(|$)/.exec(status);
  if (up) return { health, exitCode: null, startedAt: now - humanDuration(up[1]!), finishedAt: null };
  const ended = /^(?:Exited|Restarting) \((-?\d+)\) (.+) ago/.exec(status);
  if (ended)
    return {
      health,
      exitCode: Number(ended[1]),
      startedAt: null,
      finishedAt: now - humanDuration(ended[2]!),
    };
  return { health, exitCode: null, startedAt: null, finishedAt: null };
}

/** The inverse of Docker's units.HumanDuration, to its precision. */
export function humanDuration(text: string): number {
  if (/^less than a second$/i.test(text)) return 0;
  if (/^about a minute$/i.test(text)) return UNITS.minute!;
  if (/^about an hour$/i.test(text)) return UNITS.hour!;
  const match = /^(\d+) (second|minute|hour|day|week|month|year)s?$/i.exec(text);
  if (!match) return 0;
  return Number(match[1]) * UNITS[match[2]!.toLowerCase()]!;
}
