/**
 * What a commit cannot reach: the real `heal watch --repo` on a real local git repository, run
 * with credentials in its environment and an operator's secret file beside it, while hostile
 * commits try each way to copy them out (a variable, a pass-through, /proc/self/environ, an
 * absolute env_file, a symbolic link out of the repository, their own known_hosts, an alias bomb).
 * Each is rejected with its message in /status and the log, the last good spec stays, the daemon
 * goes on, and no secret value appears anywhere in what it prints or serves. The stack has no
 * hosts: only loading is judged, so no engine is needed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  githubSignature,
  killStartedWatches,
  postHook,
  startWatch,
  statusOf,
  until,
  type Status,
  type Watch,
} from '../e2e/watch-helpers.js';

const HEAL = new URL('../../bin/heal.js', import.meta.url).pathname;

/** The daemon's own credentials, and a secret of the operator's outside the repository. */
const SECRETS = {
  HEAL_GIT_TOKEN: 'ghp_trust-git-token-51d0',
  HEAL_WEBHOOK_SECRET: 'trust-webhook-secret-8e2a',
  HEAL_REGISTRY_PASSWORD: 'trust-registry-password-c47b',
  HEAL_SSH_PASSPHRASE: 'trust-ssh-passphrase-09fe',
};
const OPERATOR_SECRET = 'operator-db-password-6b3d';
const OUTSIDE = 'is outside the repository; heal watch reads files only inside it or under --allow-path';
const HEAL_OWN = "is heal's own (HEAL_*): heal watch never passes it to the spec";

let root: string;
let work: string;
let bare: string;
let operator: string;
let sshDir: string;
let daemon: Watch;
let port: number;
/** Every /status body the test read, to look for secrets in them too. */
const served: string[] = [];

function git(...args: string[]): string {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LC_ALL: 'C' };
  return execFileSync('git', ['-c', 'user.name=heal test', '-c', 'user.email=t@heal.invalid', ...args], {
    cwd: work,
    env,
    encoding: 'utf8',
  }).trim();
}

/** The good spec: an in-repository secret, and known_hosts from the folder the operator allows. */
function goodSpec(replicas: number): string {
  return [
    'name: trust',
    'x-heal:',
    `  ssh: { known_hosts: ${join(sshDir, 'known_hosts')} }`,
    'services:',
    '  web:',
    '    image: registry.example.com/web:v1',
    '    labels: { tag: "${TAG:-none}" }',
    '    secrets: [app]',
    `    deploy: { replicas: ${replicas} }`,
    'secrets:',
    '  app: { file: app-secret.txt }',
    '',
  ].join('\n');
}

/** Commits `files` over the work tree (`-> target` makes a symbolic link), pushes, pokes the daemon. */
async function push(files: Readonly<Record<string, string>>, message: string): Promise<string> {
  for (const [name, content] of Object.entries(files)) {
    const path = join(work, name);
    rmSync(path, { force: true });
    if (content.startsWith('-> ')) symlinkSync(content.slice(3), path);
    else writeFileSync(path, content);
  }
  git('add', '--all');
  git('commit', '--quiet', '-m', message);
  git('push', '--quiet', 'origin', 'HEAD:main');
  const sha = git('rev-parse', 'HEAD');
  const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
  const hook = await postHook(port, body, githubSignature(SECRETS.HEAL_WEBHOOK_SECRET, body));
  expect(hook.status).toBe(202);
  return sha;
}

async function status(): Promise<Status> {
  const now = await statusOf(port);
  served.push(JSON.stringify(now));
  return now;
}

/** Waits until /status reports `sha` rejected, and returns its error. */
async function rejected(sha: string): Promise<string> {
  return until(`revision ${sha.slice(0, 12)} rejected`, 60_000, async () => {
    const now = await status();
    return now.specError?.startsWith(`revision ${sha.slice(0, 12)}: `) ? now.specError : undefined;
  });
}

/** The error logged for `sha`'s rejection. */
function logged(sha: string): string | undefined {
  const line = daemon
    .lines()
    .find(
      (entry) =>
        entry.msg === 'spec rejected; the last good spec stays in force' &&
        String(entry.error).startsWith(`revision ${sha.slice(0, 12)}: `),
    );
  return line === undefined ? undefined : String(line.error);
}

