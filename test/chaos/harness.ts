/**
 * The chaos suite's world: the four-host test bed, a git remote holding the stack, `heal watch`
 * following it (killed and restarted at will), the monitor and the bystanders; and `fault()`,
 * which runs one fault and measures it against the invariants.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestbedEnv } from '../testbed.js';
import {
  freePort,
  GitRemote,
  githubSignature,
  postHook,
  startWatch,
  statusOf,
  type Status,
  type Watch,
} from '../e2e/watch-helpers.js';
import { Bystanders } from './bystanders.js';
import { census, Monitor, type Census, type Wanted } from './monitor.js';
import {
  FIRST_SHAPE,
  HOSTS,
  imageOf,
  replicasOf,
  specText,
  TAKEN_PORT,
  type Files,
  type Shape,
} from './stack.js';

export const WEBHOOK_SECRET = 'chaos-webhook-secret';

/** One row of bench/results/chaos.json. */
export type FaultRecord = {
  fault: string;
  injected: boolean;
  survived: boolean;
  duplicates: number;
  orphans: number;
  unmanagedTouched: number;
  secretsLogged: number;
  /**
   * Occurrences of a credential the daemon holds (or a secret where it does not belong) in what
   * the fault scanned beyond the daemon's output: containers' labels, env and files, /status,
   * heal's own output. Zero for a fault that scans nothing more.
   */
  leaked: number;
  belowMinimumSeconds: number;
  convergeSeconds: number | null;
  /** Why it did not survive, or what was seen; empty when there is nothing to say. */
  notes: string[];
};

/** What a fault's body tells the measurement. */
export type Injection = {
  /** Whether the fault happened as meant (a kill that landed after the rollout ended did not). */
  injected: boolean;
  /** What the fault's own scan found (see FaultRecord.leaked), each as a sentence. */
  leaks?: readonly string[];
};

/** Handed to a fault's body. */
export type FaultRun = {
  /**
   * Marks the moment of injection; `taken` are the slots per service the fault itself takes down,
   * on `hosts`, the hosts it strikes: the monitor not reading one of them counts its slots down,
   * while any other host unread makes that moment unknown (a slow answer to the monitor is not
   * heal's doing).
   */
  injectedNow(taken?: Readonly<Record<string, number>>, hosts?: readonly string[]): void;
  /** Waits until the fleet, without the hosts `away`, matches the shape; the first call times convergence. */
  converged(away?: readonly string[], timeoutMs?: number): Promise<void>;
  /** Records the convergence time now (a bad commit: the moment heal reported it). */
  convergedNow(): void;
  note(text: string): void;
  /**
   * Hosts whose bystanders the fault itself may stop (a killed host, a restarted engine), told
   * when it strikes: a body that throws later keeps them.
   */
  struck(hosts: readonly string[]): void;
};

export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

export class Chaos {
  readonly env: TestbedEnv;
  readonly root: string;
  readonly monitor: Monitor;
  readonly bystanders: Bystanders;
  readonly records: FaultRecord[] = [];
  readonly rand: () => number;
  /** Every daemon started, killed ones included: their output is what the secret scan reads. */
  readonly daemons: Watch[] = [];
  /** The shape of the newest commit that should run. */
  shape: Shape = FIRST_SHAPE;
  daemon!: Watch;
  remote!: GitRemote;
  port = 0;
  readonly files: Files;
  readonly secrets: readonly string[];
  #tags = 0;
  /** The fault after which the fleet never converged: the ones after it cannot be judged. */
  broken: string | null = null;

  constructor(env: TestbedEnv, root: string, seed: number) {
    this.env = env;
    this.root = root;
    this.rand = random(seed);
    this.monitor = new Monitor(env, HOSTS);
    this.bystanders = new Bystanders(env);
    const token = `chaos-secret-${randomBytes(8).toString('hex')}`;
    const envValue = `chaos-env-${randomBytes(8).toString('hex')}`;
    const password = `chaos-password-${randomBytes(8).toString('hex')}`;
    this.secrets = [token, envValue, password];
    const dir = join(root, 'secrets');
    mkdirSync(dir, { recursive: true });
    this.files = { secretFile: join(dir, 'api-token'), envFile: join(dir, 'api.env') };
    writeFileSync(this.files.secretFile, `${token}\n`);
    writeFileSync(this.files.envFile, `API_KEY=${envValue}\n`);
  }

  /** The remote, the bystanders (one per host, publishing TAKEN_PORT), the monitor, and a daemon. */
  async setUp(): Promise<void> {
    this.remote = await GitRemote.create(this.root);
    this.port = await freePort();
    for (const host of HOSTS)
      await this.bystanders.start(host, [
        '--name',
        'chaos-bystander',
        // Back after a host reboots or its engine restarts, as a service someone runs by hand would be.
        '--restart',
        'unless-stopped',
        '-p',
        `${TAKEN_PORT}:8080`,
        this.env.images.web1,
      ]);
    this.monitor.start();
    await this.push(specText(this.env, this.shape, this.files), 'chaos: first deployment');
    this.startDaemon();
  }

