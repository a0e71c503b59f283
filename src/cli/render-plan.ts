import { autoscaleLines } from './render-autoscale.js';
import { diffLines } from 'diff';
import { stringify } from 'yaml';
import type { Action, Plan, Rollout } from '../planner/plan-types.js';
import { shortHash } from '../planner/rollout.js';

export type Paint = {
  readonly add: (text: string) => string;
  readonly remove: (text: string) => string;
  readonly change: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly bold: (text: string) => string;
};

const ansi = (code: number) => (text: string) => `\u001b[${code}m${text}\u001b[0m`;
export const COLOR: Paint = {
  add: ansi(32),
  remove: ansi(31),
  change: ansi(33),
  dim: ansi(2),
  bold: ansi(1),
};
export const PLAIN: Paint = {
  add: (t) => t,
  remove: (t) => t,
  change: (t) => t,
  dim: (t) => t,
  bold: (t) => t,
};

/** Colour on a terminal, unless NO_COLOR says otherwise. */
export function paintFor(stream: { isTTY?: boolean }): Paint {
  return stream.isTTY && !process.env.NO_COLOR ? COLOR : PLAIN;
}

const SYMBOL: Record<Action['kind'], string> = {
  'create-network': '+',
  'create-volume': '+',
  pull: '↓',
  build: '⚒',
  'copy-image': '→',
  create: '+',
  start: '▶',
  unpause: '▶',
  replace: '~',
  remove: '-',
  'remove-network': '-',
  'remove-volume': '-',
  'create-proxy': '+',
  'remove-proxy': '-',
  'mesh-sync': '≈',
};

/** `rolling update to v1:…: 12 slots in 4 batches of 3, 10s apart, stop-first, on failure rollback`. */
export function rolloutHeader(rollout: Rollout): string {
  const what = rollout.kind === 'rollback' ? 'rollback' : 'rolling update';
  const size = rollout.parallelism === 0 ? 'all at once' : `of ${rollout.parallelism}`;
  const apart = rollout.delay > 0 ? `, ${rollout.delay / 1000}s apart` : '';
  const ratio = rollout.maxFailureRatio > 0 ? ` past a failure ratio of ${rollout.maxFailureRatio}` : '';
  return `${what} to ${shortHash(rollout.to)}: ${rollout.slots} slot(s) in ${rollout.batches} batch(es) ${size}${apart}, ${rollout.order}, on failure${ratio} ${rollout.failureAction}, monitor ${rollout.monitor / 1000}s`;
}

/** Terraform-style: grouped by service, then host, each line a symbol, what, where, and why. */
export function renderPlan(plan: Plan, paint: Paint): string {
  const out: string[] = [];
  if (plan.refused) return `${paint.remove('Refused:')} ${plan.refused}\n`;
  for (const warning of plan.warnings) out.push(paint.change(`! ${warning}`));
  for (const line of autoscaleLines(plan)) out.push(paint.change(line));
  for (const item of plan.standings ?? [])
    out.push(
      paint.change(
        `! ${item.host} is ${item.draining ? 'draining' : item.availability === 'drain' ? 'cordoned, waiting to drain' : 'cordoned'}: ${item.reason ?? ''}`,
      ),
    );
  const groups = new Map<string, Action[]>();
  for (const action of plan.actions) {
    const key = action.service ?? '(stack)';
    groups.set(key, [...(groups.get(key) ?? []), action]);
  }
  for (const [service, actions] of [...groups].sort(([a], [b]) =>
    a === '(stack)' ? -1 : b === '(stack)' ? 1 : a < b ? -1 : 1,
  )) {
    out.push('', paint.bold(service === '(stack)' ? `stack ${plan.stack}` : `service ${service}`));
    const rollout = plan.rollouts.find((item) => item.service === service);
    if (rollout) out.push(`  ${paint.change(rolloutHeader(rollout))}`);
    // A rollout reads batch by batch; anything else host by host.
    const byHost = (a: Action, b: Action): number => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0);
    const byPhase = (a: Action, b: Action): number => a.phase - b.phase;
    const order = rollout ? [byPhase, byHost] : [byHost, byPhase];
    for (const action of [...actions].sort((a, b) => order[0]!(a, b) || order[1]!(a, b))) {
      const batch = action.kind === 'replace' ? `${plan.phases[action.phase]?.label ?? ''}, ` : '';
      out.push(
        `  ${colour(action, paint)(`${SYMBOL[action.kind]} ${describe(action)}`)}  ${paint.dim(`${batch}on ${action.host}: ${action.reason}`)}`,
      );
      if (action.kind === 'replace')
        out.push(...renderChange(action.change.from, action.change.to, paint).map((line) => `      ${line}`));
    }
  }
  for (const item of plan.unplaced) out.push(paint.remove(`! ${item.service}.${item.slot}: ${item.reason}`));
  out.push('', summaryLine(plan, paint));
  if (plan.phases.length > 1)
    out.push(
      paint.dim(
        `phases: ${plan.phases.map((phase) => `${phase.index} ${phase.label}${phase.delayBefore > 0 ? ` (after ${phase.delayBefore / 1000}s)` : ''}`).join(', ')}`,
      ),
    );
  return `${out.join('\n').replace(/^\n/, '')}\n`;
}

