/**
 * What a commit can reach when heal watch loads its spec (loadStack's `confine`): variables only
 * from the .env and the allowed names, never HEAL_*; files only inside the checkout (symbolic
 * links resolved) or an allowed folder; SSH files only from an allowed folder. Every refusal is a
 * spec problem with its place, and no refused value appears in it.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allowEnvProblem, type Confinement } from '../../src/spec/confine.js';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** The daemon's secrets: none may ever appear in a stack or a message. */
const DAEMON = {
  HEAL_GIT_TOKEN: 'ghp_daemon-token-1f2e',
  HEAL_REGISTRY_PASSWORD: 'registry-pass-9a8b',
  HEAL_WEBHOOK_SECRET: 'hook-secret-7c6d',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-5e4f',
  TAG: 'v7',
  DB_HOST: 'db.internal',
};

function folder(): string {
  const made = mkdtempSync(join(tmpdir(), 'heal-confine-'));
  folders.push(made);
  return made;
}

/** A checkout holding `files` (a `-> target` value makes a symbolic link), and an outside folder. */
function checkout(files: Readonly<Record<string, string>>): { repo: string; outside: string } {
  const repo = folder();
  const outside = folder();
  writeFileSync(join(outside, 'secret.txt'), 'outside secret\n');
  writeFileSync(join(outside, 'known_hosts'), '10.0.0.1 ssh-ed25519 AAAA\n');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(repo, name)), { recursive: true });
    if (text.startsWith('-> ')) symlinkSync(text.slice(3).replace('OUTSIDE', outside), join(repo, name));
    else writeFileSync(join(repo, name), text.replaceAll('OUTSIDE', outside));
  }
  return { repo, outside };
}

function confined(overrides: Partial<Confinement> = {}): Confinement {
  return { allowEnv: [], allowPaths: [], sshPaths: [], place: 'the repository', ...overrides };
}

function load(repo: string, confine: Confinement | undefined, file = 'stack.yml'): Promise<Stack> {
  return loadStack({ file, cwd: repo, environment: DAEMON, ...(confine ? { confine } : {}) });
}

async function problems(
  repo: string,
  confine: Confinement | undefined,
  file = 'stack.yml',
): Promise<string[]> {
  const outcome = await load(repo, confine, file).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof SpecError)) throw new Error(`expected a SpecError, got ${String(outcome)}`);
  const lines = outcome.message.split('\n');
  for (const value of Object.values(DAEMON).filter((item) => item !== 'v7'))
    expect(outcome.message).not.toContain(value);
  return lines;
}

function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

describe('confined variables', () => {
  it('refuses every HEAL_* variable, in a value, behind a default, and passed through', async () => {
    const { repo } = checkout({
      'stack.yml': yaml(
        'name: t',
        'services:',
        '  web:',
        '    image: nginx',
        '    labels: { leak: "${HEAL_GIT_TOKEN}", other: "${HEAL_WEBHOOK_SECRET:-none}" }',
        '    environment: [HEAL_REGISTRY_PASSWORD]',
      ),
    });
    expect(await problems(repo, confined())).toEqual([
      "stack.yml:5:21 services.web.labels.leak: variable HEAL_GIT_TOKEN is heal's own (HEAL_*): heal watch never passes it to the spec",
      "stack.yml:5:49 services.web.labels.other: variable HEAL_WEBHOOK_SECRET is heal's own (HEAL_*): heal watch never passes it to the spec",
      "stack.yml:6:18 services.web.environment.HEAL_REGISTRY_PASSWORD: variable HEAL_REGISTRY_PASSWORD is heal's own (HEAL_*): heal watch never passes it to the spec",
    ]);
  });

  it('refuses HEAL_* even when the .env defines it, and a .env line that inherits one', async () => {
    const spec = yaml('name: t', 'services: { web: { image: "nginx:${HEAL_TAG}" } }');
    const { repo } = checkout({ 'stack.yml': spec, '.env': 'HEAL_TAG=1\n' });
    expect(await problems(repo, confined())).toEqual([
      "stack.yml:2:27 services.web.image: variable HEAL_TAG is heal's own (HEAL_*): heal watch never passes it to the spec",
    ]);
    const inherits = checkout({
      'stack.yml': yaml('name: t', 'services: { web: { image: nginx } }'),
      '.env': 'HEAL_GIT_TOKEN\n',
    });
    expect(await problems(inherits.repo, confined())).toEqual([
      `${join(inherits.repo, '.env')}:1: variable HEAL_GIT_TOKEN is heal's own (HEAL_*): heal watch never passes it to the spec`,
    ]);
  });

  it('reads the .env and the allowed names; any other variable of heal is unset', async () => {
    const { repo } = checkout({
      'stack.yml': yaml(
        'name: t',
        'services:',
        '  web:',
        '    image: "nginx:${TAG}"',
        '    labels: { aws: "${AWS_SECRET_ACCESS_KEY:-unset}", host: "${DB_HOST}", from_env_file: "${PORT}" }',
        '    environment: [AWS_SECRET_ACCESS_KEY, TAG]',
      ),
      '.env': 'PORT=8080\nDB_HOST\n',
    });
    const web = (await load(repo, confined({ allowEnv: ['TAG'] }))).services.web!;
    expect(web.image).toBe('nginx:v7');
    expect(web.labels).toEqual({ aws: 'unset', host: '', from_env_file: '8080' });
    expect(web.environment).toEqual({ AWS_SECRET_ACCESS_KEY: null, TAG: 'v7' });
    const allowed = (await load(repo, confined({ allowEnv: ['TAG', 'DB_HOST'] }))).services.web!;
    expect(allowed.labels.host).toBe('db.internal');
  });

  it('keeps compose behaviour without confinement: the whole environment, as the CLI commands', async () => {
    const { repo } = checkout({
      'stack.yml': yaml(
        'name: t',
        'services: { web: { image: nginx, labels: { token: "${HEAL_GIT_TOKEN}" } } }',
      ),
    });
    expect((await load(repo, undefined)).services.web!.labels.token).toBe(DAEMON.HEAL_GIT_TOKEN);
  });

  it('never allows a HEAL_* name or a name that is not a variable', () => {
    expect(allowEnvProblem('TAG')).toBeNull();
    expect(allowEnvProblem('HEAL_GIT_TOKEN')).toBe(
      "HEAL_GIT_TOKEN: names starting with HEAL_ are heal's own settings and credentials; a spec never reads them",
    );
    expect(allowEnvProblem('heal_registry')).not.toBeNull();
    expect(allowEnvProblem('A-B')).toBe('"A-B" is not a variable name');
  });

  it('gives a HEAL_* name nothing even when the confinement lists it', async () => {
    const { repo } = checkout({
      'stack.yml': yaml('name: t', 'services: { web: { image: nginx, labels: { t: "${HEAL_GIT_TOKEN}" } } }'),
    });
    expect(await problems(repo, confined({ allowEnv: ['HEAL_GIT_TOKEN'] }))).toHaveLength(1);
  });
});

