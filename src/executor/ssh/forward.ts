import { Agent } from 'node:http';
import type { AgentOptions, ClientRequestArgs } from 'node:http';
import { Duplex } from 'node:stream';
import { inspect } from 'node:util';
import type { ClientChannel } from 'ssh2';
import { HostUnreachableError } from '../errors.js';
import { LOST } from './connection.js';
import type { SshConnection, TransportLog } from './connection.js';

/**
 * How Docker API traffic reaches the engine's socket on an SSH host: each HTTP connection of a
 * keep-alive agent is its own SSH channel on the host's one persistent connection. Normally a
 * `direct-streamlocal@openssh.com` channel to the socket (what `ssh -L local.sock:/var/run/docker.sock`
 * does); if sshd forbids stream-local forwarding, an exec channel running `docker system dial-stdio`
 * instead. The refusal is detected once and remembered for the life of the client.
 */
export type ForwardMode = 'stream-local' | 'dial-stdio';

/** sshd's SSH_OPEN_ADMINISTRATIVELY_PROHIBITED: forwarding is turned off on the server. */
const OPEN_PROHIBITED = 1;
/** SSH_OPEN_CONNECT_FAILED: what OpenSSH answers both for a missing socket and for forwarding turned off. */
const OPEN_CONNECT_FAILED = 2;
/** sshd's MaxSessions default is 10 session channels per connection; dial-stdio uses one per HTTP connection. */
const DIAL_STDIO_MAX_SOCKETS = 8;
const STREAM_LOCAL_MAX_SOCKETS = 32;

export class DockerForward {
  readonly #connection: SshConnection;
  readonly #socketPath: string;
  readonly #log: TransportLog;
  #mode: ForwardMode = 'stream-local';
  #probe: Promise<void> | undefined;
  /** Told when the mode changes, so the agent can lower its socket bound. */
  onModeChange: ((mode: ForwardMode) => void) | undefined;

  constructor(connection: SshConnection, socketPath: string, log: TransportLog) {
    this.#connection = connection;
    this.#socketPath = socketPath;
    this.#log = log;
  }

  get mode(): ForwardMode {
    return this.#mode;
  }

  get #host(): string {
    return this.#connection.endpoint.host;
  }

  /** A fresh byte stream to the engine's API. */
  async dial(): Promise<ClientChannel> {
    if (this.#mode === 'stream-local') {
      try {
        return await this.#connection.streamLocal(this.#socketPath);
      } catch (error) {
        const reason = reasonOf(error);
        if (reason !== OPEN_PROHIBITED && reason !== OPEN_CONNECT_FAILED) throw this.#classify(error);
        // OpenSSH answers the same "open failed" whether forwarding is off or nothing listens on the
        // socket: the docker CLI on the host tells which. If it reaches the engine, forwarding is off.
        this.#probe ??= this.#probeDockerCli().finally(() => (this.#probe = undefined));
        await this.#probe;
        if (this.#mode === 'stream-local') {
          this.#mode = 'dial-stdio';
          this.#log.warn(
            { host: this.#host, socket: this.#socketPath },
            'stream-local forward refused, using docker system dial-stdio',
          );
          this.onModeChange?.('dial-stdio');
        }
      }
    }
    return this.#dialStdio();
  }

  async #dialStdio(): Promise<ClientChannel> {
    const channel = await this.#exec('system dial-stdio');
    const stderr = collectStderr(channel);
    channel.once('exit', (code: number | null) => {
      if (code === 0 || code === null) return;
      channel.emit(
        'error',
        new HostUnreachableError(
          this.#host,
          'forward-denied',
          `docker system dial-stdio exited with ${code} on the host: ${stderr().trim() || 'no message'}`,
        ),
      );
    });
    return channel;
  }

  /** Resolves when `docker version` on the host reaches the engine; else rejects saying what is wrong. */
  async #probeDockerCli(): Promise<void> {
    const channel = await this.#exec('version --format {{.Server.Version}}');
    const stderr = collectStderr(channel);
    channel.resume();
    const code = await new Promise<number | null>((resolve) => {
      channel.once('exit', (status: number | null) => resolve(status));
      channel.once('close', () => resolve(null));
      channel.once(LOST, () => resolve(null));
    });
    if (code === 0) return;
    const message = stderr().trim() || 'no message';
    if (
      /cannot connect to the docker daemon|is the docker daemon running|connection refused|no such file/i.test(
        message,
      )
    ) {
      throw new HostUnreachableError(
        this.#host,
        'refused',
        `nothing answers at ${this.#socketPath} on the host: is dockerd running, and is that its socket? (${message})`,
      );
    }
    throw new HostUnreachableError(
      this.#host,
      'forward-denied',
      `sshd refused a stream-local forward to ${this.#socketPath}, and \`docker version\` on the host failed ` +
        `(exit ${code ?? 'unknown'}: ${message}). Allow forwarding in sshd (AllowStreamLocalForwarding yes) ` +
        `or install the docker CLI on the host`,
    );
  }

  async #exec(args: string): Promise<ClientChannel> {
    try {
      return await this.#connection.exec(`docker -H ${shellQuote(`unix://${this.#socketPath}`)} ${args}`);
    } catch (error) {
      const reason = reasonOf(error);
      if (reason === OPEN_PROHIBITED || reason === OPEN_CONNECT_FAILED) {
        throw new HostUnreachableError(
          this.#host,
          'forward-denied',
          `sshd refuses both stream-local forwarding and commands: heal cannot reach ${this.#socketPath}`,
          { cause: error },
        );
      }
      throw this.#classify(error);
    }
  }

  #classify(error: unknown): HostUnreachableError {
    if (error instanceof HostUnreachableError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new HostUnreachableError(this.#host, 'closed', `cannot open an SSH channel: ${message}`, {
      cause: error,
    });
  }
}

