/**
 * The faults, each a function of the running suite: inject, wait as a user would, repair. The
 * measurement around each is `Chaos.fault`; what must hold is in test/chaos/README.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testbed } from '../testbed.js';
import { dockerAt, type LogLine } from '../e2e/watch-helpers.js';
import type { Chaos, FaultRecord, FaultRun } from './harness.js';
import { WEBHOOK_SECRET } from './harness.js';
import { scanContainers, scanOutputs } from './leaks.js';
import { splitView } from './split-view.js';
import { isOwned, type Seen } from './monitor.js';
import {
  aliasBomb,
  byteBomb,
  hostileSpec,
  HOSTS,
  LINK_NAME,
  type Loot,
  hugeSpec,
  invalidYaml,
  portTakenSpec,
  schemaError,
  STACK,
  TAKEN_PORT,
  unknownTag,
  zeroSpec,
  type Shape,
} from './stack.js';

export type Fault = {
  readonly name: string;
  /** Part of the short run (`npm test`); the full run (`npm run chaos`) runs every fault. */
  readonly short: boolean;
  readonly run: (chaos: Chaos) => Promise<FaultRecord>;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the current daemon logs a line (from line `from` on) that `match` accepts. */
async function logLine(
  chaos: Chaos,
  from: number,
  match: (line: LogLine) => boolean,
  timeoutMs: number,
): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = chaos.daemon.lines().slice(from).find(match);
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(`the daemon did not log what was awaited in ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

const rolloutBatch = (line: LogLine): boolean =>
  line.msg === 'phase started' && String(line.phase ?? '').includes('update batch');

/** Until the daemon reports the spec at `sha` rejected (or the reconcile of it failed). */
async function rejected(chaos: Chaos, sha: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await chaos.status().catch(() => null);
    if (status?.specError?.includes(sha.slice(0, 12))) return status.specError;
    // Loaded, but heal will not run it: a rollout stopped, or slots that no host can take.
    const outcome = status?.lastReconcile?.outcome ?? '';
    if (status?.revision === sha && ['failed', 'rolled_back', 'paused', 'waiting'].includes(outcome))
      return `${outcome}: ${status.lastReconcile?.message ?? ''}`;
    if (Date.now() > deadline)
      throw new Error(`the daemon did not report revision ${sha.slice(0, 12)} as bad`);
    await sleep(200);
  }
}

/** A running replica of `service`, chosen at random from the monitor's look now. */
async function someReplica(chaos: Chaos, service: string, away: readonly string[] = []): Promise<Seen> {
  const sample = await chaos.monitor.sampleNow();
  const candidates = [...sample.hosts.entries()]
    .filter(([host]) => !away.includes(host))
    .flatMap(([, list]) => list ?? [])
    .filter(
      (item) => isOwned(item) && item.labels['io.heal.service'] === service && item.state === 'running',
    );
  const chosen = candidates[Math.floor(chaos.rand() * candidates.length)];
  if (!chosen) throw new Error(`no running replica of ${service} to strike`);
  return chosen;
}

/** Kills a running web replica by hand and waits for heal to bring the slot back (healing goes on). */
async function stillHeals(chaos: Chaos, run: FaultRun): Promise<void> {
  await stillHealsOff(chaos, run, []);
}

/** stillHeals, with a victim on a host other than `away`, and those hosts left out of the census. */
async function stillHealsOff(chaos: Chaos, run: FaultRun, away: readonly string[]): Promise<void> {
  const victim = await someReplica(chaos, 'web', away);
  const started = Date.now();
  await dockerAt(chaos.env, victim.host, ['kill', victim.id]);
  await sleep(500);
  await run.converged(away, 60_000);
  if (away.length > 0)
    run.note(
      `a web replica killed on ${victim.host} ran again in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
}

function scaled(chaos: Chaos): Shape {
  const pick = (low: number, high: number, not: number): number => {
    for (;;) {
      const value = low + Math.floor(chaos.rand() * (high - low + 1));
      if (value !== not) return value;
    }
  };
  return { ...chaos.shape, web: pick(6, 11, chaos.shape.web), api: pick(3, 6, chaos.shape.api) };
}

