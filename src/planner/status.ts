import type { Service, Stack } from '../spec/types.js';
import type { Observed, RolloutMark } from './observed.js';
import { autoscaledStack, type Autoscaled } from './autoscale.js';
import { completed } from './jobs.js';
import { keyedStack } from './stack-key.js';
import { hasRole } from './labels.js';

/** One service's replicas as observed: a row of `heal status --json` (a documented contract) and of the daemon's /status. */
export type StatusRow = {
  service: string;
  mode: 'replicated' | 'global';
  desired: number | null;
  running: number;
  healthy: number;
  dirty: number;
  /** Replicas of a one-off job (`jobs.ts`) that finished: exited 0 with the spec's config. Done, not failing. */
  completed: number;
  hosts: Record<string, number>;
  image: string;
  /** Set while the spec's config of the service is rolled back or its rollout paused. */
  rollout: { state: 'rolled-back' | 'paused'; configHash: string; reason: string } | null;
  /** Only for a service with `x-heal-autoscale`: the count the hosts hold (`desired`), bounds and why. */
  autoscale?: Omit<Autoscaled, 'service'>;
};

/**
 * Desired, running, healthy and dirty replicas per service, and where they run. A container is
 * dirty when its hash is not the spec's as the hosts' stack key makes it (with no key on the
 * hosts, none of a service with secrets is clean).
 */
export function statusRows(spec: Stack, observed: Observed): StatusRow[] {
  const scaled = autoscaledStack(spec, observed);
  const { stack } = keyedStack(scaled.stack, observed);
  // A mesh proxy and a one-off carry their service's label but are no replicas of it.
  const containers = observed.hosts
    .flatMap((host) => host.containers)
    .filter((container) => !hasRole(container));
  const marks = observed.hosts.flatMap((host) => host.marks);
  return Object.values(stack.services)
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((service) => {
      const mine = containers.filter((container) => container.service === service.name);
      const running = mine.filter((container) => container.state === 'running');
      const hosts: Record<string, number> = {};
      for (const container of running) hosts[container.host] = (hosts[container.host] ?? 0) + 1;
      return {
        service: service.name,
        mode: service.deploy.mode,
        desired: service.deploy.mode === 'global' ? null : service.deploy.replicas,
        running: running.length,
        healthy: running.filter((container) => container.health === 'healthy' || container.health === 'none')
          .length,
        dirty: mine.filter((container) => container.configHash !== service.configHash).length,
        completed: mine.filter((container) => completed(service, container)).length,
        hosts,
        image: service.image,
        rollout: rolloutOf(service, marks),
        ...autoscaleOf(scaled.autoscaled, service.name),
      };
    });
}

/** The mark in force for the service: rolled back wins over paused. */
function rolloutOf(service: Service, marks: readonly RolloutMark[]): StatusRow['rollout'] {
  const held = marks
    .filter((mark) => mark.service === service.name && mark.configHash === service.configHash)
    .sort((a, b) => (a.state === b.state ? 0 : a.state === 'rolled-back' ? -1 : 1));
  const [mark] = held;
  return mark ? { state: mark.state, configHash: mark.configHash, reason: mark.reason } : null;
}

function autoscaleOf(autoscaled: readonly Autoscaled[], service: string): Pick<StatusRow, 'autoscale'> {
  const found = autoscaled.find((item) => item.service === service);
  if (!found) return {};
  const { service: _name, ...rest } = found;
  return { autoscale: rest };
}
