import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, SECRET_MARK } from '../../src/watch/log.js';
import type { LoggerOptions } from '../../src/watch/log.js';

/** A stream that keeps what it is given; `isTTY` to pose as a terminal. */
function capture(isTTY = false): Writable & { text(): string; lines(): string[]; isTTY: boolean } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return Object.assign(stream, {
    isTTY,
    text: () => text,
    lines: () => text.split('\n').filter((line) => line !== ''),
  });
}

function jsonLogger(options: LoggerOptions = {}) {
  const stream = capture();
  const log = createLogger({ stream, pretty: false, ...options });
  const entries = (): Record<string, unknown>[] => stream.lines().map((line) => JSON.parse(line));
  return { log, stream, entries };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('createLogger: JSON lines', () => {
  it('writes one JSON object a line: level label, ISO time, bindings, fields, constant message', () => {
    const { log, entries } = jsonLogger();
    log.info({ stack: 'blog', outcome: 'converged', ms: 812 }, 'reconcile done');
    log.child({ stack: 'blog' }).child({ host: 'h1' }).warn({ service: 'web' }, 'host down');

    const [done, down] = entries();
    expect(done).toEqual({
      level: 'info',
      time: expect.stringMatching(ISO),
      stack: 'blog',
      outcome: 'converged',
      ms: 812,
      msg: 'reconcile done',
    });
    expect(down).toEqual({
      level: 'warn',
      time: expect.stringMatching(ISO),
      stack: 'blog',
      host: 'h1',
      service: 'web',
      msg: 'host down',
    });
  });

  it('is silent below its level (info by default) and says so for an unknown level', () => {
    const quiet = jsonLogger();
    quiet.log.debug({ n: 1 }, 'ssh connected');
    quiet.log.error({ n: 2 }, 'reconcile failed');
    expect(quiet.entries().map((entry) => [entry.level, entry.msg])).toEqual([['error', 'reconcile failed']]);

    const chatty = jsonLogger({ level: 'debug' });
    chatty.log.debug({ n: 1 }, 'ssh connected');
    expect(chatty.entries().map((entry) => entry.msg)).toEqual(['ssh connected']);

    expect(() => createLogger({ stream: capture(), level: 'loud' })).toThrow(
      'unknown log level "loud": expected one of trace, debug, info, warn, error, fatal, silent',
    );
  });

  it('serializes an Error under err or error with its type, message and stack', () => {
    const { log, entries } = jsonLogger();
    log.error({ err: new TypeError('boom'), error: new Error('bang') }, 'reconcile failed');
    const [entry] = entries();
    expect(entry?.err).toMatchObject({
      type: 'TypeError',
      message: 'boom',
      stack: expect.stringContaining('boom'),
    });
    expect(entry?.error).toMatchObject({ type: 'Error', message: 'bang' });
  });

  it('fits where the transport layer wants its logger', () => {
    const { log, entries } = jsonLogger({ level: 'debug' });
    const transport: {
      debug(fields: Record<string, unknown>, message: string): void;
      warn(fields: Record<string, unknown>, message: string): void;
    } = log;
    transport.warn({ host: 'h1' }, 'ssh connection failed');
    expect(entries()[0]).toMatchObject({ level: 'warn', host: 'h1', msg: 'ssh connection failed' });
  });
});

describe('createLogger: readable lines', () => {
  it('prints time, padded level, message, then key=value fields', () => {
    const stream = capture();
    const log = createLogger({ stream, pretty: true });
    log.info({ stack: 'blog', outcome: 'converged', ms: 812 }, 'reconcile done');
    log.warn({ reason: 'no route to host', ok: false, ports: [80, 443], last: null }, 'host suspect');
    log.error({}, 'reconcile failed');

    expect(stream.lines()).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d INFO {2}reconcile done {2}stack=blog outcome=converged ms=812$/),
      expect.stringMatching(
        /^\d\d:\d\d:\d\d WARN {2}host suspect {2}reason="no route to host" ok=false ports=\[80,443\] last=null$/,
      ),
      expect.stringMatching(/^\d\d:\d\d:\d\d ERROR reconcile failed$/),
    ]);
  });

  it('shows an error by its message, its stack indented below', () => {
    const stream = capture();
    const log = createLogger({ stream, pretty: true });
    log.error({ stack: 'blog', err: new Error('pull denied') }, 'reconcile failed');
    const [line, ...stack] = stream.lines();
    expect(line).toMatch(/^\d\d:\d\d:\d\d ERROR reconcile failed {2}stack=blog err="pull denied"$/);
    expect(stack[0]).toBe('    Error: pull denied');
    expect(stack.slice(1).every((frame) => frame.startsWith('        at '))).toBe(true);
  });

  it('is the default on a TTY, coloured unless told not to', () => {
    const tty = capture(true);
    createLogger({ stream: tty, color: false }).info({ stack: 'blog' }, 'reconcile done');
    expect(tty.text()).toMatch(/^\d\d:\d\d:\d\d INFO {2}reconcile done {2}stack=blog\n$/);

    const coloured = capture(true);
    createLogger({ stream: coloured, color: true }).info({ stack: 'blog' }, 'reconcile done');
    expect(coloured.text()).toContain('\x1b[32mINFO \x1b[0m reconcile done');

    const pipe = capture(false);
    createLogger({ stream: pipe }).info({ stack: 'blog' }, 'reconcile done');
    expect(JSON.parse(pipe.text())).toMatchObject({ stack: 'blog', msg: 'reconcile done' });
  });
});

