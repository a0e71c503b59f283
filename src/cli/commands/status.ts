import { Command } from 'commander';
import { statusRows, type StatusRow } from '../../planner/status.js';
import { observingCommand } from '../fleet-options.js';
import { autoscaleStatusLines } from '../render-autoscale.js';
import { table } from '../table.js';

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

function render(rows: readonly StatusRow[]): string {
  const autoscaled = autoscaleStatusLines(rows);
  return (
    renderTable(rows) + (autoscaled.length === 0 ? '' : `\n${autoscaled.map((line) => `${line}\n`).join('')}`)
  );
}

function renderTable(rows: readonly StatusRow[]): string {
  return table(
    ['SERVICE', 'MODE', 'REPLICAS', 'HEALTHY', 'DIRTY', 'HOSTS', 'IMAGE', 'ROLLOUT'],
    rows.map((row) => [
      row.service,
      row.mode,
      // A one-off job that finished is done, not down: `0/1 (1 done)`.
      `${row.running}/${row.desired ?? 'global'}${row.completed > 0 ? ` (${row.completed} done)` : ''}`,
      String(row.healthy),
      String(row.dirty),
      Object.entries(row.hosts)
        .sort()
        .map(([host, count]) => `${host}:${count}`)
        .join(' ') || '-',
      row.image,
      // The spec's image is not what runs while its config is rolled back or paused.
      row.rollout ? `${row.rollout.state}: ${row.rollout.reason}` : '-',
    ]),
  );
}
