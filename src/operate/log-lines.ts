/**
 * Docker's log stream → lines. With `timestamps: true` every line starts with the engine's
 * RFC 3339 time; without a TTY the stream is multiplexed in frames of
 * `[stream, 0, 0, 0, size (4 bytes, big-endian)]` + payload. Pure: bytes in, lines out.
 */

export type LogStream = 'stdout' | 'stderr';

export type LogLine = {
  /** Sortable: the engine's time with its fraction padded to 9 digits (`2026-12-05T18:20:21.120000000Z`). */
  readonly time: string;
  readonly stream: LogStream;
  readonly text: string;
};

const HEADER = 8;
/** A container that writes without newlines still gets its output shown, and held in bounded memory. */
const MAX_LINE = 1 << 20;

/** Splits a byte stream into lines of one stream kind, keeping a partial line until its end comes. */
class LineBuffer {
  private rest = '';
  /** A piece of a line cut at MAX_LINE has no time of its own: it keeps its line's. */
  private lastTime = '';
  constructor(private readonly stream: LogStream) {}

  push(text: string): LogLine[] {
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    if (this.rest.length > MAX_LINE) parts.push(this.rest.slice(0, MAX_LINE));
    if (this.rest.length > MAX_LINE) this.rest = this.rest.slice(MAX_LINE);
    return parts.map((part) => this.line(part));
  }

  private line(raw: string): LogLine {
    const line = toLine(raw, this.stream, this.lastTime);
    this.lastTime = line.time;
    return line;
  }

  end(): LogLine[] {
    const last = this.rest;
    this.rest = '';
    return last === '' ? [] : [this.line(last)];
  }
}

/** Reads Docker's log stream, multiplexed or raw (a TTY container), as lines in the order sent. */
export async function* logLines(
  chunks: AsyncIterable<Buffer | string>,
  tty: boolean,
): AsyncGenerator<LogLine> {
  const stdout = new LineBuffer('stdout');
  const stderr = new LineBuffer('stderr');
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (tty) {
      yield* stdout.push(bytes.toString('utf8'));
      continue;
    }
    pending = pending.length === 0 ? bytes : Buffer.concat([pending, bytes]);
    while (pending.length >= HEADER) {
      const size = pending.readUInt32BE(4);
      if (pending.length < HEADER + size) break;
      const payload = pending.subarray(HEADER, HEADER + size).toString('utf8');
      yield* (pending[0] === 2 ? stderr : stdout).push(payload);
      pending = pending.subarray(HEADER + size);
    }
  }
  yield* stdout.end();
  yield* stderr.end();
}

function toLine(raw: string, stream: LogStream, lastTime: string): LogLine {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const space = line.indexOf(' ');
  const time = space > 0 ? sortableTime(line.slice(0, space)) : null;
  if (time === null) return { time: lastTime, stream, text: line };
  return { time, stream, text: line.slice(space + 1) };
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/** The engine's RFC 3339 UTC time with its fraction at 9 digits, so that string order is time order; null if it is none. */
export function sortableTime(stamp: string): string | null {
  const match = RFC3339.exec(stamp);
  if (!match) return null;
  return `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}Z`;
}