function healKilledMidApply(index: number, short: boolean): Fault {
  return {
    name: `heal SIGKILLed mid-apply #${index}`,
    short,
    run: (chaos) =>
      chaos.fault(`heal SIGKILLed mid-apply #${index}`, async (run) => {
        const from = chaos.daemon.lines().length;
        await chaos.commit(scaled(chaos), `chaos: scale (kill point ${index})`);
        await logLine(chaos, from, (line) => line.msg === 'action planned', 30_000);
        // The kill point: after k of the n actions are done, k drawn from 0..n-2.
        const count = (...messages: string[]): number =>
          chaos.daemon
            .lines()
            .slice(from)
            .filter((line) => messages.includes(line.msg)).length;
        const planned = count('action planned');
        // Below n - 1 when it can be: the last action may finish between the look and the kill.
        const k = Math.floor(chaos.rand() * Math.max(1, planned - 1));
        await logLine(chaos, from, () => count('action done', 'action failed') >= k, 30_000);
        const pending = count('action done', 'action failed') < count('action planned');
        run.injectedNow();
        await chaos.killDaemon();
        run.note(`killed after ${k} of ${planned} actions`);
        chaos.startDaemon();
        await run.converged();
        return { injected: pending };
      }),
  };
}

function healKilledMidRollout(index: number, short: boolean): Fault {
  return {
    name: `heal SIGKILLed mid-rollout #${index}`,
    short,
    run: (chaos) =>
      chaos.fault(`heal SIGKILLed mid-rollout #${index}`, async (run) => {
        const from = chaos.daemon.lines().length;
        await chaos.commit(
          { ...chaos.shape, tag: await chaos.newTag() },
          `chaos: roll out (kill point ${index})`,
        );
        await logLine(chaos, from, rolloutBatch, 30_000);
        const delay = Math.floor(chaos.rand() * 3_000);
        await sleep(delay);
        const ended = chaos.daemon
          .lines()
          .slice(from)
          .some((line) => line.msg === 'rollout ended');
        run.injectedNow();
        await chaos.killDaemon();
        run.note(`killed ${delay} ms into the rollout`);
        chaos.startDaemon();
        await run.converged();
        return { injected: !ended };
      }),
  };
}

/** Where a container named `name` is, on any host, once it exists (null after `timeoutMs`). */
async function findContainer(chaos: Chaos, name: string, timeoutMs: number): Promise<Seen | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sample = await chaos.monitor.sampleNow();
    const found = [...sample.hosts.values()].flatMap((list) => list ?? []).find((item) => item.name === name);
    if (found) return found;
    if (Date.now() > deadline) return null;
    await sleep(100);
  }
}

/** The content of `path` in a container, or null when it has no such file (it may be stopped or never started). */
async function fileIn(chaos: Chaos, container: Seen, path: string): Promise<string | null> {
  return dockerAt(chaos.env, container.host, ['cp', `${container.id}:${path}`, '-'])
    .then((tar) => tar)
    .catch(() => null);
}

/**
 * The daemon dies after it created a replica that carries a secret and before it copied the
 * secret in. Deterministic: the daemon is stopped (SIGSTOP) as soon as it logs the create call
 * of a new api replica, a create takes the engine far longer than that log line takes to arrive,
 * and the replica is seen created and without its file before the SIGKILL. The next daemon must
 * not start that replica as it is (the service would run without /run/secrets): every api
 * replica ends with its secret.
 */
const killedBeforeSecretCopy: Fault = {
  name: 'heal SIGKILLed between a create and its secret copy',
  short: false,
  run: (chaos) =>
    chaos.fault('heal SIGKILLed between a create and its secret copy', async (run) => {
      const from = chaos.daemon.stdout().length;
      await chaos.commit({ ...chaos.shape, api: chaos.shape.api + 1 }, 'chaos: one more api replica');
      const deadline = Date.now() + 30_000;
      let name: string | undefined;
      while (name === undefined) {
        const text = chaos.daemon.stdout().slice(from);
        name = /"operation":"create (chaos-api-[^"]+)"/.exec(text)?.[1];
        if (name !== undefined) break;
        if (Date.now() > deadline) throw new Error('the daemon never created an api replica');
        await sleep(5);
      }
      chaos.daemon.signal('SIGSTOP');
      run.injectedNow();
      const created = await findContainer(chaos, name, 15_000);
      const secret = created === null ? null : await fileIn(chaos, created, '/run/secrets/api_token');
      const injected = created?.state === 'created' && secret === null;
      run.note(
        `stopped at the create of ${name}: ${created === null ? 'never seen' : `${created.host}, ${created.state}, ${secret === null ? 'without' : 'with'} its secret`}`,
      );
      await chaos.killDaemon();
      chaos.startDaemon();
      await run.converged();
      const token = chaos.secrets[0]!;
      const sample = await chaos.monitor.sampleNow();
      for (const replica of [...sample.hosts.values()].flatMap((list) => list ?? []))
        if (isOwned(replica) && replica.labels['io.heal.service'] === 'api') {
          const content = await dockerAt(chaos.env, replica.host, [
            'exec',
            replica.id,
            'cat',
            '/run/secrets/api_token',
          ]).catch((error: Error) => `(${error.message})`);
          if (!content.includes(token))
            throw new Error(
              `${replica.host}/${replica.name} runs without its secret: ${content.slice(0, 200)}`,
            );
        }
      return { injected };
    }),
};

