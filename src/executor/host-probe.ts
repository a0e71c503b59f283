import { execFile } from 'node:child_process';
import type { ClientChannel } from 'ssh2';
import type { HostProbe } from '../planner/observed.js';
import { shellQuote } from './ssh/forward.js';

/**
 * The one command heal runs on a host besides the Engine API: read-only, fixed, with only the
 * engine's own data root (`docker info` DockerRootDir) in it, quoted; never a string of the spec.
 */
export function probeCommand(dataRoot: string): string {
  const root = shellQuote(dataRoot);
  return [
    'cat /proc/meminfo',
    `df -P -k -- ${root}`,
    `df -P -i -- ${root}`,
    'cat /proc/sys/kernel/pid_max /proc/sys/kernel/threads-max /proc/loadavg',
    'date +%s%N',
  ].join(' && echo --- && ');
}

/** Runs the probe over an SSH exec channel, bounded by `timeoutMs`. */
export function execOverSsh(open: Promise<ClientChannel>, timeoutMs: number): Promise<string> {
  return bounded(
    open.then(
      (channel) =>
        new Promise<string>((resolve, reject) => {
          let out = '';
          let err = '';
          channel.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
          channel.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
          channel.on('close', (code: number | null) =>
            code === 0 ? resolve(out) : reject(new Error(`exit ${code ?? '?'}: ${err.trim().slice(0, 200)}`)),
          );
        }),
    ),
    timeoutMs,
  );
}

/** Runs the probe on this machine, for a local engine (unix://). */
export function execLocally(command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: timeoutMs }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${error.message.split('\n')[0]}: ${stderr.trim().slice(0, 200)}`))
        : resolve(stdout),
    );
  });
}

function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** When heal sent the probe and when its answer was back (epoch ms, heal's clock). */
export type ProbeTiming = { readonly sent: number; readonly received: number };

/**
 * Reads the probe's output: MemAvailable and MemTotal (kB), `df -P -k` and `df -P -i` rows, the
 * PID limits and /proc/loadavg, then the host's `date +%s%N`, compared with heal's clock at the
 * middle of the round trip (`timing`; without it the clock is not read).
 */
export function parseProbe(text: string, dataRoot: string, timing?: ProbeTiming): HostProbe {
  const [meminfo = '', space = '', inodes = '', limits = '', date = ''] = text.split(/^---$/m);
  const kb = (key: string): number | null => {
    const match = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(meminfo);
    return match ? Number(match[1]) * 1024 : null;
  };
  const available = kb('MemAvailable');
  const total = kb('MemTotal');
  const row = (block: string): number[] | null => {
    // The last line is the filesystem's; a long device name may wrap it onto two lines.
    const lines = block.trim().split('\n').slice(1).join(' ').trim().split(/\s+/);
    const numbers = lines.slice(1, 4).map(Number);
    return numbers.length === 3 && numbers.every(Number.isFinite) ? numbers : null;
  };
  const blocks = row(space);
  const files = row(inodes);
  const pids = parsePids(limits);
  const clock = timing ? parseClock(date, timing) : null;
  const errors: string[] = [];
  if (available === null || total === null) errors.push('no MemAvailable in /proc/meminfo');
  if (blocks === null || files === null) errors.push(`df of ${dataRoot} unreadable`);
  if (pids === null) errors.push('pid_max, threads-max or /proc/loadavg unreadable');
  if (timing && clock === null) errors.push(`date unreadable: ${JSON.stringify(date.trim().slice(0, 40))}`);
  return {
    memory: available === null || total === null ? null : { available, total },
    disk:
      blocks === null || files === null
        ? null
        : {
            path: dataRoot,
            total: blocks[0]! * 1024,
            available: blocks[2]! * 1024,
            inodes: files[0]!,
            inodesFree: files[2]!,
          },
    pids,
    clock,
    error: errors.length === 0 ? null : errors.join('; '),
  };
}

/**
 * `pid_max`, `threads-max`, then /proc/loadavg, whose 4th field is `running/total` tasks: a
 * thread takes a PID too, so the limit is the lower of the two, as the kubelet reads it.
 */
export function parsePids(block: string): { running: number; max: number } | null {
  const [pidMax, threadsMax, loadavg = ''] = block.trim().split('\n');
  const tasks = /^\S+ \S+ \S+ \d+\/(\d+) /.exec(loadavg.trim() + ' ');
  const max = Math.min(Number(pidMax), Number(threadsMax));
  if (!tasks || !Number.isInteger(max) || max <= 0) return null;
  return { running: Number(tasks[1]), max };
}

/**
 * The host's `date +%s%N` less heal's clock at the middle of the round trip. A `date` without
 * %N (busybox) prints whole seconds: the reading then counts a second more of uncertainty.
 */
export function parseClock(text: string, timing: ProbeTiming): { offset: number; roundTrip: number } | null {
  const digits = /^(\d{9,})/.exec(text.trim())?.[1];
  if (digits === undefined) return null;
  const nanos = digits.length >= 18;
  const hostMs = nanos
    ? Number(digits.slice(0, -6)) + Number(digits.slice(-6)) / 1e6
    : Number(digits) * 1000 + 500;
  const roundTrip = timing.received - timing.sent;
  const offset = hostMs - (timing.sent + timing.received) / 2;
  return { offset: Math.round(offset), roundTrip: roundTrip + (nanos ? 0 : 1000) };
}
