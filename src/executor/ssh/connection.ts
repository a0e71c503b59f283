import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Client, ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { HostUnreachableError } from '../errors.js';
import type { UnreachableKind } from '../errors.js';
import type { SshAuth } from './auth.js';
import { appendKnownHost, checkHostKey, keyTypeOf, knownKeyTypes, readKnownHosts } from './known-hosts.js';
import type { KnownHostsEntry } from './known-hosts.js';

/** Structured logging: constant messages, data in fields. */
export type TransportLog = {
  debug(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
};

export const silentLog: TransportLog = { debug() {}, warn() {} };

/**
 * Bounds how many SSH connections are being set up at once, across hosts: sshd drops unauthenticated
 * connections beyond its MaxStartups, and a fleet coming back at once should not look like a flood.
 */
export type StartGate = { acquire(): Promise<() => void> };

export function createStartGate(limit = 8): StartGate {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) running--;
    else next();
  };
  return {
    acquire() {
      let released = false;
      const once = (): void => {
        if (released) return;
        released = true;
        release();
      };
      if (running < limit) {
        running++;
        return Promise.resolve(once);
      }
      return new Promise((resolve) => waiting.push(() => resolve(once)));
    },
  };
}

/** Where and as whom to connect, all defaults already applied. */
export type SshEndpoint = {
  /** heal's name for the host, for messages and logs. */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly auth: SshAuth;
  readonly knownHostsFile: string;
  /** Record the key of a host known_hosts does not list yet (OpenSSH's accept-new). */
  readonly acceptNewHostKeys: boolean;
};

export type SshConnectionOptions = {
  readonly connectTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  readonly backoffMs: { readonly initial: number; readonly max: number };
  readonly gate: StartGate;
  readonly log: TransportLog;
};

export type ConnectionState = 'idle' | 'connecting' | 'up' | 'down' | 'closed';

/** The event a channel gets when its connection died: `(error: HostUnreachableError)`. */
export const LOST = 'heal:connection-lost';

type SshError = Error & { level?: string; code?: string | number };

/** Host key algorithms ssh2 offers by default, strongest first. */
const HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * One persistent SSH connection to one host. It connects on demand, notices a dead peer through
 * keepalives, and after losing the connection reconnects by itself with a bounded exponential backoff.
 * While it is down, callers fail fast with the last error instead of queueing behind a dead host.
 */
export class SshConnection {
  readonly endpoint: SshEndpoint;
  readonly #options: SshConnectionOptions;
  #state: ConnectionState = 'idle';
  #client: Client | undefined;
  #connecting: Promise<Client> | undefined;
  #lastError: HostUnreachableError | undefined;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  /** Open channels of the current client: told ('lost' event) when it dies, since ssh2 may never close them. */
  readonly #channels = new Set<ClientChannel>();

  constructor(endpoint: SshEndpoint, options: SshConnectionOptions) {
    this.endpoint = endpoint;
    this.#options = options;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get lastError(): HostUnreachableError | undefined {
    return this.#lastError;
  }