  startDaemon(): Watch {
    this.daemon = startWatch(
      this.root,
      [
        ...['--repo', this.remote.bare, '--ref', 'main', '--path', 'stack.yml', '--log-level', 'debug'],
        // The SSH key and known_hosts of the test bed, and the secret and env files, live outside the repository.
        ...['--allow-ssh', dirname(this.env.identityFile), '--allow-path', dirname(this.files.secretFile)],
      ],
      this.port,
      {
        HEAL_WEBHOOK_SECRET: WEBHOOK_SECRET,
        XDG_CACHE_HOME: join(this.root, 'cache'),
        ...this.credentials(),
      },
    );
    this.daemons.push(this.daemon);
    return this.daemon;
  }

  /** The registry credentials heal runs with: the password is one of the secrets. */
  credentials(): Record<string, string> {
    return {
      HEAL_REGISTRY: this.env.registry,
      HEAL_REGISTRY_USER: 'chaos',
      HEAL_REGISTRY_PASSWORD: this.secrets[2]!,
    };
  }

  /** SIGKILLs the daemon and waits for it to be gone. */
  async killDaemon(): Promise<void> {
    this.daemon.signal('SIGKILL');
    await this.daemon.exited;
  }

  /** Pushes `text` as stack.yml and tells the daemon at once, as a forge's webhook would. */
  async push(text: string, message: string, files: Readonly<Record<string, string>> = {}): Promise<string> {
    const sha = await this.remote.push(text, message, files);
    await this.poke(sha);
    return sha;
  }