type HostVerb = 'kill' | 'freeze' | 'cut' | 'hang-engine' | 'rekey' | 'revoke';
const REPAIR: Record<HostVerb, string> = {
  kill: 'revive',
  freeze: 'thaw',
  cut: 'mend',
  'hang-engine': 'unhang-engine',
  rekey: 'restore-key',
  revoke: 'grant',
};
const DONE: Record<HostVerb, string> = {
  kill: 'killed',
  freeze: 'frozen',
  cut: 'cut off',
  'hang-engine': 'dockerd hung',
  rekey: 'SSH host key changed',
  revoke: 'SSH access revoked',
};

/** Accepted logins in a host's sshd log: heal must add none while the host's key is wrong. */
function logins(chaos: Chaos, host: string): number {
  const log = join(chaos.env.knownHosts, '..', host, 'sshd.log');
  try {
    return readFileSync(log, 'utf8').split('Accepted publickey').length - 1;
  } catch {
    return 0;
  }
}

function hostFault(verb: HostVerb, hosts: readonly string[], midRollout: boolean, short: boolean): Fault {
  const name = `${hosts.join('+')} ${DONE[verb]}${midRollout ? ' mid-rollout' : ''}`;
  return {
    name,
    short,
    run: (chaos) =>
      chaos.fault(name, async (run) => {
        const from = chaos.daemon.lines().length;
        if (midRollout) {
          await chaos.commit({ ...chaos.shape, tag: await chaos.newTag() }, `chaos: roll out while ${name}`);
          await logLine(chaos, from, rolloutBatch, 30_000);
        }
        const taken = await chaos.slotsOn(hosts);
        const loginsBefore = hosts.map((host) => logins(chaos, host));
        for (const host of hosts) await testbed(verb, host);
        run.injectedNow(taken, hosts);
        if (verb === 'kill') run.struck(hosts);
        // Mid-rollout means the rollout had not ended when the fault struck.
        const ended = chaos.daemon
          .lines()
          .slice(from)
          .some((line) => line.msg === 'rollout ended');
        try {
          await run.converged(hosts, 90_000);
          // A hung engine must not hold up the healing of the others: a replica killed elsewhere comes back.
          if (verb === 'hang-engine') await stillHealsOff(chaos, run, hosts);
          if (verb === 'rekey' || verb === 'revoke') {
            const after = hosts.map((host) => logins(chaos, host));
            if (verb === 'rekey' && after.some((count, index) => count !== loginsBefore[index]))
              throw new Error(`heal logged in to a host whose key changed (${loginsBefore} → ${after})`);
            // The daemon must say why, in the words of its error kinds.
            const kind = verb === 'rekey' ? '(host-key-changed)' : '(auth-failed)';
            const said = chaos.daemon
              .lines()
              .slice(from)
              .some((line) => String(line.error ?? '').includes(kind));
            if (!said) throw new Error(`the daemon never logged ${kind} for ${hosts.join(', ')}`);
          }
        } finally {
          for (const host of hosts) await testbed(REPAIR[verb], host);
        }
        return { injected: !midRollout || !ended };
      }),
  };
}

