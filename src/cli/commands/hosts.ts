import { Command } from 'commander';
import type { Host } from '../../spec/types.js';
import { observingCommand } from '../fleet-options.js';
import { table } from '../table.js';

/** One row of `heal hosts --json`: a documented contract. */
export type HostRow = {
  name: string;
  address: string;
  reachable: boolean;
  engineVersion: string | null;
  containers: { owned: number; total: number } | null;
  latencyMs: number | null;
  error: string | null;
};

export function hostsCommand(): Command {
  return observingCommand(
    new Command('hosts').description(
      'list the hosts with their reachability and engine, like docker node ls',
    ),
    (_stack, observed, fleet) =>
      Promise.all(
        observed.hosts.map(async (host): Promise<HostRow> => {
          const reached = await fleet.reach(host.host);
          const latencyMs =
            host.reachable && 'client' in reached ? await reached.client.ping().catch(() => null) : null;
          return {
            name: host.name,
            address: addressOf(host.host),
            reachable: host.reachable,
            engineVersion: host.engine?.version ?? null,
            containers:
              host.totalContainers === null
                ? null
                : { owned: host.containers.length, total: host.totalContainers },
            latencyMs: latencyMs === null ? null : Math.round(latencyMs * 10) / 10,
            error: host.error,
          };
        }),
      ),
    render,
    null,
  );
}

export function addressOf(host: Host): string {
  if (host.kind === 'docker') return host.url;
  return `${host.user === null ? '' : `${host.user}@`}${host.address}${host.port === null ? '' : `:${host.port}`}`;
}

function render(rows: readonly HostRow[]): string {
  return table(
    ['NAME', 'ADDRESS', 'REACHABLE', 'ENGINE', 'CONTAINERS', 'LATENCY', 'ERROR'],
    rows.map((row) => [
      row.name,
      row.address,
      row.reachable ? 'yes' : 'no',
      row.engineVersion ?? '-',
      row.containers ? `${row.containers.owned}/${row.containers.total}` : '-',
      row.latencyMs === null ? '-' : `${row.latencyMs} ms`,
      row.error ?? '',
    ]),
  );
}
