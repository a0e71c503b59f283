import { Command } from 'commander';
import type { Observed } from '../../planner/observed.js';
import type { Stack } from '../../spec/types.js';
import { observingCommand } from '../fleet-options.js';
import { table } from '../table.js';

/** One row of `heal status --json`: a documented contract. */
export type StatusRow = {
  service: string;
  mode: 'replicated' | 'global';
  desired: number | null;
  running: number;
  healthy: number;
  dirty: number;
  hosts: Record<string, number>;
  image: string;
};

export function statusCommand(): Command {
  return observingCommand(
    new Command('status').description(
      'per service: desired, running, healthy and dirty replicas, and where (like docker service ls)',
    ),
    statusRows,
    render,
    'its replicas are not counted',
  );
}

export function statusRows(stack: Stack, observed: Observed): StatusRow[] {
  const containers = observed.hosts.flatMap((host) => host.containers);
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
        hosts,
        image: service.image,
      };
    });
}

function render(rows: readonly StatusRow[]): string {
  return table(
    ['SERVICE', 'MODE', 'REPLICAS', 'HEALTHY', 'DIRTY', 'HOSTS', 'IMAGE'],
    rows.map((row) => [
      row.service,
      row.mode,
      `${row.running}/${row.desired ?? 'global'}`,
      String(row.healthy),
      String(row.dirty),
      Object.entries(row.hosts)
        .sort()
        .map(([host, count]) => `${host}:${count}`)
        .join(' ') || '-',
      row.image,
    ]),
  );
}