  /** The live ssh2 client: the current one, the attempt in flight, or a new attempt. */
  connect(): Promise<Client> {
    if (this.#state === 'closed') return Promise.reject(this.#error('closed', 'the client was closed'));
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    if (this.#connecting !== undefined) return this.#connecting;
    if (this.#retry !== undefined && this.#lastError !== undefined) return Promise.reject(this.#lastError);
    return this.#attempt();
  }

  /** A `direct-streamlocal@openssh.com` channel to a unix socket on the host. */
  streamLocal(socketPath: string): Promise<ClientChannel> {
    return this.#channel(`forward to ${socketPath}`, (client, done) =>
      client.openssh_forwardOutStreamLocal(socketPath, done),
    );
  }

  /** An exec channel running `command` on the host. */
  exec(command: string): Promise<ClientChannel> {
    return this.#channel(`exec`, (client, done) => client.exec(command, done));
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#dropChannels(this.#error('closed', 'the client was closed'));
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    if (client === undefined) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, 1000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }

  #attempt(): Promise<Client> {
    this.#state = 'connecting';
    const attempt = this.#dial().then(
      (client) => {
        if (this.#state === 'closed') {
          client.end();
          throw this.#error('closed', 'the client was closed');
        }
        this.#client = client;
        this.#state = 'up';
        if (this.#failures > 0)
          this.#options.log.warn({ host: this.endpoint.host }, 'ssh connection restored');
        this.#failures = 0;
        this.#lastError = undefined;
        return client;
      },
      (error: HostUnreachableError) => {
        if (this.#state === 'closed') throw error;
        this.#state = 'down';
        this.#failures++;
        const fields = {
          host: this.endpoint.host,
          kind: error.kind,
          reason: error.sentence,
          attempt: this.#failures,
        };
        if (this.#lastError?.kind !== error.kind) this.#options.log.warn(fields, 'ssh connection failed');
        else this.#options.log.debug(fields, 'ssh connection failed');
        this.#lastError = error;
        this.#scheduleRetry();
        throw error;
      },
    );
    this.#connecting = attempt;
    const clear = (): void => {
      if (this.#connecting === attempt) this.#connecting = undefined;
    };
    attempt.then(clear, clear);
    return attempt;
  }

  #scheduleRetry(): void {
    if (this.#state === 'closed' || this.#retry !== undefined) return;
    const { initial, max } = this.#options.backoffMs;
    const base = Math.min(max, initial * 2 ** Math.max(0, this.#failures - 1));
    // Jitter, so hosts that dropped together do not all come knocking in the same millisecond.
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#state === 'closed' || this.#client !== undefined || this.#connecting !== undefined) return;
      this.#attempt().catch(() => {});
    }, delay);
    // A host that is down must not keep the process alive on its own.
    this.#retry.unref();
  }

  #onLost(client: Client, cause: SshError | undefined): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    if (this.#state === 'closed') return;
    const { keepaliveIntervalMs, keepaliveCountMax } = this.#options;
    const error =
      cause?.level === 'client-timeout'
        ? this.#error(
            'timeout',
            `no answer to ${keepaliveCountMax} keepalives sent ${keepaliveIntervalMs} ms apart`,
          )
        : this.#error(
            'closed',
            `the SSH connection dropped${cause === undefined ? '' : `: ${cause.message}`}`,
          );
    this.#state = 'down';
    this.#lastError = error;
    // Counts as a failure, so the reconnect that follows says the connection was restored even
    // when its first attempt succeeds.
    this.#failures++;
    this.#dropChannels(error);
    this.#options.log.warn(
      { host: this.endpoint.host, kind: error.kind, reason: error.sentence },
      'ssh connection lost',
    );
    this.#scheduleRetry();
  }

