import type { UsageReading } from '../planner/autoscale-figures.js';
import type { HostClient } from './host-client.js';

/**
 * Reads one replica's CPU time and memory with the Engine API's one-shot stats
 * (`GET /containers/{id}/stats?stream=false&one-shot=true`, API 1.41+): the engine answers at
 * once instead of sampling for a second, and leaves `precpu_stats` empty, so the CPU figure is
 * the growth between two of heal's readings (`planner/autoscale-figures.ts`). Throws with why
 * when it cannot.
 */
export async function readContainerStats(client: HostClient, id: string): Promise<UsageReading> {
  const raw: unknown = await client.call(`stats ${id.slice(0, 12)}`, (docker, abortSignal) =>
    docker
      .getContainer(id)
      // dockerode 5 puts every option but abortSignal in the query: stream=false&one-shot=true.
      .stats({ stream: false, 'one-shot': true, abortSignal } as { stream: false; 'one-shot': boolean }),
  );
  return parseContainerStats(raw, Date.now());
}

/**
 * The figures heal uses out of one stats answer. Memory is counted as `docker stats` counts it:
 * usage minus the inactive page cache (`inactive_file` on cgroup v2, `total_inactive_file` on
 * v1), which the kernel reclaims first. `fallbackAt` stands for the engine's `read` time when it
 * gives none.
 */
export function parseContainerStats(raw: unknown, fallbackAt: number): UsageReading {
  const stats = record(raw);
  const cpuNs = number(record(record(stats.cpu_stats).cpu_usage).total_usage);
  const memory = record(stats.memory_stats);
  const usage = number(memory.usage);
  if (cpuNs === null || usage === null)
    throw new Error('the engine gave no CPU or memory figures (is the replica running?)');
  const counters = record(memory.stats);
  const inactive = number(counters.inactive_file) ?? number(counters.total_inactive_file) ?? 0;
  const read = typeof stats.read === 'string' ? Date.parse(stats.read) : NaN;
  // A stopped container's `read` is the zero time (year 1).
  const at = Number.isFinite(read) && read > 0 ? read : fallbackAt;
  return { at, cpuNs, memoryBytes: Math.max(0, usage - inactive) };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function number(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
