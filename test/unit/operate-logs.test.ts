import { describe, expect, it } from 'vitest';
import { logLines, sortableTime, type LogLine } from '../../src/operate/log-lines.js';
import { untilIdle } from '../../src/operate/idle.js';
import { LiveMerge, mergeInTime } from '../../src/operate/log-merge.js';

/** One frame of Docker's multiplexed stream: 1 stdout, 2 stderr. */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

async function* chunks(...parts: (Buffer | string)[]): AsyncGenerator<Buffer | string> {
  for (const part of parts) yield part;
}

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe('logLines', () => {
  it('demultiplexes frames into stdout and stderr lines, with a frame cut anywhere', async () => {
    const bytes = Buffer.concat([
      frame(1, '2026-12-05T18:00:00.5Z one\n'),
      frame(2, '2026-12-05T18:00:01.123456789Z two\n'),
      frame(1, '2026-12-05T18:00:02Z three\n'),
    ]);
    // Cut in the middle of a header and of a payload: frames are reassembled.
    const lines = await all(
      logLines(chunks(bytes.subarray(0, 5), bytes.subarray(5, 40), bytes.subarray(40)), false),
    );
    expect(lines).toEqual([
      { time: '2026-12-05T18:00:00.500000000Z', stream: 'stdout', text: 'one' },
      { time: '2026-12-05T18:00:01.123456789Z', stream: 'stderr', text: 'two' },
      { time: '2026-12-05T18:00:02.000000000Z', stream: 'stdout', text: 'three' },
    ]);
  });

  it('joins a line split over frames, and keeps a last line without a newline', async () => {
    const lines = await all(
      logLines(chunks(frame(1, '2026-12-05T18:00:00Z hel'), frame(1, 'lo\n2026-12-05T18:00:01Z end')), false),
    );
    expect(lines.map((line) => line.text)).toEqual(['hello', 'end']);
  });

  it('reads a TTY container raw: one stream, carriage returns dropped', async () => {
    const lines = await all(logLines(chunks('2026-12-05T18:00:00Z a\r\n2026-12-05T18:00:01Z b\r\n'), true));
    expect(lines).toEqual([
      { time: '2026-12-05T18:00:00.000000000Z', stream: 'stdout', text: 'a' },
      { time: '2026-12-05T18:00:01.000000000Z', stream: 'stdout', text: 'b' },
    ]);
  });

  it('cuts a line that never ends at 1 MiB, each piece keeping the time of its line', async () => {
    const long = 'x'.repeat((1 << 20) + 10);
    const lines = await all(logLines(chunks(`2026-12-05T18:00:00Z ${long}`, '\n'), true));
    expect(lines.length).toBe(2);
    expect(lines.every((line) => line.time === '2026-12-05T18:00:00.000000000Z')).toBe(true);
    expect(lines.map((line) => line.text).join('')).toBe(long);
  });

  it('orders times as strings once the fraction is padded', () => {
    expect(sortableTime('2026-12-05T18:00:00.9Z')! > sortableTime('2026-12-05T18:00:00.10Z')!).toBe(true);
    expect(sortableTime('not a time')).toBeNull();
  });
});

const at = (second: number, text: string): LogLine => ({
  time: `2026-12-05T18:00:${String(second).padStart(2, '0')}.000000000Z`,
  stream: 'stdout',
  text,
});

describe('mergeInTime', () => {
  it('merges sources that are each in order into one order, ties in source order', async () => {
    const merged = await all(
      mergeInTime([
        chunksOf(at(1, 'a1'), at(4, 'a4')),
        chunksOf(at(2, 'b2'), at(4, 'b4')),
        chunksOf(at(3, 'c3')),
      ]),
    );
    expect(merged.map((line) => line.text)).toEqual(['a1', 'b2', 'c3', 'a4', 'b4']);
  });

  it('reads one line ahead per source, not the whole source', async () => {
    let pulled = 0;
    async function* counted(): AsyncGenerator<LogLine> {
      for (let second = 0; second < 50; second += 1) {
        pulled += 1;
        yield at(second, `a${second}`);
      }
    }
    const first = await mergeInTime([counted(), chunksOf(at(59, 'b'))]).next();
    expect(first.value?.text).toBe('a0');
    expect(pulled).toBeLessThanOrEqual(2);
  });
});

async function* chunksOf(...lines: LogLine[]): AsyncGenerator<LogLine> {
  for (const line of lines) yield line;
}

describe('LiveMerge', () => {
  it('holds each line for the lag, then lets lines out in time order', () => {
    const merge = new LiveMerge<LogLine>(300, 100);
    merge.add(at(5, 'late host'), 1000);
    merge.add(at(4, 'early host'), 1100);
    expect(merge.due(1200)).toEqual([]);
    expect(merge.due(1300).map((line) => line.text)).toEqual(['late host']);
    expect(merge.due(1400).map((line) => line.text)).toEqual(['early host']);
    merge.add(at(7, 'b'), 2000);
    merge.add(at(6, 'a'), 2000);
    expect(merge.due(2300).map((line) => line.text)).toEqual(['a', 'b']);
  });

  it('never holds more than its limit: the oldest leave at once', () => {
    const merge = new LiveMerge<LogLine>(300, 2);
    for (const second of [3, 1, 2, 4]) merge.add(at(second, `s${second}`), 1000);
    expect(merge.due(1000).map((line) => line.text)).toEqual(['s1', 's2']);
    expect(merge.flush().map((line) => line.text)).toEqual(['s3', 's4']);
  });
});

describe('untilIdle', () => {
  /** Two values, then a read that never settles until `release` (a frozen host). */
  function stalls(): { source: AsyncIterable<number>; release: () => void } {
    let release = (): void => undefined;
    const source = (async function* () {
      yield 1;
      yield 2;
      await new Promise<void>((resolve) => (release = resolve));
    })();
    return { source, release: () => release() };
  }

  it('ends a source whose pending read stays silent past the deadline, and says so once', async () => {
    const { source, release } = stalls();
    let idle = 0;
    const got = await all(
      untilIdle(
        source,
        50,
        () => (idle += 1),
        () => undefined,
      ),
    );
    expect(got).toEqual([1, 2]);
    expect(idle).toBe(1);
    release();
  });

  it('does not count time nobody reads: a slow reader is no silent host', async () => {
    const source = (async function* () {
      yield 1;
      yield 2;
    })();
    let idle = 0;
    const got: number[] = [];
    for await (const value of untilIdle(
      source,
      30,
      () => (idle += 1),
      () => undefined,
    )) {
      got.push(value);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(got).toEqual([1, 2]);
    expect(idle).toBe(0);
  });

  it("ends on the source's error, passing it on, so the other sources go on in a merge", async () => {
    const failing = (async function* () {
      yield { time: 'a' };
      throw new Error('channel closed');
    })();
    const fine = (async function* () {
      yield { time: 'b' };
      yield { time: 'c' };
    })();
    const errors: string[] = [];
    const merged = mergeInTime([
      untilIdle(
        failing,
        1000,
        () => undefined,
        (error) => errors.push((error as Error).message),
      ),
      fine,
    ]);
    expect((await all(merged)).map((line) => line.time)).toEqual(['a', 'b', 'c']);
    expect(errors).toEqual(['channel closed']);
  });
});