/**
 * The http.Agent every host client hands dockerode. docker-modem util.inspect()s each request's
 * options, agent included, at full depth on every call, even with its debug output off. An agent's
 * inspection walks all its sockets (and, for SSH channels, the whole ssh2 client), so its cost grew
 * with concurrency: that was the measured collapse of 8 concurrent calls to 15/s. A one-line
 * inspection removes it.
 */
export class QuietAgent extends Agent {
  readonly #label: string;

  constructor(label: string, options: AgentOptions) {
    super(options);
    this.#label = label;
  }

  [inspect.custom](): string {
    return `Agent(${this.#label})`;
  }
}

/** A keep-alive agent whose every HTTP connection is a fresh channel from `forward`. */
export class ForwardAgent extends QuietAgent {
  readonly #forward: DockerForward;

  constructor(label: string, forward: DockerForward) {
    super(label, { keepAlive: true, maxSockets: STREAM_LOCAL_MAX_SOCKETS });
    this.#forward = forward;
    if (forward.mode === 'dial-stdio') this.maxSockets = DIAL_STDIO_MAX_SOCKETS;
    forward.onModeChange = (mode) => {
      if (mode === 'dial-stdio') this.maxSockets = DIAL_STDIO_MAX_SOCKETS;
    };
  }

  override createConnection(
    _options: ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex | null | undefined {
    // Node's agent takes (error) alone on failure; its typings always want a stream.
    const fail = callback as ((error: Error) => void) | undefined;
    this.#forward.dial().then(
      (channel) => callback?.(null, new ChannelSocket(channel)),
      (error: Error) => fail?.(error),
    );
    return undefined;
  }
}

/**
 * An SSH channel dressed as the net.Socket Node's http client and agent expect. ssh2's channel
 * is not one: its destroy() takes no error and sets no `destroyed`, and a write on a channel the
 * server closed never calls back, so a keep-alive request reusing it would hang. This socket ends
 * when the channel does (no half-open HTTP connection), closes when it closes, fails writes on a
 * closed channel, and keeps a real idle timeout so an agent timeout still retires idle channels.
 * Keepalive and Nagle belong to the SSH connection's TCP socket, so those calls do nothing.
 */
export class ChannelSocket extends Duplex {
  readonly #channel: ClientChannel;
  #idleMs = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(channel: ClientChannel) {
    super({ allowHalfOpen: false });
    this.#channel = channel;
    channel.on('data', (chunk: Buffer) => {
      this.#touch();
      if (!this.push(chunk)) channel.pause();
    });
    channel.on('end', () => this.push(null));
    channel.on('error', (error: Error) => this.destroy(error));
    channel.on(LOST, (error: Error) => this.destroy(error));
    channel.on('close', () => {
      this.push(null);
      if (this.readableLength === 0) this.destroy();
      else this.once('end', () => this.destroy());
    });
  }

  override _read(): void {
    this.#channel.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.#channel.writable) {
      callback(new Error('the SSH channel is closed'));
      return;
    }
    this.#touch();
    this.#channel.write(chunk, encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#channel.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    this.#channel.destroy();
    callback(error);
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#idleMs = ms;
    if (callback !== undefined) this.once('timeout', callback);
    this.#touch();
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  #touch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#idleMs <= 0 || this.destroyed) return;
    this.#timer = setTimeout(() => this.emit('timeout'), this.#idleMs);
    this.#timer.unref();
  }
}

function collectStderr(channel: ClientChannel): () => string {
  let text = '';
  channel.stderr.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-2000);
  });
  return () => text;
}

function reasonOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'reason' in error ? error.reason : undefined;
}

/** POSIX shell single quoting. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