  async #dial(): Promise<Client> {
    const release = await this.#options.gate.acquire();
    try {
      const entries = await this.#readKnownHosts();
      return await this.#handshake(entries);
    } finally {
      release();
    }
  }

  async #readKnownHosts(): Promise<KnownHostsEntry[]> {
    try {
      return await readKnownHosts(this.endpoint.knownHostsFile);
    } catch (error) {
      throw this.#error(
        'host-key-unknown',
        `cannot read ${this.endpoint.knownHostsFile}: ${String(error)}`,
        error,
      );
    }
  }

  #handshake(entries: KnownHostsEntry[]): Promise<Client> {
    const { endpoint } = this;
    const { connectTimeoutMs, keepaliveIntervalMs, keepaliveCountMax, log } = this.#options;
    return new Promise((resolve, reject) => {
      const client = new ssh2.Client();
      let ready = false;
      let settled = false;
      let refusal: HostUnreachableError | undefined;
      let failure: SshError | undefined;
      const fail = (error: HostUnreachableError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        reject(error);
      };
      // ssh2's readyTimeout covers TCP connect, handshake and auth; this guard only catches a 'close'
      // that never comes.
      const guard = setTimeout(() => {
        client.destroy();
        fail(this.#error('timeout', `no SSH session with ${where(endpoint)} within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs + 2000);

      client.on('ready', () => {
        ready = true;
        settled = true;
        clearTimeout(guard);
        failure = undefined;
        client.setNoDelay(true);
        log.debug({ host: endpoint.host, address: endpoint.address, port: endpoint.port }, 'ssh connected');
        resolve(client);
      });
      client.on('error', (error: SshError) => {
        // ssh2 reports an unusable agent or key, then goes on with the next method: not fatal.
        if (
          error.level === 'agent' ||
          (error.level === 'client-authentication' && !isFinalAuthError(error))
        ) {
          log.debug({ host: endpoint.host, reason: error.message }, 'ssh auth method skipped');
          return;
        }
        failure ??= error;
      });
      client.on('close', () => {
        if (ready) {
          this.#onLost(client, failure);
          return;
        }
        fail(refusal ?? this.#classify(failure));
      });

      const config: ConnectConfig = {
        host: endpoint.address,
        port: endpoint.port,
        username: endpoint.auth.username,
        authHandler: [...endpoint.auth.methods],
        readyTimeout: connectTimeoutMs,
        keepaliveInterval: keepaliveIntervalMs,
        keepaliveCountMax,
        // Stream-local forwarding is an OpenSSH extension; let a server that is not OpenSSH say no itself.
        strictVendor: false,
        algorithms: {
          serverHostKey: hostKeyPreference(knownKeyTypes(entries, endpoint.address, endpoint.port)),
        },
        hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
          this.#verifyHostKey(entries, key).then(
            (problem) => {
              refusal = problem ?? undefined;
              verify(problem === null);
            },
            (error: unknown) => {
              refusal = this.#error(
                'host-key-unknown',
                `cannot record the host key: ${String(error)}`,
                error,
              );
              verify(false);
            },
          );
        },
      };
      try {
        client.connect(config);
      } catch (error) {
        fail(this.#error('closed', `cannot start SSH: ${String(error)}`, error));
      }
    });
  }

  /** Null when known_hosts vouches for the key (or it was just recorded under accept-new), else the refusal. */
  async #verifyHostKey(
    entries: readonly KnownHostsEntry[],
    key: Buffer,
  ): Promise<HostUnreachableError | null> {
    const { address, port, knownHostsFile, acceptNewHostKeys, host } = this.endpoint;
    const check = checkHostKey(entries, address, port, key);
    const type = keyTypeOf(key);
    const fingerprint = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
    const keyscan = `ssh-keyscan -p ${port} ${address} >> ${knownHostsFile}`;
    switch (check.status) {
      case 'trusted':
        return null;
      case 'revoked':
        return this.#error(
          'host-key-revoked',
          `${check.name} presented the ${type} key ${fingerprint}, which ${knownHostsFile}:${check.line} marks @revoked: refusing to connect`,
        );
      case 'changed':
        return this.#error(
          'host-key-changed',
          `HOST KEY CHANGED: ${check.name} presented the ${type} key ${fingerprint}, not the one in ${knownHostsFile}:${check.line}. ` +
            `Someone may be intercepting the connection, or the host was reinstalled. If you know it was, remove the old key ` +
            `(ssh-keygen -R '${check.name}' -f ${knownHostsFile}) and trust the new one (${keyscan})`,
        );
      case 'unknown':
        break;
    }
    if (check.knownTypes.length > 0) {
      return this.#error(
        'host-key-unknown',
        `${check.name} presented a ${type} key (${fingerprint}) but ${knownHostsFile} lists only ${check.knownTypes.join(', ')} keys for it: ` +
          `refusing to connect. If the host really has this key, add it: ${keyscan}`,
      );
    }
    if (!acceptNewHostKeys) {
      return this.#error(
        'host-key-unknown',
        `${check.name} is not in ${knownHostsFile} (it offered the ${type} key ${fingerprint}). ` +
          `To trust it, check that fingerprint and run: ${keyscan}`,
      );
    }
    await appendKnownHost(knownHostsFile, address, port, key);
    this.#options.log.warn(
      { host, name: check.name, keyType: type, fingerprint, file: knownHostsFile },
      'new host key recorded',
    );
    return null;
  }

  #classify(error: SshError | undefined): HostUnreachableError {
    const { endpoint } = this;
    const at = where(endpoint);
    if (error === undefined)
      return this.#error('closed', `${at} closed the connection before SSH was set up`);
    const code = typeof error.code === 'string' ? error.code : '';
    if (error.level === 'client-timeout' || code === 'ETIMEDOUT') {
      return this.#error(
        'timeout',
        `no SSH handshake with ${at} within ${this.#options.connectTimeoutMs} ms`,
        error,
      );
    }
    if (code === 'ECONNREFUSED')
      return this.#error('refused', `${at} refused the connection: is sshd running?`, error);
    if (
      ['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'].includes(code)
    ) {
      return this.#error('unreachable', `${at} cannot be reached (${code})`, error);
    }
    if (error.level === 'client-authentication') {
      const { auth } = endpoint;
      const offered = [...(auth.agent ? ['ssh-agent'] : []), ...auth.identities].join(', ');
      const notes = auth.notes.length > 0 ? ` (${auth.notes.join('; ')})` : '';
      return this.#error('auth-failed', `${at} refused user ${auth.username} with ${offered}${notes}`, error);
    }
    if (code === 'ECONNRESET' || /before handshake/i.test(error.message)) {
      return this.#error(
        'closed',
        `${at} closed the connection during the SSH handshake (${error.message})`,
        error,
      );
    }
    return this.#error('closed', `SSH to ${at} failed: ${error.message}`, error);
  }

  #channel(
    what: string,
    open: (client: Client, done: (error: Error | undefined, channel: ClientChannel) => void) => void,
  ): Promise<ClientChannel> {
    return this.connect().then(
      (client) =>
        new Promise((resolve, reject) => {
          let settled = false;
          const timeoutMs = this.#options.connectTimeoutMs;
          const timer = setTimeout(() => {
            settled = true;
            reject(this.#error('timeout', `no answer to an SSH ${what} request within ${timeoutMs} ms`));
          }, timeoutMs);
          const done = (error: Error | undefined, channel: ClientChannel): void => {
            clearTimeout(timer);
            if (settled) {
              channel?.destroy();
              return;
            }
            settled = true;
            if (error) {
              reject(error);
              return;
            }
            if (this.#client !== client) {
              channel.destroy();
              reject(this.#lastError ?? this.#error('closed', 'the SSH connection dropped'));
              return;
            }
            this.#channels.add(channel);
            channel.once('close', () => this.#channels.delete(channel));
            resolve(channel);
          };
          try {
            open(client, done);
          } catch (error) {
            clearTimeout(timer);
            settled = true;
            reject(this.#error('closed', `the SSH connection is gone (${String(error)})`, error));
          }
        }),
    );
  }

  /**
   * When the connection dies, ssh2 pushes EOF into its channels but only closes one once its reader
   * has drained it, and a write on it succeeds silently: a request on it would wait forever.
   */
  #dropChannels(error: HostUnreachableError): void {
    const channels = [...this.#channels];
    this.#channels.clear();
    for (const channel of channels) channel.emit(LOST, error);
  }

  #error(kind: UnreachableKind, sentence: string, cause?: unknown): HostUnreachableError {
    return new HostUnreachableError(
      this.endpoint.host,
      kind,
      sentence,
      cause === undefined ? undefined : { cause },
    );
  }
}

function where(endpoint: SshEndpoint): string {
  return `${endpoint.auth.username}@${endpoint.address}:${endpoint.port}`;
}

function isFinalAuthError(error: Error): boolean {
  return /all configured authentication methods failed/i.test(error.message);
}

/** Ask first for the key types known_hosts holds for the host, as OpenSSH does, so a known host is not "unknown". */
export function hostKeyPreference(knownTypes: readonly string[]): ServerHostKeyAlgorithm[] {
  const preferred: ServerHostKeyAlgorithm[] = [];
  for (const type of knownTypes) {
    const algorithms: readonly ServerHostKeyAlgorithm[] =
      type === 'ssh-rsa'
        ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
        : HOST_KEY_ALGORITHMS.filter((a) => a === type);
    for (const algorithm of algorithms) if (!preferred.includes(algorithm)) preferred.push(algorithm);
  }
  return [...preferred, ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))];
}