const registryDown: Fault = {
  name: 'registry down during a rollout',
  short: true,
  run: (chaos) =>
    chaos.fault('registry down during a rollout', async (run) => {
      const tag = await chaos.newTag();
      await testbed('stop-registry');
      let tried: boolean;
      try {
        run.injectedNow();
        const from = chaos.daemon.lines().length;
        await chaos.commit({ ...chaos.shape, tag }, 'chaos: roll out while the registry is down');
        tried = await logLine(
          chaos,
          from,
          (line) =>
            line.msg === 'action failed' || (line.msg === 'reconcile done' && line.outcome === 'failed'),
          30_000,
        )
          .then(() => true)
          .catch(() => false);
        await sleep(2_000);
      } finally {
        await testbed('start-registry');
      }
      await run.converged([], 120_000);
      return { injected: tried };
    }),
};

const engineRestart: Fault = {
  name: 'dockerd restarted on h2',
  // Full mode only: heal now replaces the replicas whose start failed (exit 128), but Docker 20.10
  // then fails to remove the old ones (overlay2 "device or resource busy", "Removal In Progress")
  // until the host reboots; see "Known" in test/chaos/README.md.
  short: false,
  run: (chaos) =>
    chaos.fault('dockerd restarted on h2', async (run) => {
      const taken = await chaos.slotsOn(['h2']);
      await testbed('restart-engine', 'h2');
      run.injectedNow(taken, ['h2']);
      run.struck(['h2']);
      await run.converged([], 90_000);
      return { injected: true };
    }),
};

function byHand(what: 'removed' | 'stopped' | 'renamed', short: boolean): Fault {
  const name = `a container ${what} by hand`;
  return {
    name,
    short,
    run: (chaos) =>
      chaos.fault(name, async (run) => {
        const victim = await someReplica(chaos, 'web');
        const args = {
          removed: ['rm', '-f', victim.id],
          stopped: ['stop', victim.id],
          renamed: ['rename', victim.id, `${victim.name}-renamed`],
        }[what];
        await dockerAt(chaos.env, victim.host, args);
        run.injectedNow({ web: 1 });
        await run.converged([], 60_000);
        return { injected: true };
      }),
  };
}

/**
 * A stranger (a container without heal's labels) holds the name heal gives a slot's new replica
 * when heal must create one. The name is taken before the replica is removed: heal recreates a
 * removed replica within a second (sooner when a look that `rm -f`'s kill started lands just after
 * the removal), and on a busy machine it won the race for the freed name against the stranger's
 * `docker run`, which then failed with a name conflict. A replica that holds the name is renamed
 * aside first, which heal leaves alone (it knows a replica by its labels). The stranger holds the
 * name on every host, so that the clash does not depend on where heal places the slot.
 */
const collidingName: Fault = {
  name: 'a hand-started container takes a replica’s name',
  short: false,
  run: (chaos) =>
    chaos.fault('a hand-started container takes a replica’s name', async (run) => {
      const victim = await someReplica(chaos, 'web');
      const slot = victim.labels['io.heal.slot'] ?? '';
      // The name heal gives a new replica of the slot (src/planner/create.ts).
      const name = `${STACK}-web-${slot}`;
      if (victim.name === name)
        await dockerAt(chaos.env, victim.host, ['rename', victim.id, `${name}-aside`]);
      for (const host of HOSTS) await chaos.bystanders.start(host, ['--name', name, chaos.env.images.web1]);
      await dockerAt(chaos.env, victim.host, ['rm', '-f', victim.id]);
      run.injectedNow({ web: 1 });
      await run.converged([], 60_000);
      const sample = await chaos.monitor.sampleNow();
      const replica = [...sample.hosts.values()]
        .flatMap((list) => list ?? [])
        .find(
          (item) =>
            isOwned(item) && item.labels['io.heal.service'] === 'web' && item.labels['io.heal.slot'] === slot,
        );
      run.note(
        `web.${slot} (removed on ${victim.host}) runs again as ${replica?.host}/${replica?.name}; the strangers hold ${name}`,
      );
      return { injected: true };
    }),
};

/** Every host's bystander runs, holding TAKEN_PORT: else the port fault would test nothing. */
async function portHeldEverywhere(chaos: Chaos): Promise<void> {
  const sample = await chaos.monitor.sampleNow();
  for (const host of HOSTS) {
    const held = (sample.hosts.get(host) ?? []).some(
      (item) => item.name === 'chaos-bystander' && item.state === 'running',
    );
    if (!held) throw new Error(`${host}: its bystander does not run, so port ${TAKEN_PORT} is free there`);
  }
}