  /** What a forge sends on a push: the daemon fetches at once instead of at its next poll. */
  async poke(sha: string): Promise<void> {
    if (!this.daemon?.running()) return;
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { full_name: 'chaos' } });
    await postHook(this.port, body, githubSignature(WEBHOOK_SECRET, body)).catch(() => undefined);
  }

  /** Commits `shape` as the spec the fleet must reach. */
  async commit(shape: Shape, message: string): Promise<string> {
    this.shape = shape;
    return this.push(specText(this.env, shape, this.files), message);
  }

  /** A tag no host has pulled yet: web:v1's manifest copied under a new name in the registry. */
  async newTag(): Promise<string> {
    this.#tags += 1;
    const tag = `r${this.#tags}-${randomBytes(3).toString('hex')}`;
    const accept = 'application/vnd.docker.distribution.manifest.v2+json';
    const from = await fetch(`http://${this.env.registry}/v2/web/manifests/v1`, { headers: { accept } });
    if (!from.ok) throw new Error(`registry: web:v1 manifest: ${from.status}`);
    const put = await fetch(`http://${this.env.registry}/v2/web/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': from.headers.get('content-type') ?? accept },
      body: Buffer.from(await from.arrayBuffer()),
    });
    if (!put.ok) throw new Error(`registry: tagging ${tag}: ${put.status} ${await put.text()}`);
    return tag;
  }

  wanted(shape: Shape = this.shape): Record<string, Wanted> {
    const image = imageOf(this.env, shape);
    return Object.fromEntries(
      Object.entries(replicasOf(shape)).map(([service, replicas]) => [service, { replicas, image }]),
    );
  }

  /** Slots per service on `hosts`, in the monitor's latest look. */
  async slotsOn(hosts: readonly string[]): Promise<Record<string, number>> {
    const sample = await this.monitor.sampleNow();
    const taken: Record<string, number> = {};
    for (const host of hosts)
      for (const item of sample.hosts.get(host) ?? [])
        if (item.labels['io.heal.stack'] === 'chaos' && item.state === 'running') {
          const service = item.labels['io.heal.service'] ?? '';
          taken[service] = (taken[service] ?? 0) + 1;
        }
    return taken;
  }

  /** Waits until the fleet without `away` matches the shape; returns the census it ended on. */
  async waitFor(away: readonly string[], timeoutMs: number, shape: Shape = this.shape): Promise<Census> {
    const deadline = Date.now() + timeoutMs;
    const skip = new Set(away);
    for (;;) {
      const found = census(await this.monitor.sampleNow(), this.wanted(shape), skip);
      if (found.problems.length === 0) return found;
      if (Date.now() > deadline)
        throw new Error(`not converged after ${timeoutMs / 1000} s:\n  ${found.problems.join('\n  ')}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /**
   * `node bin/heal.js ARGS` with the daemon's registry credentials, in a folder holding the
   * newest good spec as stack.yml: its exit code and output.
   */
  cli(args: readonly string[]): Promise<{ code: number; output: string }> {
    const cwd = join(this.root, 'cli');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, 'stack.yml'), specText(this.env, this.shape, this.files));
    return new Promise((resolve) => {
      execFile(
        'node',
        [fileURLToPath(new URL('../../bin/heal.js', import.meta.url)), ...args],
        {
          cwd,
          env: { ...process.env, ...this.credentials() },
          maxBuffer: 64 * 1024 * 1024,
          timeout: 120_000,
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
      );
    });
  }

  status(): Promise<Status> {
    return statusOf(this.port);
  }

  /** Everything every daemon wrote (stdout and stderr), killed ones included, joined. */
  output(): string {
    return this.daemons.map((item) => `${item.stdout()}\n${item.stderr()}`).join('\n');
  }

  /** Log lines of the current daemon with message `msg`, from line `from` on. */
  logged(msg: string, from = 0): number {
    return this.daemon
      .lines()
      .slice(from)
      .filter((line) => line.msg === msg).length;
  }

  countSecrets(text: string): number {
    return this.secrets.reduce((sum, secret) => sum + text.split(secret).length - 1, 0);
  }

  /** The record of a fault not run because an earlier one left the fleet unconverged. */
  notRun(name: string): FaultRecord {
    const record: FaultRecord = {
      fault: name,
      injected: false,
      survived: false,
      duplicates: 0,
      orphans: 0,
      unmanagedTouched: 0,
      secretsLogged: 0,
      leaked: 0,
      belowMinimumSeconds: 0,
      convergeSeconds: null,
      notes: [`not run: the fleet never converged after "${this.broken}"`],
    };
    this.records.push(record);
    return record;
  }

  /**
   * Runs one fault: `body` injects it (calling `injectedNow`), waits as it needs, and repairs
   * it. Then the whole fleet must match the shape, with every invariant measured into a record.
   */
  async fault(
    name: string,
    body: (run: FaultRun) => Promise<Injection>,
    finalTimeoutMs = 90_000,
  ): Promise<FaultRecord> {
    if (this.broken !== null) return this.notRun(name);
    await this.waitFor([], 90_000);
    await this.bystanders.rebase();
    const outputBefore = this.output().length;
    const notes: string[] = [];
    let injectedAt = Date.now();
    let taken: Readonly<Record<string, number>> = {};
    let faultHosts: ReadonlySet<string> = new Set();
    let minimum = replicasOf(this.shape);
    let convergedAt: number | null = null;
    let injection: Injection = { injected: false };
    let failure: string | null = null;
    let struck: readonly string[] = [];
    const run: FaultRun = {
      injectedNow: (slots = {}, hosts = []) => {
        injectedAt = Date.now();
        taken = slots;
        faultHosts = new Set(hosts);
        const now = replicasOf(this.shape);
        minimum = Object.fromEntries(
          Object.entries(now).map(([service, count]) => [
            service,
            Math.min(count, minimum[service] ?? count),
          ]),
        );
      },
      converged: async (away = [], timeoutMs = 90_000) => {
        await this.waitFor(away, timeoutMs);
        convergedAt ??= Date.now();
      },
      convergedNow: () => {
        convergedAt ??= Date.now();
      },
      note: (text) => notes.push(text),
      struck: (hosts) => (struck = hosts),
    };
    try {
      injection = await body(run);
    } catch (error) {
      failure = (error as Error).message;
    }
    let final: Census;
    try {
      final = await this.waitFor([], finalTimeoutMs);
    } catch (error) {
      failure ??= (error as Error).message;
      final = census(await this.monitor.sampleNow(), this.wanted());
      this.broken = name;
    }
    convergedAt ??= failure === null ? Date.now() : null;
    const touched = await this.bystanders.touched(new Set(struck));
    const secretsLogged = this.countSecrets(this.output().slice(outputBefore));
    const below = this.monitor.belowMinimumSeconds(injectedAt, minimum, taken, faultHosts);
    if (failure) notes.push(failure);
    notes.push(...touched);
    if (below.worst) notes.push(`below minimum: ${below.worst}`);
    if (below.unknownSeconds > 0)
      notes.push(
        `not counted: ${below.unknownSeconds} s in which a host the fault spared did not answer the monitor`,
      );
    if (secretsLogged > 0) notes.push(`${secretsLogged} secret values in the daemon's output`);
    const leaks = injection.leaks ?? [];
    notes.push(...leaks);
    const record: FaultRecord = {
      fault: name,
      injected: injection.injected,
      survived:
        failure === null &&
        final.duplicates === 0 &&
        final.orphans === 0 &&
        touched.length === 0 &&
        secretsLogged === 0 &&
        leaks.length === 0 &&
        below.seconds === 0,
      duplicates: final.duplicates,
      orphans: final.orphans,
      unmanagedTouched: touched.length,
      secretsLogged,
      leaked: leaks.length,
      belowMinimumSeconds: below.seconds,
      convergeSeconds: convergedAt === null ? null : Math.round((convergedAt - injectedAt) / 100) / 10,
      notes,
    };
    this.records.push(record);
    return record;
  }
}