let good: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'heal-trust-'));
  bare = join(root, 'remote.git');
  work = join(root, 'work');
  operator = join(root, 'operator');
  sshDir = join(root, 'ssh');
  for (const dir of [work, operator, sshDir]) mkdirSync(dir);
  writeFileSync(join(operator, 'daemon.env'), `DB_PASSWORD=${OPERATOR_SECRET}\n`);
  writeFileSync(join(sshDir, 'known_hosts'), '');
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  git('init', '--quiet', '--initial-branch=main');
  git('remote', 'add', 'origin', bare);
  writeFileSync(join(work, 'app-secret.txt'), 'app secret in the repository\n');
  writeFileSync(join(work, 'stack.yml'), goodSpec(1));
  git('add', '--all');
  git('commit', '--quiet', '-m', 'good');
  git('push', '--quiet', 'origin', 'HEAD:main');
  good = git('rev-parse', 'HEAD');

  port = await freePort();
  daemon = startWatch(
    root,
    ['--repo', bare, '--ref', 'main', '--path', 'stack.yml', '--allow-env', 'TAG', '--allow-ssh', sshDir],
    port,
    {
      ...SECRETS,
      HEAL_REGISTRY: 'registry.example.com',
      HEAL_REGISTRY_USER: 'ci',
      TAG: 'v1',
      XDG_CACHE_HOME: join(root, 'cache'),
    },
  );
  await until('the good spec loaded', 60_000, async () => {
    const now = await status();
    return now.revision === good && now.specError === null ? true : undefined;
  });
});

