import { restoreService } from '../spec/restore.js';
import type { Service, Stack } from '../spec/types.js';
import { LABEL } from './labels.js';
import type { ObservedContainer, ObservedHost, RolloutMark } from './observed.js';

/** A config a service ran before: what a rollback returns to. */
export type PreviousConfig = { readonly configHash: string; readonly spec: string };

/** How the planner drives the stack now that the rollout marks on the hosts have been read. */
export type Driven = {
  /** The spec, with each rolled-back service as its previous config (by its rollback_config). */
  readonly stack: Stack;
  /** Services whose rollout is paused: no container is replaced for its config. */
  readonly paused: ReadonlySet<string>;
  /** Services returning to their previous config. */
  readonly rollingBack: ReadonlySet<string>;
  /** Per service, the config its new containers record as the one before: absent for a rollback. */
  readonly previous: ReadonlyMap<string, PreviousConfig>;
  /** Marks in force (one per service), and marks the spec has moved past (to remove). */
  readonly held: readonly RolloutMark[];
  readonly stale: readonly RolloutMark[];
  readonly warnings: readonly string[];
};

/**
 * Reads the rollout marks. A mark holds while the service's config hash in the spec is the one it
 * names; once the spec says something else, it is stale. A rolled-back service is driven as the
 * config its containers ran before (read back from their labels); a paused one as the spec says,
 * but without replacing any container for its config.
 */
export function driveStack(desired: Stack, hosts: readonly ObservedHost[]): Driven {
  const marks = hosts.flatMap((host) => host.marks);
  const held = new Map<string, RolloutMark>();
  const stale: RolloutMark[] = [];
  for (const mark of marks) {
    const service = desired.services[mark.service];
    if (!service || service.configHash !== mark.configHash) stale.push(mark);
    else if (!held.has(mark.service) || mark.state === 'rolled-back') held.set(mark.service, mark);
  }
  const byService = new Map<string, ObservedContainer[]>();
  for (const container of hosts.flatMap((host) => host.containers)) {
    if (container.service === null) continue;
    const list = byService.get(container.service) ?? [];
    list.push(container);
    byService.set(container.service, list);
  }
  const services: Record<string, Service> = { ...desired.services };
  const paused = new Set<string>();
  const rollingBack = new Set<string>();
  const previous = new Map<string, PreviousConfig>();
  const warnings: string[] = [];

  for (const service of Object.values(desired.services)) {
    const before = previousConfig(service, byService.get(service.name) ?? []);
    const mark = held.get(service.name);
    if (!mark) {
      if (before) previous.set(service.name, before);
      continue;
    }
    const short = shortHash(mark.configHash);
    if (mark.state === 'paused') {
      paused.add(service.name);
      warnings.push(
        `${service.name}: the rollout of ${short} is paused (${mark.reason}); change the spec or run heal rollback ${service.name}`,
      );
      continue;
    }
    const restored = before && restoreService(desired, service, before.spec, before.configHash);
    if (!restored || 'error' in restored) {
      paused.add(service.name);
      warnings.push(
        `${service.name}: ${short} was rolled back (${mark.reason}), but ${restored ? `the previous config cannot be used: ${restored.error}` : 'no container records a previous config'}; left as it is`,
      );
      continue;
    }
    rollingBack.add(service.name);
    services[service.name] = {
      ...restored,
      deploy: { ...restored.deploy, updateConfig: service.deploy.rollbackConfig },
    };
    warnings.push(
      `${service.name}: ${short} was rolled back (${mark.reason}); it runs ${shortHash(before.configHash)} and ${short} is not tried again until the spec changes`,
    );
  }
  return {
    stack: { ...desired, services },
    paused,
    rollingBack,
    previous,
    held: [...held.values()],
    stale,
    warnings,
  };
}

/**
 * The config the service ran before the spec's: the one most of its containers of another config
 * run (newest first on a tie); once every container runs the spec's, the one they record as before.
 */
function previousConfig(service: Service, containers: readonly ObservedContainer[]): PreviousConfig | null {
  const counts = new Map<string, { config: PreviousConfig; count: number; newest: number }>();
  const count = (configHash: string | undefined, spec: string | undefined, newest: number): void => {
    if (!configHash || !spec || configHash === service.configHash) return;
    const entry = counts.get(configHash) ?? { config: { configHash, spec }, count: 0, newest: 0 };
    counts.set(configHash, { ...entry, count: entry.count + 1, newest: Math.max(entry.newest, newest) });
  };
  for (const container of containers)
    count(container.configHash ?? undefined, container.labels[LABEL.spec], container.createdAt);
  if (counts.size === 0) {
    for (const container of containers)
      count(
        container.labels[LABEL.previousConfigHash],
        container.labels[LABEL.previousSpec],
        container.createdAt,
      );
  }
  const [best] = [...counts.values()].sort((a, b) => b.count - a.count || b.newest - a.newest);
  return best?.config ?? null;
}

/** `v1:` and the first 12 digits: enough for a person to tell configs apart. */
export function shortHash(configHash: string): string {
  return configHash.slice(0, 15);
}