describe('confined files', () => {
  const secret = (file: string, extra: string[] = []): string =>
    yaml(
      'name: t',
      'services:',
      '  web: { image: nginx, secrets: [loot] }',
      ...extra,
      'secrets:',
      '  loot:',
      `    file: ${file}`,
    );

  it('refuses a secret file outside the repository', async () => {
    const { repo } = checkout({ 'stack.yml': secret('/proc/self/environ') });
    expect(await problems(repo, confined())).toEqual([
      'stack.yml:6:11 secrets.loot.file: /proc/self/environ is outside the repository; heal watch reads files only inside it or under --allow-path',
    ]);
    const relative = checkout({ 'stack.yml': secret('../../etc/passwd') });
    expect(await problems(relative.repo, confined())).toEqual([
      'stack.yml:6:11 secrets.loot.file: ../../etc/passwd is outside the repository; heal watch reads files only inside it or under --allow-path',
    ]);
  });

  it('refuses a symbolic link in the repository that leads out of it, file or folder', async () => {
    const link = checkout({ 'stack.yml': secret('loot.txt'), 'loot.txt': '-> OUTSIDE/secret.txt' });
    expect(await problems(link.repo, confined())).toEqual([
      `stack.yml:6:11 secrets.loot.file: loot.txt resolves to ${join(link.outside, 'secret.txt')}, outside the repository; heal watch reads files only inside it or under --allow-path`,
    ]);
    const dir = checkout({ 'stack.yml': secret('conf/secret.txt'), conf: '-> OUTSIDE' });
    expect(await problems(dir.repo, confined())).toEqual([
      `stack.yml:6:11 secrets.loot.file: conf/secret.txt resolves to ${join(dir.outside, 'secret.txt')}, outside the repository; heal watch reads files only inside it or under --allow-path`,
    ]);
  });

  it('never reads a file under an --allow-ssh folder as data, through a link or an --allow-path either', async () => {
    const { repo, outside } = checkout({
      'stack.yml': secret('OUTSIDE/id_ed25519'),
      'key-link': '-> OUTSIDE/id_ed25519',
    });
    writeFileSync(join(outside, 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\n');
    const refused = `heal watch never reads its own SSH files into a stack`;
    expect(await problems(repo, confined({ sshPaths: [outside] }))).toEqual([
      `stack.yml:6:11 secrets.loot.file: ${join(outside, 'id_ed25519')} is under an --allow-ssh folder; ${refused}`,
    ]);
    writeFileSync(join(repo, 'stack.yml'), secret('key-link'));
    expect(await problems(repo, confined({ sshPaths: [outside], allowPaths: [repo] }))).toEqual([
      `stack.yml:6:11 secrets.loot.file: key-link is under an --allow-ssh folder; ${refused}`,
    ]);
  });

  it("refuses git's own folder: it is not part of the commit", async () => {
    const { repo } = checkout({ 'stack.yml': secret('.git/config'), '.git/config': '[core]\n' });
    expect(await problems(repo, confined())).toEqual([
      "stack.yml:6:11 secrets.loot.file: .git/config is in git's own folder (.git), not in the commit",
    ]);
  });

  it('reads files inside the repository, links within it included, and under --allow-path', async () => {
    const { repo, outside } = checkout({
      'stack.yml': yaml(
        'name: t',
        'services: { web: { image: nginx, secrets: [a, b], configs: [c], env_file: [app.env, OUTSIDE/x.env] } }',
        'secrets:',
        '  a: { file: deploy/a.txt }',
        '  b: { file: OUTSIDE/secret.txt }',
        'configs:',
        '  c: { file: c-link }',
      ),
      'deploy/a.txt': 'in repo\n',
      'c-link': '-> deploy/a.txt',
      'app.env': 'A=1\n',
    });
    writeFileSync(join(outside, 'x.env'), 'X=2\n');
    const stack = await load(repo, confined({ allowPaths: [outside] }));
    expect(stack.secrets.a!.content.bytes().toString()).toBe('in repo\n');
    expect(stack.secrets.b!.content.bytes().toString()).toBe('outside secret\n');
    expect(stack.configs.c!.content.bytes().toString()).toBe('in repo\n');
    expect(stack.services.web!.environment).toEqual({ A: '1', X: '2' });
  });

  it('refuses an env_file outside the repository, absolute or relative', async () => {
    const { repo } = checkout({
      'stack.yml': yaml(
        'name: t',
        'services:',
        '  web:',
        '    image: nginx',
        '    env_file: [/etc/hostname, { path: ../x.env, required: false }]',
      ),
    });
    expect(await problems(repo, confined())).toEqual([
      'stack.yml:5:16 services.web.env_file[0]: /etc/hostname is outside the repository; heal watch reads files only inside it or under --allow-path',
      'stack.yml:5:31 services.web.env_file[1]: ../x.env is outside the repository; heal watch reads files only inside it or under --allow-path',
    ]);
  });

  it('refuses a .env that is a symbolic link out of the repository', async () => {
    const { repo, outside } = checkout({
      'stack.yml': yaml('name: t', 'services: { web: { image: nginx } }'),
      '.env': '-> OUTSIDE/secret.txt',
    });
    expect(await problems(repo, confined())).toEqual([
      `${join(repo, '.env')}: .env resolves to ${join(outside, 'secret.txt')}, outside the repository; heal watch reads files only inside it or under --allow-path`,
    ]);
  });

  it('takes known_hosts and identity files only from an --allow-ssh folder, never from the repository', async () => {
    const sshSpec = (knownHosts: string, identity: string): string =>
      yaml(
        'name: t',
        'x-heal:',
        `  ssh: { known_hosts: ${knownHosts}, identity_file: ${identity} }`,
        '  hosts:',
        `    h1: { ssh: attacker.example, identity_file: ${identity} }`,
        'services: { web: { image: nginx } }',
      );
    const inRepo = checkout({
      'stack.yml': sshSpec('./known_hosts', '~/.ssh/id_ed25519'),
      known_hosts: 'x\n',
    });
    const chosen =
      'heal watch takes known_hosts and identity files only from an --allow-ssh folder, so that a commit cannot choose which SSH servers heal trusts';
    expect(await problems(inRepo.repo, confined({ allowPaths: [inRepo.repo] }))).toEqual([
      `stack.yml:3:23 x-heal.ssh.known_hosts: ./known_hosts is inside the repository; ${chosen}`,
      `stack.yml:3:53 x-heal.ssh.identity_file: ~/.ssh/id_ed25519 is not under an --allow-ssh folder; ${chosen}`,
      `stack.yml:5:49 x-heal.hosts.h1.identity_file: ~/.ssh/id_ed25519 is not under an --allow-ssh folder; ${chosen}`,
    ]);

    const allowed = checkout({ 'stack.yml': sshSpec('OUTSIDE/known_hosts', 'OUTSIDE/id_ed25519') });
    const stack = await load(allowed.repo, confined({ sshPaths: [allowed.outside] }));
    expect(stack.heal.ssh.knownHosts).toBe(join(allowed.outside, 'known_hosts'));
    // A file that does not exist yet (heal writes known_hosts with --accept-new-host-keys) is judged by its folder.
    expect(stack.heal.ssh.identityFile).toBe(join(allowed.outside, 'id_ed25519'));
  });

  it('reads any file without confinement, as compose does for a person at a terminal', async () => {
    const { repo } = checkout({
      'stack.yml': secret('OUTSIDE/secret.txt', []),
      known_hosts: 'x\n',
    });
    const stack = await load(repo, undefined);
    expect(stack.secrets.loot!.content.bytes().toString()).toBe('outside secret\n');
    const ssh = checkout({
      'stack.yml': yaml(
        'name: t',
        'x-heal: { ssh: { known_hosts: ./kh, identity_file: ~/id } }',
        'services: { web: { image: nginx } }',
      ),
    });
    const heal = (await load(ssh.repo, undefined)).heal;
    expect(heal.ssh.knownHosts).toBe(join(ssh.repo, 'kh'));
    expect(heal.ssh.identityFile).toBe(join(homedir(), 'id'));
  });
});
