import { Command } from 'commander';
import { observe } from '../../executor/observe.js';
import type { Host } from '../../spec/types.js';
import { fleetFromOptions, withFleetOptions, type FleetCliOptions } from '../fleet-options.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';
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
  return withFleetOptions(withSpecOptions(new Command('hosts')))
    .description('list the hosts with their reachability and engine, like docker node ls')
    .option('--json', 'print a JSON array')
    .action(async (options: SpecOptions & FleetCliOptions & { json?: boolean }) => {
      const stack = await loadFromOptions(options);
      const fleet = fleetFromOptions(stack, options);
      try {
        const observed = await observe(stack, fleet.reach, Date.now);
        const rows = await Promise.all(
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
        );
        process.stdout.write(options.json ? `${JSON.stringify(rows, null, 2)}\n` : render(rows));
        if (rows.some((row) => !row.reachable)) process.exitCode = 1;
      } finally {
        await fleet.close();
      }
    });
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
