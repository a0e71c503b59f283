import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../src/executor/errors.js';
import { resolveSshEndpoint } from '../../src/executor/host-client.js';
import { buildSshAuth, identityCandidates, SshAuthSetupError } from '../../src/executor/ssh/auth.js';
import { readSshConfig, resolveSshConfig, splitLine } from '../../src/executor/ssh/ssh-config.js';
import type { SshConfigFiles } from '../../src/executor/ssh/ssh-config.js';
import type { SshHost } from '../../src/spec/types.js';

const home = '/home/ann';
const context = { home, localUser: 'ann' };

function files(tree: Record<string, string>): SshConfigFiles {
  return {
    read: (path) => tree[path] ?? null,
    list: (dir) =>
      Object.keys(tree)
        .filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/'))
        .map((p) => p.slice(dir.length + 1)),
  };
}

describe('splitLine', () => {
  it('reads `Key value`, `Key=value`, quotes and comments', () => {
    expect(splitLine('  HostName example.com  # the box')).toEqual(['HostName', 'example.com']);
    expect(splitLine('Port=2222')).toEqual(['Port', '2222']);
    expect(splitLine('User = deploy')).toEqual(['User', 'deploy']);
    expect(splitLine('IdentityFile "~/keys/my key"')).toEqual(['IdentityFile', '~/keys/my key']);
    expect(splitLine('# only a comment')).toEqual([]);
  });
});

describe('resolveSshConfig', () => {
  const config = `
# global, before any Host: applies to every host
IdentityFile ~/.ssh/global_key

Host web? !web9
  HostName %h.internal.example
  User deploy
  Port 2222
  IdentityFile ~/.ssh/web_key

Host web1 db
  User other
  Port 2200
  IdentityFile /keys/%r@%h

Host *
  User fallback
  Port 22
  IdentityFile %d/.ssh/any_%u
  IdentityFile none
`;

  it('takes the first value per keyword and accumulates IdentityFile, tokens and ~ expanded', () => {
    expect(resolveSshConfig(config, 'web1', context)).toEqual({
      hostName: 'web1.internal.example',
      user: 'deploy',
      port: 2222,
      identityFiles: [
        '/home/ann/.ssh/global_key',
        '/home/ann/.ssh/web_key',
        '/keys/deploy@web1.internal.example',
        '/home/ann/.ssh/any_ann',
      ],
    });
  });

  it('honours negated patterns and `?`', () => {
    expect(resolveSshConfig(config, 'web9', context)).toMatchObject({
      hostName: null,
      user: 'fallback',
      port: 22,
    });
    expect(resolveSshConfig(config, 'web10', context)).toMatchObject({ user: 'fallback' });
    expect(resolveSshConfig(config, 'db', context)).toMatchObject({
      hostName: null,
      user: 'other',
      port: 2200,
    });
  });

  it('matches host names case-insensitively', () => {
    expect(resolveSshConfig(config, 'WEB2', context)).toMatchObject({ user: 'deploy' });
  });

  it('applies `Match all` and `Match host`, and skips Match criteria it does not understand', () => {
    const text = `
Match exec "true"
  User never
Match host 10.0.0.*,!10.0.0.9
  User ops
Match all
  Port 2022
`;
    expect(resolveSshConfig(text, '10.0.0.5', context)).toMatchObject({ user: 'ops', port: 2022 });
    expect(resolveSshConfig(text, '10.0.0.9', context)).toMatchObject({ user: null, port: 2022 });
  });

  it('follows Include (relative to ~/.ssh, with globs), only inside a matching block', () => {
    const tree = {
      '/home/ann/.ssh/config.d/a.conf': 'Host box\n  User from-a\n',
      '/home/ann/.ssh/config.d/b.conf': 'Host box\n  User from-b\n  Port 2000\n',
      '/home/ann/.ssh/extra': 'User only-for-other\n',
    };
    const text = 'Include config.d/*.conf\nHost other\n  Include extra\nHost *\n  User last\n';
    expect(resolveSshConfig(text, 'box', { ...context, files: files(tree) })).toMatchObject({
      user: 'from-a',
      port: 2000,
    });
    expect(resolveSshConfig(text, 'other', { ...context, files: files(tree) })).toMatchObject({
      user: 'only-for-other',
    });
    expect(resolveSshConfig(text, 'third', { ...context, files: files(tree) })).toMatchObject({
      user: 'last',
    });
  });

  it('ignores an invalid port', () => {
    expect(resolveSshConfig('Port 99999\nPort 2222\n', 'x', context).port).toBe(2222);
  });
});

describe('readSshConfig', () => {
  it('reads nothing from a missing file', () => {
    expect(readSshConfig('x', { file: '/nonexistent/config', home, localUser: 'ann' })).toEqual({
      hostName: null,
      user: null,
      port: null,
      identityFiles: [],
    });
  });
});

