import type { ApplyEvent } from '../executor/apply.js';
import type { RolloutResult } from '../executor/rollout-guard.js';
import type { Action, Plan } from '../planner/plan-types.js';
import { describe, type Paint } from './render-plan.js';

type Stream = { write(text: string): unknown; isTTY?: boolean };

/**
 * What apply shows while it runs. On a terminal, a live view: one line per host with the action in
 * flight and its counts, redrawn in place. Elsewhere (a log, CI), one plain line per event.
 */
export function progress(stream: Stream, paint: Paint, plan: Plan): (event: ApplyEvent) => void {
  const show = stream.isTTY ? live(stream, paint) : plain(stream, paint);
  const rollouts = rolloutProgress(plan);
  return (event) => {
    if (event.type === 'rollout') return void stream.write(`${rolloutLine(event.rollout, paint)}\n`);
    if (event.type === 'warning') return void stream.write(`${paint.bold(`  warning: ${event.message}`)}\n`);
    if (event.type === 'monitor') {
      for (const line of rollouts.flush()) stream.write(`${paint.bold(line)}\n`);
      return void stream.write(`${paint.bold(monitorLine(event))}\n`);
    }
    if (event.type === 'phase') for (const line of rollouts.flush()) stream.write(`${paint.bold(line)}\n`);
    show(event);
    if (event.type === 'done') rollouts.done(event.action);
  };
}

/** Per rollout, `web: 6 of 12 slots updated and healthy`, said once per batch. */
function rolloutProgress(plan: Plan): { done(action: Action): void; flush(): string[] } {
  const counts = new Map(
    plan.rollouts.map((rollout) => [rollout.service, { total: rollout.slots, done: 0, said: 0 }]),
  );
  return {
    done(action) {
      if (action.kind !== 'replace' || !action.update) return;
      const count = counts.get(action.service);
      if (count) count.done += 1;
    },
    flush() {
      return [...counts].flatMap(([service, count]) => {
        if (count.done === count.said) return [];
        count.said = count.done;
        return [`  ${service}: ${count.done} of ${count.total} slots updated and healthy`];
      });
    },
  };
}

/** `watching web for 5.0s (update_config.monitor 5s)`: apply waits on the last batch's window. */
function monitorLine(event: Extract<ApplyEvent, { type: 'monitor' }>): string {
  const left = Math.max(0, event.until - Date.now());
  return `  watching ${event.service} for ${seconds(left)} (update_config.monitor ${event.monitor / 1000}s): a new container that exits or turns unhealthy by then fails the rollout`;
}

export function rolloutLine(rollout: RolloutResult, paint: Paint): string {
  const what = rollout.kind === 'rollback' ? 'rollback' : 'rollout';
  switch (rollout.result) {
    case 'done':
      return paint.add(
        `${rollout.service}: ${what} done, ${rollout.updated} of ${rollout.slots} slots updated`,
      );
    case 'incomplete':
      return paint.remove(
        `${rollout.service}: ${what} incomplete: ${rollout.updated} of ${rollout.slots} slots updated${rollout.reason ? ` (${rollout.reason})` : ''}`,
      );
    case 'continued':
      return paint.change(`${rollout.service}: ${what} goes on (failure_action continue): ${rollout.reason}`);
    case 'paused':
      return paint.remove(
        `${rollout.service}: ${what} paused: ${rollout.reason}; it stays paused until the spec changes (heal rollback ${rollout.service} returns to the previous config)`,
      );
    case 'rolled-back':
      return paint.remove(`${rollout.service}: ${what} failed, rolling back: ${rollout.reason}`);
    case 'failed':
      return paint.remove(`${rollout.service}: ${what} failed: ${rollout.reason}`);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

type ActionEvent = Exclude<ApplyEvent, { type: 'rollout' | 'monitor' | 'warning' }>;

function plain(stream: Stream, paint: Paint): (event: ActionEvent) => void {
  return (event) => {
    if (event.type === 'phase') {
      const wait = event.delayBefore > 0 ? ` after ${seconds(event.delayBefore)}` : '';
      stream.write(paint.bold(`phase ${event.index} ${event.label}: ${event.count} action(s)${wait}\n`));
      return;
    }
    if (event.type === 'output')
      return void stream.write(
        paint.dim(
          `  ${event.action.host.padEnd(8)} ${(event.action.service ?? '').padEnd(14)} | ${event.line}\n`,
        ),
      );
    const what = `${event.action.host.padEnd(8)} ${event.action.kind.padEnd(14)} ${describe(event.action)}`;
    if (event.type === 'start') return void stream.write(paint.dim(`  ${what} ...\n`));
    if (event.type === 'done')
      return void stream.write(`  ${what} ${paint.add('done')} ${seconds(event.ms)}\n`);
    if (event.type === 'failed')
      return void stream.write(`  ${what} ${paint.remove('FAILED')} ${seconds(event.ms)}: ${event.error}\n`);
    stream.write(`  ${what} ${paint.change('skipped')}: ${event.why}\n`);
  };
}

/** `output`: the last line a running action printed (a build's step), shown beside it. */
type HostLine = { running: Set<string>; done: number; failed: number; skipped: number; output: string };

function live(stream: Stream, paint: Paint): (event: ActionEvent) => void {
  let hosts = new Map<string, HostLine>();
  let drawn = 0;
  const draw = (): void => {
    if (drawn > 0) stream.write(`\u001b[${drawn}A`);
    const names = [...hosts.keys()].sort();
    for (const name of names) {
      const line = hosts.get(name)!;
      const counts = `${paint.add(`${line.done} done`)}${line.failed ? ` ${paint.remove(`${line.failed} failed`)}` : ''}${line.skipped ? ` ${paint.change(`${line.skipped} skipped`)}` : ''}`;
      const now =
        line.running.size > 0
          ? paint.dim(`${[...line.running].join(', ')}${line.output ? `: ${line.output.slice(0, 60)}` : ''}`)
          : '';
      stream.write(`\u001b[2K  ${name.padEnd(8)} ${counts}  ${now}\n`);
    }
    drawn = names.length;
  };
  const lineOf = (host: string): HostLine => {
    const found = hosts.get(host) ?? {
      running: new Set<string>(),
      done: 0,
      failed: 0,
      skipped: 0,
      output: '',
    };
    hosts.set(host, found);
    return found;
  };
  return (event) => {
    if (event.type === 'phase') {
      hosts = new Map();
      drawn = 0;
      stream.write(
        paint.bold(
          `phase ${event.index} ${event.label}: ${event.count} action(s)${event.delayBefore > 0 ? ` after ${seconds(event.delayBefore)}` : ''}\n`,
        ),
      );
      return;
    }
    const line = lineOf(event.action.host);
    if (event.type === 'output') {
      line.output = event.line;
      return draw();
    }
    line.output = '';
    const label = describe(event.action);
    if (event.type === 'start') line.running.add(label);
    else line.running.delete(label);
    if (event.type === 'done') line.done += 1;
    if (event.type === 'failed') {
      line.failed += 1;
      draw();
      stream.write(`\u001b[2K  ${paint.remove('FAILED')} ${event.action.host} ${label}: ${event.error}\n`);
      drawn = 0;
      return;
    }
    if (event.type === 'skipped') line.skipped += 1;
    draw();
  };
}