export function hasChanges(plan: Plan): boolean {
  return plan.actions.length > 0;
}

function summaryLine(plan: Plan, paint: Paint): string {
  if (plan.actions.length === 0 && plan.unplaced.length === 0 && plan.held.length > 0)
    return paint.change(
      `No changes, but the hosts do not run the spec's config of ${plan.held.map((mark) => `${mark.service} (${mark.state})`).join(', ')}: change the spec to try again.`,
    );
  if (plan.actions.length === 0 && plan.unplaced.length === 0)
    return paint.add('No changes. The hosts match the spec.');
  const totals = { create: 0, replace: 0, remove: 0, start: 0 };
  for (const counts of Object.values(plan.summary)) {
    totals.create += counts.create;
    totals.replace += counts.replace;
    totals.remove += counts.remove;
    totals.start += counts.start;
  }
  const unplaced = plan.unplaced.length > 0 ? `, ${plan.unplaced.length} cannot be placed` : '';
  return `Plan: ${totals.create} to create, ${totals.replace} to replace, ${totals.start} to start, ${totals.remove} to remove${unplaced}${meshCounts(plan)}.`;
}

/** `; mesh: 3 proxies to create or replace, 1 proxy to sync`: the routing mesh's actions, when the plan has any. */
function meshCounts(plan: Plan): string {
  const count = (kind: Action['kind']): number =>
    plan.actions.filter((action) => action.kind === kind).length;
  const parts = [
    [count('create-proxy'), 'to create or replace'],
    [count('remove-proxy'), 'to remove'],
    [count('mesh-sync'), 'to sync'],
  ] as const;
  const shown = parts
    .filter(([n]) => n > 0)
    .map(([n, what]) => `${n} ${n === 1 ? 'proxy' : 'proxies'} ${what}`);
  return shown.length === 0 ? '' : `; mesh: ${shown.join(', ')}`;
}

export function describe(action: Action): string {
  switch (action.kind) {
    case 'create-network':
      return `network ${action.network}`;
    case 'create-volume':
      return `volume ${action.volume}`;
    case 'pull':
      return `pull ${action.image}`;
    case 'build':
      return `build ${action.service} ${action.image}${action.build.push ? ' (push)' : ''}`;
    case 'copy-image':
      return `copy ${action.image} from ${action.from}`;
    case 'create':
      return `${action.service}.${action.slot} ${action.create.query.name} (${action.create.body.Image})`;
    case 'start':
      return `${action.service}.${action.slot} start ${action.container.name}`;
    case 'unpause':
      return `${action.service}.${action.slot} unpause ${action.container.name}`;
    case 'replace':
      return `${action.service}.${action.slot} ${action.old.name} → ${action.create.query.name}${action.rename ? ` → ${action.rename}` : ''} (${action.order})`;
    case 'remove':
      return `${action.service ?? '?'}.${action.slot ?? '?'} ${action.container.name}`;
    case 'remove-network':
      return `network ${action.network}`;
    case 'remove-volume':
      return `volume ${action.volume}`;
    case 'create-proxy':
      return `${action.service} mesh proxy ${action.create.query.name} (${action.create.body.Image})${action.old ? ` replaces ${action.old.name}` : ''}`;
    case 'remove-proxy':
      return `${action.service ?? '?'} mesh proxy ${action.container.name}`;
    case 'mesh-sync':
      return `${action.service} mesh members: ${action.commands.map((command) => command.line).join(' | ')}`;
  }
}

function colour(action: Action, paint: Paint): (text: string) => string {
  if (
    action.kind === 'replace' ||
    action.kind === 'start' ||
    action.kind === 'unpause' ||
    action.kind === 'mesh-sync'
  )
    return paint.change;
  if (action.kind.startsWith('remove')) return paint.remove;
  return paint.add;
}

/** A line diff of the container config, old against new, as YAML. */
function renderChange(from: string | null, to: string, paint: Paint): string[] {
  if (from === null) return [paint.dim('(the old container does not record its config)')];
  const yaml = (json: string): string => stringify(JSON.parse(json) as unknown);
  const parts = diffLines(yaml(from), yaml(to));
  const lines: string[] = [];
  for (const part of parts) {
    if (!part.added && !part.removed) continue;
    for (const line of part.value.replace(/\n$/, '').split('\n'))
      lines.push(part.added ? paint.add(`+ ${line}`) : paint.remove(`- ${line}`));
  }
  return lines.length > 0 ? lines : [paint.dim('(same config; a secret or config file changed)')];
}