describe('identities and auth', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heal-auth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const key = (name: string, passphrase = ''): string => {
    const path = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', path]);
    return path;
  };
  const plain = key('plain');
  const locked = key('locked', 'sesame');
  const fakeHome = join(dir, 'home');
  mkdirSync(join(fakeHome, '.ssh'), { recursive: true });
  writeFileSync(join(fakeHome, '.ssh', 'id_rsa'), 'not a key at all');

  it('orders identities: host, spec default, ssh config, then the default names', () => {
    expect(
      identityCandidates({
        hostIdentityFile: '~/host_key',
        defaultIdentityFile: '/spec/key',
        configIdentityFiles: ['/config/key', '/spec/key'],
        home: '/h',
      }),
    ).toEqual([
      { path: '/h/host_key', explicit: true },
      { path: '/spec/key', explicit: true },
      { path: '/config/key', explicit: false },
      { path: '/h/.ssh/id_ed25519', explicit: false },
      { path: '/h/.ssh/id_ecdsa', explicit: false },
      { path: '/h/.ssh/id_rsa', explicit: false },
    ]);
  });

  it('offers the agent first, then each readable key; missing default keys are skipped', () => {
    const auth = buildSshAuth({
      username: 'root',
      identities: [
        { path: plain, explicit: true },
        { path: join(dir, 'missing'), explicit: false },
      ],
      env: { SSH_AUTH_SOCK: '/run/agent.sock' },
    });
    expect(auth.methods.map((m) => m.type)).toEqual(['agent', 'publickey']);
    expect(auth.identities).toEqual([plain]);
    expect(auth.notes).toEqual([]);
  });

  it('says clearly that an encrypted key needs HEAL_SSH_PASSPHRASE', () => {
    const build = (): unknown =>
      buildSshAuth({ username: 'root', identities: [{ path: locked, explicit: true }], env: {} });
    expect(build).toThrow(SshAuthSetupError);
    expect(build).toThrow(`identity file ${locked} is encrypted: set HEAL_SSH_PASSPHRASE to its passphrase`);
  });

  it('decrypts an encrypted key with HEAL_SSH_PASSPHRASE, and names a wrong one', () => {
    const auth = buildSshAuth({
      username: 'root',
      identities: [{ path: locked, explicit: true }],
      env: { HEAL_SSH_PASSPHRASE: 'sesame' },
    });
    expect(auth.identities).toEqual([locked]);
    expect(() =>
      buildSshAuth({
        username: 'root',
        identities: [{ path: locked, explicit: true }],
        env: { HEAL_SSH_PASSPHRASE: 'wrong' },
      }),
    ).toThrow(`identity file ${locked} is encrypted and HEAL_SSH_PASSPHRASE does not decrypt it`);
  });

  it('keeps going past an unusable default key, and notes why', () => {
    const auth = buildSshAuth({
      username: 'root',
      identities: [
        { path: locked, explicit: false },
        { path: plain, explicit: false },
      ],
      env: {},
    });
    expect(auth.identities).toEqual([plain]);
    expect(auth.notes).toEqual([
      `identity file ${locked} is encrypted: set HEAL_SSH_PASSPHRASE to its passphrase, or load it in ssh-agent`,
    ]);
  });

  it('fails when a named key does not exist, or when nothing at all can be offered', () => {
    expect(() =>
      buildSshAuth({ username: 'root', identities: [{ path: join(dir, 'nope'), explicit: true }], env: {} }),
    ).toThrow(`identity file ${join(dir, 'nope')} does not exist`);
    expect(() => buildSshAuth({ username: 'root', identities: [], env: {} })).toThrow(
      'no SSH identity to offer: no ssh-agent (SSH_AUTH_SOCK) and no identity file',
    );
  });

  it('resolves a host: spec first, then ssh config, then defaults; auth problems are auth-failed', () => {
    const configFile = join(dir, 'config');
    writeFileSync(
      configFile,
      `Host box\n  HostName 10.9.9.9\n  User cfg\n  Port 2022\n  IdentityFile ${plain}\n`,
    );
    const host: SshHost = {
      name: 'h1',
      kind: 'ssh',
      user: null,
      address: 'box',
      port: null,
      identityFile: null,
      socket: '/var/run/docker.sock',
      labels: {},
      role: 'manager',
    };
    const ssh = { user: null, port: null, identityFile: null, knownHosts: '~/kh' };
    const endpoint = resolveSshEndpoint(host, { ssh, env: {}, home: fakeHome, sshConfigFile: configFile });
    expect(endpoint).toMatchObject({
      host: 'h1',
      address: '10.9.9.9',
      port: 2022,
      knownHostsFile: join(fakeHome, 'kh'),
      acceptNewHostKeys: false,
    });
    expect(endpoint.auth).toMatchObject({ username: 'cfg', identities: [plain] });
    expect(endpoint.auth.notes[0]).toMatch(/id_rsa cannot be read as an SSH private key/);

    const spec = resolveSshEndpoint(
      { ...host, user: 'deploy', port: 2200 },
      { ssh: { ...ssh, user: 'root', port: 22 }, env: {}, home: fakeHome, sshConfigFile: configFile },
    );
    expect(spec).toMatchObject({ address: '10.9.9.9', port: 2200, auth: { username: 'deploy' } });

    let thrown: unknown;
    try {
      resolveSshEndpoint(
        { ...host, identityFile: locked },
        { ssh, env: {}, home: fakeHome, sshConfigFile: configFile },
      );
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(HostUnreachableError);
    expect(thrown).toMatchObject({ host: 'h1', kind: 'auth-failed' });
  });
});