/** A commit heal must refuse: the fleet keeps the last good spec, and heal goes on healing it. */
function badCommit(
  name: string,
  text: (chaos: Chaos) => string,
  short: boolean,
  precondition: (chaos: Chaos) => Promise<void> = async () => undefined,
): Fault {
  return {
    name: `commit: ${name}`,
    short,
    run: (chaos) =>
      chaos.fault(`commit: ${name}`, async (run) => {
        await precondition(chaos);
        const pid = chaos.daemon.pid;
        const sha = await chaos.push(text(chaos), `chaos: ${name}`);
        run.injectedNow();
        const why = await rejected(chaos, sha, 60_000);
        run.convergedNow();
        run.note(`reported: ${why.slice(0, 160)}`);
        await stillHeals(chaos, run);
        // The next good commit moves on from it.
        await chaos.commit({ ...chaos.shape }, `chaos: after ${name}`);
        await run.converged([], 60_000);
        // Survived: the same process (a daemon that died and came back would have lost the fleet meanwhile).
        if (!chaos.daemon.running() || chaos.daemon.pid !== pid)
          throw new Error('the daemon did not survive the commit');
        return { injected: true };
      }),
  };
}

/**
 * One commit tries every way to copy what the daemon holds into a container or an output (see
 * hostileSpec): it must be rejected, and no credential may be found anywhere, in any container
 * on any host nor in anything heal printed or served. Then healing goes on and the next good
 * commit rolls in, as for any bad commit.
 */
const hostileCommit: Fault = {
  name: 'commit: every credential path at once',
  short: true,
  run: (chaos) =>
    chaos.fault('commit: every credential path at once', async (run) => {
      const outputFrom = chaos.output().length;
      const operator = join(chaos.root, 'operator');
      mkdirSync(operator, { recursive: true });
      const envSecret = `chaos-operator-env-${randomBytes(8).toString('hex')}`;
      const fileSecret = `chaos-operator-file-${randomBytes(8).toString('hex')}`;
      const loot: Loot = {
        identityFile: chaos.env.identityFile,
        outsideEnvFile: join(operator, 'daemon.env'),
        outsideFile: join(operator, 'db-password'),
      };
      writeFileSync(loot.outsideEnvFile, `DB_PASSWORD=${envSecret}\n`);
      writeFileSync(loot.outsideFile, `${fileSecret}\n`);
      // The private key's body: its longest line stands for it.
      const keyLine = readFileSync(chaos.env.identityFile, 'utf8')
        .split('\n')
        .reduce((longest, line) => (line.length > longest.length ? line : longest), '');
      const credentials = new Map([
        ['the registry password', chaos.secrets[2]!],
        ['the webhook secret', WEBHOOK_SECRET],
        ["the daemon's SSH key", keyLine],
        ["the operator's env file value", envSecret],
        ["the operator's file", fileSecret],
      ]);
      const stackSecrets = new Map([
        ['the api secret', chaos.secrets[0]!],
        ['the api env_file value', chaos.secrets[1]!],
      ]);
      const sha = await chaos.push(hostileSpec(chaos.env, chaos.shape, chaos.files, loot), 'chaos: hostile', {
        [LINK_NAME]: `-> ${loot.outsideFile}`,
      });
      run.injectedNow();
      const why = await rejected(chaos, sha, 60_000);
      run.convergedNow();
      // Each path must be named in the report, not only the first one met.
      const named = [
        'HEAL_REGISTRY_PASSWORD',
        '/proc/self/environ',
        loot.outsideEnvFile,
        loot.identityFile,
        LINK_NAME,
      ];
      const unnamed = named.filter((part) => !why.includes(part));
      run.note(`reported: ${why.slice(0, 400)}`);
      if (unnamed.length > 0) run.note(`the report does not name: ${unnamed.join(', ')}`);
      await stillHeals(chaos, run);
      const leaks = [
        ...(await scanContainers(chaos, credentials, stackSecrets)),
        ...(await scanOutputs(chaos, new Map([...credentials, ...stackSecrets]), outputFrom)),
      ];
      await chaos.commit({ ...chaos.shape }, 'chaos: after the hostile commit');
      await run.converged([], 60_000);
      if (!chaos.daemon.running()) throw new Error('the daemon stopped');
      return { injected: true, leaks };
    }),
};

