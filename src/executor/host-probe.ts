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
  return `cat /proc/meminfo && echo --- && df -P -k -- ${root} && echo --- && df -P -i -- ${root}`;
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

/** Reads the probe's output: MemAvailable and MemTotal (kB), then `df -P -k` and `df -P -i` rows. */
export function parseProbe(text: string, dataRoot: string): HostProbe {
  const [meminfo = '', space = '', inodes = ''] = text.split(/^---$/m);
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
  const errors: string[] = [];
  if (available === null || total === null) errors.push('no MemAvailable in /proc/meminfo');
  if (blocks === null || files === null) errors.push(`df of ${dataRoot} unreadable`);
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
    error: errors.length === 0 ? null : errors.join('; '),
  };
}