describe('createLogger: secrets never appear', () => {
  const VALUE = 'hunter2-s3cr3t';
  const TRICKY = 'p"a\\ss\nword';

  /** Every way a secret could reach a line: by a key that names it, and by its value anywhere. */
  function logEverything(pretty: boolean): string {
    const stream = capture();
    const log = createLogger({ stream, pretty, level: 'debug' });
    log.secretValues([VALUE, TRICKY]);
    // By key, with values that were never registered.
    log.info({ password: 'pw-by-key-1' }, 'login');
    log.info(
      { registry: { password: 'pw-by-key-2', token: 'tok-by-key-3', secret: 'sec-by-key-4' } },
      'pull',
    );
    log.info({ env: ['DB_URL=env-by-key-5'] }, 'env');
    log.info({ body: { Image: 'blog:v1', Env: ['A=env-by-key-6'] } }, 'create');
    log.info({ create: { body: { Env: ['A=env-by-key-7'] } } }, 'create');
    log.info({ action: { create: { body: { Env: ['A=env-by-key-8'] } } } }, 'create');
    log.info({ authconfig: { username: 'u', password: 'auth-by-key-9' } }, 'auth');
    log.info({ service: { environment: { TOKEN: 'env-by-key-10' } } }, 'service');
    // By value, wherever it is.
    log.info({ stack: 'blog', command: `psql postgres://app:${VALUE}@db/app` }, 'exec');
    log.warn({ nested: { deeper: { list: ['x', `y${VALUE}z`] } } }, 'nested');
    log.error({ err: new Error(`connect failed with ${VALUE}`) }, 'failed');
    log.debug({ [VALUE]: 1 }, 'as a key');
    log.info({ note: `say ${TRICKY}` }, 'escaped');
    log.child({ token2: VALUE }).info({ stack: 'blog' }, 'bound');
    log.info({}, `a message with ${VALUE}`);
    return stream.text();
  }

  const byKey = [
    'pw-by-key-1',
    'pw-by-key-2',
    'tok-by-key-3',
    'sec-by-key-4',
    'env-by-key-5',
    'env-by-key-6',
    'env-by-key-7',
    'env-by-key-8',
    'auth-by-key-9',
    'env-by-key-10',
  ];

  it.each([
    ['JSON', false],
    ['readable', true],
  ])('in %s lines', (_, pretty) => {
    const text = logEverything(pretty);
    for (const secret of [...byKey, VALUE, 'hunter2', 's3cr3t']) expect(text).not.toContain(secret);
    expect(text).not.toContain(TRICKY);
    expect(text).not.toContain(JSON.stringify(TRICKY).slice(1, -1));
    expect(text).not.toContain('a\\\\ss');
    const lines = text.split('\n').filter((line) => /^\S/.test(line));
    expect(lines).toHaveLength(15);
    // What is around a secret stays readable.
    expect(text).toContain(`postgres://app:${SECRET_MARK}@db/app`);
    expect(text).toContain('blog:v1');
  });

  it('keeps JSON lines valid JSON, with the mark in place of each secret', () => {
    const lines = logEverything(false).trimEnd().split('\n');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries[0]).toMatchObject({ password: SECRET_MARK });
    expect(entries[3]).toMatchObject({ body: { Image: 'blog:v1', Env: SECRET_MARK } });
    expect(entries[12]).toMatchObject({ note: `say ${SECRET_MARK}` });
    expect(entries[13]).toMatchObject({ token2: SECRET_MARK, stack: 'blog' });
    expect(entries[14]).toMatchObject({ msg: `a message with ${SECRET_MARK}` });
  });

  it('applies to children made before the value was registered, and ignores values too short to matter', () => {
    const stream = capture();
    const log = createLogger({ stream, pretty: false });
    const child = log.child({ stack: 'blog' });
    log.secretValues(['1', 'on', 'abc', 'longer-secret']);
    child.info({ host: 'h1', flag: 'on', note: 'longer-secret and abc' }, 'bound');
    expect(JSON.parse(stream.text())).toMatchObject({
      host: 'h1',
      flag: 'on',
      note: `${SECRET_MARK} and abc`,
    });
  });

  it('hides a secret whole when another registered secret is part of it', () => {
    const stream = capture();
    const log = createLogger({ stream, pretty: false });
    log.secretValues(['pass', 'password-long']);
    log.info({ note: 'x password-long y pass z' }, 'nested secrets');
    expect(JSON.parse(stream.text())).toMatchObject({ note: `x ${SECRET_MARK} y ${SECRET_MARK} z` });
  });
});
