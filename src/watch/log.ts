import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger } from 'pino';

/**
 * Structured logging: constant messages, data in fields (`log.info({ stack, ms }, 'reconcile done')`).
 * A superset of the transport layer's `{ debug(fields, msg), warn(fields, msg) }`.
 */
export type Logger = {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  child(bindings: object): Logger;
};

/** The daemon's root logger: what it registers as secret is scrubbed from every line of every child. */
export type RootLogger = Logger & {
  /**
   * Adds literal values (env_file values, registry passwords, tokens) to hide wherever they occur in
   * a string of any line, keys included. Values shorter than 4 characters are ignored: hiding every
   * `1` or `on` would garble every line and protect nothing.
   */
  secretValues(values: readonly string[]): void;
};

export type LoggerOptions = {
  /** Default process.stdout. */
  readonly stream?: NodeJS.WritableStream;
  /** Readable lines instead of JSON. Default: whether the stream is a TTY. */
  readonly pretty?: boolean;
  /** Colours in pretty mode. Default: the stream is a TTY and NO_COLOR is unset. */
  readonly color?: boolean;
  /** trace, debug, info, warn, error, fatal or silent. Default info. */
  readonly level?: string;
};

/** What takes the place of a secret, whether found by its key or by its value. */
export const SECRET_MARK = '**secret**';

const MIN_SECRET_LENGTH = 4;

/** Keys whose values are secret wherever heal's layers put them (a create body's `Env`, a registry's auth). */
const SECRET_KEYS = [
  'password',
  'Password',
  'passphrase',
  'token',
  'Token',
  'secret',
  'authorization',
  'Authorization',
  'authconfig',
  'authConfig',
  'AuthConfig',
  'registryAuth',
  '["X-Registry-Auth"]',
  '["x-registry-auth"]',
  'env',
  'Env',
  'environment',
];

/** pino's redaction has no "any depth": cover the key at the top and three levels down (`create.body.Env`). */
const REDACT_PATHS = SECRET_KEYS.flatMap((key) => {
  const step = key.startsWith('[') ? key : `.${key}`;
  return [key, `*${step}`, `*.*${step}`, `*.*.*${step}`];
});

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * JSON lines through pino when not on a TTY (`{"level":"info","time":"…","stack":"blog","msg":"…"}`),
 * readable lines on one (`12:00:01 INFO  reconcile done  stack=blog ms=812`). Secrets never appear:
 * known keys are censored by pino, registered values are scrubbed from the finished line.
 */
export function createLogger(options: LoggerOptions = {}): RootLogger {
  const stream = options.stream ?? process.stdout;
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  const level = options.level ?? 'info';
  if (!LEVELS.includes(level)) {
    throw new Error(`unknown log level "${level}": expected one of ${LEVELS.join(', ')}`);
  }
  const secrets = new SecretValues();
  const render = (options.pretty ?? tty) ? prettyLine(options.color ?? (tty && !process.env.NO_COLOR)) : null;
  const sink: DestinationStream = { write: (line) => void stream.write(finishLine(line, secrets, render)) };
  const root = pino(
    {
      level,
      base: null,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      redact: { paths: REDACT_PATHS, censor: SECRET_MARK },
    },
    sink,
  );
  return { ...wrap(root), secretValues: (values) => secrets.add(values) };
}

function wrap(logger: PinoLogger): Logger {
  return {
    debug: (fields, msg) => logger.debug(fields, msg),
    info: (fields, msg) => logger.info(fields, msg),
    warn: (fields, msg) => logger.warn(fields, msg),
    error: (fields, msg) => logger.error(fields, msg),
    child: (bindings) => wrap(logger.child(bindings)),
  };
}

class SecretValues {
  /** Longest first, so a secret containing another is hidden whole. Each with its JSON-escaped form. */
  #values: { raw: string; escaped: string }[] = [];

  add(values: readonly string[]): void {
    const known = new Set(this.#values.map((value) => value.raw));
    for (const raw of values) {
      if (raw.length < MIN_SECRET_LENGTH || known.has(raw)) continue;
      known.add(raw);
      this.#values.push({ raw, escaped: JSON.stringify(raw).slice(1, -1) });
    }
    this.#values.sort((a, b) => b.raw.length - a.raw.length);
  }

  /** A cheap test on the serialized line, so lines without a secret are not parsed again. */
  foundIn(line: string): boolean {
    return this.#values.some(({ raw, escaped }) => line.includes(escaped) || line.includes(raw));
  }

  scrub(value: unknown): unknown {
    if (typeof value === 'string') return this.#scrubString(value);
    if (Array.isArray(value)) return value.map((item) => this.scrub(item));
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [this.#scrubString(key), this.scrub(item)]),
    );
  }

  /** For a line that is not JSON after all; pino only writes JSON, so this is a last resort. */
  scrubText(line: string): string {
    let text = line;
    for (const { raw, escaped } of this.#values)
      text = text.replaceAll(escaped, SECRET_MARK).replaceAll(raw, SECRET_MARK);
    return text;
  }

  #scrubString(text: string): string {
    let result = text;
    for (const { raw } of this.#values) result = result.replaceAll(raw, SECRET_MARK);
    return result;
  }
}

/** One parsed log line. */
type Entry = Record<string, unknown>;

/**
 * Scrubbing works on the parsed line rather than on its text: a replacement inside an escape
 * sequence could break the JSON, and a value escaped differently would slip through.
 */
function finishLine(line: string, secrets: SecretValues, render: ((entry: Entry) => string) | null): string {
  const dirty = secrets.foundIn(line);
  if (!dirty && render === null) return line;
  let entry: Entry;
  try {
    entry = JSON.parse(line) as Entry;
  } catch {
    return secrets.scrubText(line);
  }
  if (dirty) entry = secrets.scrub(entry) as Entry;
  return render === null ? `${JSON.stringify(entry)}\n` : render(entry);
}

const COLORS: Record<string, string> = {
  trace: '\x1b[90m',
  debug: '\x1b[90m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[35m',
};
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** `12:00:01 INFO  reconcile done  stack=blog outcome=converged ms=812`, then an error's stack, indented. */
function prettyLine(color: boolean): (entry: Entry) => string {
  return (entry) => {
    const { level, time, msg, ...fields } = entry;
    const label = String(level);
    const padded = label.toUpperCase().padEnd(5);
    const head = `${clock(time)} ${color ? `${COLORS[label] ?? ''}${padded}${RESET}` : padded} ${String(msg ?? '')}`;
    const stacks: string[] = [];
    const pairs = Object.entries(fields).map(([key, value]) => {
      if (isSerializedError(value)) {
        if (value.stack !== undefined) stacks.push(indent(value.stack));
        value = value.message;
      }
      return color ? `${DIM}${key}=${RESET}${fieldValue(value)}` : `${key}=${fieldValue(value)}`;
    });
    const line = pairs.length === 0 ? head : `${head}  ${pairs.join(' ')}`;
    return [line, ...stacks].join('\n') + '\n';
  };
}

function clock(time: unknown): string {
  const date = new Date(typeof time === 'string' || typeof time === 'number' ? time : Number.NaN);
  if (Number.isNaN(date.getTime())) return '--:--:--';
  return [date.getHours(), date.getMinutes(), date.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
}

function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"'=\\]+$/.test(value) ? value : JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return String(value);
  return JSON.stringify(value);
}

function isSerializedError(value: unknown): value is { message: string; stack?: string } {
  if (value === null || typeof value !== 'object') return false;
  const { message, stack } = value as { message?: unknown; stack?: unknown };
  return typeof message === 'string' && (stack === undefined || typeof stack === 'string') && 'type' in value;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
