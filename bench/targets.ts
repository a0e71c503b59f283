/** The targets a bench row is checked against: ratios to Swarm and the floor, or a bound on every run. */
import type { Sample } from './util.js';

/** A row's measurements, by column. */
export type Cells = { heal?: Sample; swarm?: Sample; floor?: Sample };

/** A row's target: its text with the figures, and whether they meet it. */
export type Target = (
  heal: number | null,
  swarm: number | null,
  floor: number | null,
  cells: Cells,
) => { text: string; met: boolean };

/** Every one of heal's runs within `limit` seconds: the slowest run, and each, are in the text. */
export function everyRun(limit: number, relation: '≤' | '<'): Target {
  return (_heal, _swarm, _floor, cells) => {
    const runs = cells.heal?.runs ?? [];
    const max = runs.length > 0 ? Math.max(...runs) : null;
    const met = max !== null && (relation === '≤' ? max <= limit : max < limit);
    const each = runs.length > 0 ? ` (runs ${runs.join(', ')})` : '';
    return {
      met,
      text: `${relation} ${limit} s every run: max ${max ?? '?'} s ${met ? 'met' : 'MISSED'}${each}`,
    };
  };
}

/**
 * heal's median at most `limit` seconds above the floor's: what heal adds to the engine's own
 * work, whatever the machine's load makes that work cost.
 */
export function aboveFloor(limit: number): Target {
  return (heal, _swarm, floor) => {
    const added = heal !== null && floor !== null ? heal - floor : null;
    const met = added !== null && added <= limit;
    const shown = added === null ? '?' : `${added >= 0 ? '+' : ''}${added.toFixed(2)} s`;
    return { met, text: `≤ floor + ${limit} s: ${shown} ${met ? 'met' : 'MISSED'}` };
  };
}

/** Several targets, all to be met. */
export function allOf(...parts: readonly Target[]): Target {
  return (...args) => {
    const results = parts.map((part) => part(...args));
    return {
      text: results.map((result) => result.text).join('; '),
      met: results.every((result) => result.met),
    };
  };
}

/** Targets as ratios to Swarm and to the floor: `≤ 0.5x swarm: 0.71x MISSED; ≤ 1.5x floor: 1.17x met`. */
export function targets(limits: { readonly swarm?: number; readonly floor?: number }): Target {
  return (
    heal: number | null,
    swarm: number | null,
    floor: number | null,
  ): { text: string; met: boolean } => {
    const parts = (
      [
        ['swarm', limits.swarm, swarm],
        ['floor', limits.floor, floor],
      ] as const
    ).flatMap(([what, limit, base]) => {
      if (limit === undefined) return [];
      const ratio = heal !== null && base !== null && base > 0 ? heal / base : null;
      const met = ratio !== null && ratio <= limit;
      return [
        {
          met,
          text: `≤ ${limit}x ${what}: ${ratio === null ? '?' : `${ratio.toFixed(2)}x`} ${met ? 'met' : 'MISSED'}`,
        },
      ];
    });
    return { text: parts.map((part) => part.text).join('; '), met: parts.every((part) => part.met) };
  };
}