afterAll(() => {
  killStartedWatches();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('heal watch: a hostile commit reaches nothing the daemon holds', () => {
  it('loads the good spec with its allowed variable and its in-repository secret', async () => {
    const now = await status();
    expect(now.stack).toBe('trust');
    expect(now.specError).toBeNull();
  });

  const attacks: { name: string; files: () => Record<string, string>; message: () => string }[] = [
    {
      name: 'a label made of ${HEAL_GIT_TOKEN}',
      files: () => ({ 'stack.yml': goodSpec(1).replace('"${TAG:-none}"', '"${HEAL_GIT_TOKEN}"') }),
      message: () => `stack.yml:7:20 services.web.labels.tag: variable HEAL_GIT_TOKEN ${HEAL_OWN}`,
    },
    {
      name: 'environment: [HEAL_REGISTRY_PASSWORD]',
      files: () => ({
        'stack.yml': goodSpec(1).replace(
          '    secrets: [app]',
          '    secrets: [app]\n    environment: [HEAL_REGISTRY_PASSWORD]',
        ),
      }),
      message: () =>
        `stack.yml:9:18 services.web.environment.HEAL_REGISTRY_PASSWORD: variable HEAL_REGISTRY_PASSWORD ${HEAL_OWN}`,
    },
    {
      name: 'a secret file /proc/self/environ',
      files: () => ({ 'stack.yml': goodSpec(1).replace('file: app-secret.txt', 'file: /proc/self/environ') }),
      message: () => `stack.yml:11:16 secrets.app.file: /proc/self/environ ${OUTSIDE}`,
    },
    {
      name: "an absolute env_file (the operator's)",
      files: () => ({
        'stack.yml': goodSpec(1).replace(
          '    secrets: [app]',
          `    secrets: [app]\n    env_file: ${join(operator, 'daemon.env')}`,
        ),
      }),
      message: () => `stack.yml:9:15 services.web.env_file: ${join(operator, 'daemon.env')} ${OUTSIDE}`,
    },
    {
      name: 'a symbolic link out of the repository',
      files: () => ({
        'loot.txt': `-> ${join(operator, 'daemon.env')}`,
        'stack.yml': goodSpec(1).replace('file: app-secret.txt', 'file: loot.txt'),
      }),
      message: () =>
        `stack.yml:11:16 secrets.app.file: loot.txt resolves to ${join(operator, 'daemon.env')}, outside the repository; heal watch reads files only inside it or under --allow-path`,
    },
    {
      name: 'a known_hosts of its own, in the repository',
      files: () => ({
        known_hosts:
          'attacker.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHH\n',
        'stack.yml': goodSpec(1).replace(
          `known_hosts: ${join(sshDir, 'known_hosts')}`,
          'known_hosts: ./known_hosts',
        ),
      }),
      message: () =>
        'stack.yml:3:23 x-heal.ssh.known_hosts: ./known_hosts is inside the repository; heal watch takes known_hosts and identity files only from an --allow-ssh folder, so that a commit cannot choose which SSH servers heal trusts',
    },
    {
      name: "a secret that names heal's own SSH files",
      files: () => ({
        'stack.yml': goodSpec(1).replace('file: app-secret.txt', `file: ${join(sshDir, 'known_hosts')}`),
      }),
      message: () =>
        `stack.yml:11:16 secrets.app.file: ${join(sshDir, 'known_hosts')} is under an --allow-ssh folder; heal watch never reads its own SSH files into a stack`,
    },
    {
      name: 'one 200 KB value aliased 10,000 times',
      files: () => ({
        'stack.yml': `x-a: &a "${'A'.repeat(200_000)}\${TAG}"\n${goodSpec(1).replace('    secrets: [app]', `    secrets: [app]\n    command: [${Array.from({ length: 10_000 }, () => '*a').join(', ')}]`)}`,
      }),
      message: () =>
        'stack.yml:1:1: the document expands to more than 16 MiB of text (a large value aliased too often?)',
    },
  ];

  for (const attack of attacks) {
    it(`rejects ${attack.name}, in /status and the log, and keeps the good spec`, async () => {
      const sha = await push(attack.files(), attack.name);
      const error = await rejected(sha);
      expect(error).toBe(`revision ${sha.slice(0, 12)}: ${attack.message()}`);
      expect(await until('the rejection logged', 10_000, async () => logged(sha))).toBe(error);
      const now = await status();
      expect(now.revision).toBe(good);
      expect(daemon.running()).toBe(true);
      // Back to the good tree for the next attack: only one hostile change per commit.
      if (attack.files()['loot.txt']) unlinkSync(join(work, 'loot.txt'));
      if (attack.files().known_hosts) unlinkSync(join(work, 'known_hosts'));
    }, 90_000);
  }

  it('takes the next good commit, and nothing it printed or served holds a secret', async () => {
    const sha = await push({ 'stack.yml': goodSpec(2) }, 'good again');
    await until('the new good revision', 60_000, async () => {
      const now = await status();
      return now.revision === sha && now.specError === null ? true : undefined;
    });
    const everything = [daemon.stdout(), daemon.stderr(), ...served].join('\n');
    expect(everything).toContain('spec rejected');
    for (const secret of [...Object.values(SECRETS), OPERATOR_SECRET])
      expect(everything).not.toContain(secret);
  }, 90_000);
});

describe('heal watch refuses at start what would hand a commit a credential', () => {
  function start(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        'node',
        [HEAL, 'watch', '--repo', bare, ...args, '--listen', '127.0.0.1:0'],
        { env: { ...process.env, XDG_CACHE_HOME: join(root, 'cache-refused'), ...env }, timeout: 30_000 },
        (error, _stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: number }).code) : 0, stderr: String(stderr) }),
      );
    });
  }

  it('refuses to allow a HEAL_* variable', async () => {
    expect(await start(['--allow-env', 'TAG,HEAL_GIT_TOKEN'])).toEqual({
      code: 64,
      stderr:
        "--allow-env HEAL_GIT_TOKEN: names starting with HEAL_ are heal's own settings and credentials; a spec never reads them\n",
    });
  });

  it('refuses an --allow-path that is not a folder', async () => {
    const missing = join(root, 'nowhere');
    expect(await start(['--allow-path', missing])).toEqual({
      code: 64,
      stderr: `--allow-path ${missing}: not a folder\n`,
    });
  });

  it('refuses an --allow-path that overlaps an --allow-ssh folder', async () => {
    expect(await start(['--allow-ssh', sshDir, '--allow-path', root])).toEqual({
      code: 64,
      stderr: `--allow-path ${root} overlaps --allow-ssh ${sshDir}: a spec could read heal's SSH files as a secret\n`,
    });
  });

  it('refuses registry credentials that do not say which registry they are for', async () => {
    const outcome = await start([], {
      HEAL_REGISTRY_USER: 'ci',
      HEAL_REGISTRY_PASSWORD: SECRETS.HEAL_REGISTRY_PASSWORD,
    });
    expect(outcome).toEqual({
      code: 64,
      stderr:
        'HEAL_REGISTRY_USER and HEAL_REGISTRY_PASSWORD are set without HEAL_REGISTRY: set HEAL_REGISTRY=host[:port] to the one registry they log in to (heal sends them to no other)\n',
    });
  });
});
