import type { ApplyEvent } from '../executor/apply.js';
import { describe, type Paint } from './render-plan.js';

type Stream = { write(text: string): unknown; isTTY?: boolean };

/**
 * What apply shows while it runs. On a terminal, a live view: one line per host with the action in
 * flight and its counts, redrawn in place. Elsewhere (a log, CI), one plain line per event.
 */
export function progress(stream: Stream, paint: Paint): (event: ApplyEvent) => void {
  return stream.isTTY ? live(stream, paint) : plain(stream, paint);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function plain(stream: Stream, paint: Paint): (event: ApplyEvent) => void {
  return (event) => {
    if (event.type === 'phase') {
      const wait = event.delayBefore > 0 ? ` after ${seconds(event.delayBefore)}` : '';
      stream.write(paint.bold(`phase ${event.index} ${event.label}: ${event.count} action(s)${wait}\n`));
      return;
    }
    const what = `${event.action.host.padEnd(8)} ${event.action.kind.padEnd(14)} ${describe(event.action)}`;
    if (event.type === 'start') return void stream.write(paint.dim(`  ${what} ...\n`));
    if (event.type === 'done')
      return void stream.write(`  ${what} ${paint.add('done')} ${seconds(event.ms)}\n`);
    if (event.type === 'failed')
      return void stream.write(`  ${what} ${paint.remove('FAILED')} ${seconds(event.ms)}: ${event.error}\n`);
    stream.write(`  ${what} ${paint.change('skipped')}: ${event.why}\n`);
  };
}

type HostLine = { running: Set<string>; done: number; failed: number; skipped: number };

function live(stream: Stream, paint: Paint): (event: ApplyEvent) => void {
  let hosts = new Map<string, HostLine>();
  let drawn = 0;
  const draw = (): void => {
    if (drawn > 0) stream.write(`\u001b[${drawn}A`);
    const names = [...hosts.keys()].sort();
    for (const name of names) {
      const line = hosts.get(name)!;
      const counts = `${paint.add(`${line.done} done`)}${line.failed ? ` ${paint.remove(`${line.failed} failed`)}` : ''}${line.skipped ? ` ${paint.change(`${line.skipped} skipped`)}` : ''}`;
      const now = line.running.size > 0 ? paint.dim([...line.running].join(', ')) : '';
      stream.write(`\u001b[2K  ${name.padEnd(8)} ${counts}  ${now}\n`);
    }
    drawn = names.length;
  };
  const lineOf = (host: string): HostLine => {
    const found = hosts.get(host) ?? { running: new Set<string>(), done: 0, failed: 0, skipped: 0 };
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