const gitUnreachable: Fault = {
  name: 'git remote unreachable',
  short: true,
  run: (chaos) =>
    chaos.fault('git remote unreachable', async (run) => {
      const away = `${chaos.remote.bare}.away`;
      renameSync(chaos.remote.bare, away);
      run.injectedNow();
      let reported: boolean;
      try {
        // The webhook makes the daemon fetch now: it must fail, and healing must go on.
        const from = chaos.daemon.lines().length;
        await chaos.poke('0'.repeat(40));
        reported = await logLine(chaos, from, (line) => line.msg === 'spec fetch failed', 30_000)
          .then(() => true)
          .catch(() => false);
        await stillHeals(chaos, run);
      } finally {
        renameSync(away, chaos.remote.bare);
      }
      await chaos.commit(
        { ...chaos.shape, worker: chaos.shape.worker === 2 ? 3 : 2 },
        'chaos: after the remote came back',
      );
      await run.converged([], 60_000);
      return { injected: reported };
    }),
};

export function faults(killPoints: number): Fault[] {
  const kills: Fault[] = [];
  for (let index = 1; index <= killPoints; index += 1) {
    kills.push(healKilledMidApply(index, false));
    kills.push(healKilledMidRollout(index, false));
  }
  // The short mode (npm test) keeps one fault of each kind that no other file of npm test strikes
  // at heal watch, near 3.5 minutes on a quiet machine: a hung engine, the registry down,
  // containers changed by hand, a broken and a hostile commit, the alias bomb, the git remote gone,
  // a new host key. Left to the full mode, as test/e2e/watch.test.ts strikes them at the same
  // daemon and judges them the same way (each slot exactly once, no orphan, converged): heal
  // SIGKILLed mid-rollout ("converges with no duplicate and no orphan after being SIGKILLed in the
  // middle of a rollout"; test/e2e/rollout.test.ts's "heal killed mid-rollout resumes, never has
  // more than 2 down" is its floor) and a host killed ("moves the replicas of a killed host to the
  // others, and runs no slot twice once it is back"). The invariants every fault here is measured
  // by (bystanders, secrets in the debug log, the floor) stay measured on every short fault.
  return [
    ...kills,
    hostFault('kill', ['h2'], false, false),
    hostFault('freeze', ['h3'], false, false),
    hostFault('cut', ['h4'], false, false),
    hostFault('kill', ['h1'], true, false),
    hostFault('freeze', ['h2'], true, false),
    hostFault('cut', ['h3'], true, false),
    hostFault('kill', ['h3', 'h4'], false, false),
    registryDown,
    byHand('removed', true),
    byHand('stopped', false),
    byHand('renamed', true),
    collidingName,
    badCommit('invalid YAML', (chaos) => invalidYaml(chaos.env, chaos.shape, chaos.files), true),
    badCommit('schema error', (chaos) => schemaError(chaos.env, chaos.shape, chaos.files), false),
    badCommit('unknown image tag', (chaos) => unknownTag(chaos.env, chaos.shape, chaos.files), false),
    badCommit(
      'port taken on every host',
      (chaos) => portTakenSpec(chaos.env, chaos.shape, chaos.files),
      false,
      portHeldEverywhere,
    ),
    badCommit('replicas: 0 everywhere', (chaos) => zeroSpec(chaos.env, chaos.shape, chaos.files), false),
    badCommit('YAML alias bomb', () => aliasBomb(), false),
    badCommit('byte-amplification alias bomb', () => byteBomb(), true),
    hostileCommit,
    badCommit('50 MB spec', (chaos) => hugeSpec(chaos.env, chaos.shape, chaos.files), false),
    gitUnreachable,
    hostFault('hang-engine', ['h2'], false, true),
    killedBeforeSecretCopy,
    hostFault('rekey', ['h3'], false, true),
    hostFault('revoke', ['h4'], false, false),
    // Last: Docker 20.10 can leave a container that was started while its engine shut down with its
    // root filesystem mounted twice, and then fail to remove it ("Removal In Progress"); a later
    // fault that makes heal remove that container would fail on Docker's account, not heal's.
    splitView,
    engineRestart,
  ];
}
