import { Command } from 'commander';
import { setAvailability } from '../../executor/availability-marks.js';
import { standings } from '../../planner/availability.js';
import { readConditions, readEngineSlow, type EngineSample } from '../../planner/conditions.js';
import { parseDuration } from '../../spec/syntax/duration.js';
import type { Availability, Host } from '../../spec/types.js';
import { UsageError } from '../errors.js';
import {
  fleetFromOptions,
  observingCommand,
  withFleetOptions,
  type FleetCliOptions,
} from '../fleet-options.js';
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
  /** active, pause or drain: the strictest of the spec's, the operator's mark and the conditions. */
  availability: Availability;
  /** Why not active; null when active. */
  availabilityReason: string | null;
  /** Conditions the host shows now (MemoryPressure, DiskPressure, PIDPressure, ClockSkew, Dying), with their numbers. */
  conditions: { type: string; message: string }[];
};

export function hostsCommand(): Command {
  return listCommand()
    .addCommand(
      availabilityCommand('drain', 'move its replicas to the other hosts, start-first, then keep it empty'),
    )
    .addCommand(availabilityCommand('pause', 'place nothing new on it; what runs there stays'))
    .addCommand(
      availabilityCommand('activate', 'let it take work again (the spec may still pause or drain it)'),
    );
}

function listCommand(): Command {
  return observingCommand(
    new Command('hosts').description(
      'list the hosts with their reachability and engine, like docker node ls',
    ),
    (stack, observed, fleet) => {
      const now = Date.now();
      const conditions = stack.heal.conditions;
      const standing = standings(observed.hosts, {}, conditions, now);
      return Promise.all(
        observed.hosts.map(async (host): Promise<HostRow> => {
          const reached = await fleet.reach(host.host);
          const pings =
            host.reachable && 'client' in reached && conditions
              ? await samplePings(reached.client, conditions.engineSlow)
              : [];
          const latencyMs =
            host.reachable && 'client' in reached
              ? conditions
                ? (pings[0]?.ms ?? null)
                : await reached.client.ping().catch(() => null)
              : null;
          const slow = conditions ? readEngineSlow(pings, Date.now(), conditions.engineSlow) : null;
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
            error: host.error ?? host.probe?.error ?? null,
            availability: standing.get(host.name)?.availability ?? 'active',
            availabilityReason: standing.get(host.name)?.reason ?? null,
            conditions: [
              ...(conditions ? readConditions(host.probe, conditions) : []),
              ...(slow ? [slow] : []),
            ],
          };
        }),
      );
    },
    render,
    null,
  );
}

/**
 * EngineSlow from this command alone: `readings` pings one after the other, each given at most
 * `latency` (one that takes longer is slow already), so a slow engine costs readings × latency.
 */
async function samplePings(
  client: { ping(timeoutMs?: number): Promise<number> },
  config: { latency: number; readings: number },
): Promise<EngineSample[]> {
  const samples: EngineSample[] = [];
  for (let index = 0; index < config.readings; index += 1) {
    const ms = await client.ping(config.latency + 1).catch(() => null);
    samples.push({ at: Date.now(), ms });
  }
  return samples;
}

export function addressOf(host: Host): string {
  if (host.kind === 'docker') return host.url;
  return `${host.user === null ? '' : `${host.user}@`}${host.address}${host.port === null ? '' : `:${host.port}`}`;
}

function render(rows: readonly HostRow[]): string {
  return table(
    [
      'NAME',
      'ADDRESS',
      'REACHABLE',
      'AVAILABILITY',
      'CONDITIONS',
      'ENGINE',
      'CONTAINERS',
      'LATENCY',
      'ERROR',
    ],
    rows.map((row) => [
      row.name,
      row.address,
      row.reachable ? 'yes' : 'no',
      row.availability,
      row.conditions.map((item) => item.type).join(',') || '-',
      row.engineVersion ?? '-',
      row.containers ? `${row.containers.owned}/${row.containers.total}` : '-',
      row.latencyMs === null ? '-' : `${row.latencyMs} ms`,
      row.error ?? '',
    ]),
  );
}

type AvailabilityOptions = SpecOptions & FleetCliOptions & { deadline?: string };

/**
 * `heal hosts drain|pause|activate NAME`, Swarm's `docker node update --availability`: recorded
 * on the host for this stack; the next reconcile (heal watch, or heal apply) acts on it.
 */
function availabilityCommand(verb: 'drain' | 'pause' | 'activate', description: string): Command {
  const command = withFleetOptions(withSpecOptions(new Command(verb)))
    .description(description)
    .argument('<host>', 'a host of x-heal.hosts');
  if (verb === 'drain')
    command.option('--deadline <duration>', 'after this long, what is left moves stop-first', '1h');
  return command.exitOverride().action(async (name: string, options: AvailabilityOptions) => {
    const stack = await loadFromOptions(options);
    const host = stack.heal.hosts[name];
    if (!host) throw new UsageError(`${name} is not a host of ${stack.file} (x-heal.hosts)`);
    const now = Date.now();
    let deadline: number | null = null;
    if (verb === 'drain') {
      const parsed = parseDuration(options.deadline ?? '1h');
      if ('error' in parsed) throw new UsageError(`--deadline: ${parsed.error}`);
      deadline = now + parsed.value;
    }
    const availability: Availability = verb === 'activate' ? 'active' : verb;
    const fleet = fleetFromOptions(stack, options);
    try {
      await setAvailability(stack, host, fleet.reach, availability, { now, deadline });
    } finally {
      await fleet.close();
    }
    const spec = host.availability ?? 'active';
    process.stdout.write(`${name}: ${availability} (recorded on the host for stack ${stack.name})\n`);
    if (spec !== 'active')
      process.stderr.write(`warning: ${stack.file} still says availability: ${spec} for ${name}\n`);
  });
}
