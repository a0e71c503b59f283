import type { ServiceDeaths } from '../planner/observed.js';
import { LABEL } from '../planner/labels.js';
import type { HostClient } from './host-client.js';

/**
 * Kill events are read this much before the window: a `docker stop` (heal's own removals
 * included) sends a signal, then the container dies; such a death was asked for.
 */
const STOP_LEAD_MS = 60_000;

/** One container event as the engine streams it (`GET /events`). */
type EngineEvent = {
  readonly Action?: string;
  readonly Actor?: { readonly ID?: string; readonly Attributes?: Readonly<Record<string, string>> };
  readonly time?: number;
  readonly timeNano?: number;
};

/**
 * The stack's containers that died on the host within `windowMs` before `engineNow` (the
 * engine's own clock, epoch ms), per service: one bounded events call (`since` .. `until`,
 * filtered by the engine to the stack's label and die, oom and kill), which the engine answers
 * with what it has and then closes; an `until` still ahead of its clock would hold it open.
 */
export async function readDeaths(
  client: HostClient,
  stack: string,
  windowMs: number,
  engineNow: number,
): Promise<ServiceDeaths[]> {
  const text = await client.call('events (deaths)', async (docker, abortSignal) => {
    const stream = (await docker.getEvents({
      since: Math.floor((engineNow - windowMs - STOP_LEAD_MS) / 1000),
      until: Math.floor(engineNow) / 1000,
      filters: {
        type: ['container'],
        label: [`${LABEL.stack}=${stack}`],
        event: ['die', 'oom', 'kill'],
      },
      abortSignal,
    })) as NodeJS.ReadableStream;
    let read = '';
    for await (const chunk of stream) read += chunk.toString();
    return read;
  });
  return countDeaths(parseEvents(text), engineNow - windowMs);
}

/** Newline-delimited JSON; a line that is not an event is skipped. */
export function parseEvents(text: string): EngineEvent[] {
  return text.split('\n').flatMap((line) => {
    if (line.trim() === '') return [];
    try {
      return [JSON.parse(line) as EngineEvent];
    } catch {
      return [];
    }
  });
}

/**
 * Counts, per service, the deaths from `from` (epoch ms) on: a `die` with a non-zero exit code
 * and no `kill` of that container before it (a crash: nobody asked it to stop), and an `oom` (the
 * kernel killed a process of it; the `die` that follows is that same death). Events in the order
 * the engine sent them, oldest first.
 */
export function countDeaths(events: readonly EngineEvent[], from: number): ServiceDeaths[] {
  const signalled = new Set<string>();
  const oomed = new Set<string>();
  const counts = new Map<string, { exits: number; ooms: number }>();
  const count = (service: string, kind: 'exits' | 'ooms'): void => {
    const entry = counts.get(service) ?? { exits: 0, ooms: 0 };
    entry[kind] += 1;
    counts.set(service, entry);
  };
  for (const event of events) {
    const id = event.Actor?.ID ?? '';
    const attributes = event.Actor?.Attributes ?? {};
    const service = attributes[LABEL.service] ?? attributes.name ?? id.slice(0, 12);
    const at = event.timeNano !== undefined ? event.timeNano / 1e6 : (event.time ?? 0) * 1000;
    const inWindow = at >= from;
    if (event.Action === 'kill') signalled.add(id);
    else if (event.Action === 'oom') {
      oomed.add(id);
      if (inWindow) count(service, 'ooms');
    } else if (event.Action === 'die') {
      const asked = signalled.delete(id);
      const killedByKernel = oomed.delete(id);
      const exit = Number(attributes.exitCode ?? '0');
      if (inWindow && !asked && !killedByKernel && exit !== 0) count(service, 'exits');
    }
  }
  return [...counts.entries()]
    .map(([service, entry]) => ({ service, ...entry }))
    .sort((a, b) => (a.service < b.service ? -1 : 1));
}
