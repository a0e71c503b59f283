import { Command } from 'commander';
import type { ObservedContainer } from '../../planner/observed.js';
import { observingCommand } from '../fleet-options.js';
import { table } from '../table.js';

/** One row of `heal ps --json`: a documented contract. */
export type PsRow = {
  service: string | null;
  slot: number | null;
  host: string;
  id: string;
  name: string;
  image: string;
  state: string;
  health: string;
  exitCode: number | null;
  startedAt: string | null;
  configHash: string | null;
};

export function psCommand(): Command {
  return observingCommand(
    new Command('ps').description("list the stack's containers on every host, like docker service ps"),
    (_stack, observed) => observed.hosts.flatMap((host) => host.containers.map(toRow)).sort(byServiceSlot),
    render,
    'its containers are not listed',
  );
}

function toRow(container: ObservedContainer): PsRow {
  return {
    service: container.service,
    slot: container.slot,
    host: container.host,
    id: container.id.slice(0, 12),
    name: container.name,
    image: container.image,
    state: container.state,
    health: container.health,
    exitCode: container.exitCode,
    startedAt: container.startedAt === null ? null : new Date(container.startedAt).toISOString(),
    configHash: container.configHash,
  };
}

function byServiceSlot(a: PsRow, b: PsRow): number {
  return (
    (a.service ?? '').localeCompare(b.service ?? '') ||
    (a.slot ?? 0) - (b.slot ?? 0) ||
    a.host.localeCompare(b.host)
  );
}

function render(rows: readonly PsRow[]): string {
  return table(
    ['SERVICE', 'SLOT', 'HOST', 'ID', 'IMAGE', 'STATE', 'HEALTH'],
    rows.map((row) => [
      row.service ?? '?',
      String(row.slot ?? '?'),
      row.host,
      row.id,
      row.image,
      row.state,
      row.health,
    ]),
  );
}
