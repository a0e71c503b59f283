import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { hostKeyPreference } from '../../src/executor/ssh/connection.js';
import {
  appendKnownHost,
  checkHostKey,
  formatKnownHostsLine,
  keyTypeOf,
  knownHostsName,
  knownKeyTypes,
  matchHostPatterns,
  parseKnownHosts,
  readKnownHosts,
} from '../../src/executor/ssh/known-hosts.js';

/** A fresh public key: its known_hosts text (`type base64`) and its wire blob. */
function newKey(type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): { text: string; blob: Buffer } {
  const { public: pub } =
    type === 'ed25519'
      ? ssh2.utils.generateKeyPairSync('ed25519')
      : ssh2.utils.generateKeyPairSync(type, { bits: type === 'ecdsa' ? 256 : 2048 });
  const [keyType, base64] = pub.split(' ');
  return { text: `${keyType} ${base64}`, blob: Buffer.from(base64 ?? '', 'base64') };
}

const a = newKey();
const b = newKey();
const ecdsa = newKey('ecdsa');
const dir = mkdtempSync(join(tmpdir(), 'heal-known-hosts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('knownHostsName', () => {
  it('is the bare host on port 22 and [host]:port elsewhere, lowercased', () => {
    expect(knownHostsName('Example.COM', 22)).toBe('example.com');
    expect(knownHostsName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
  });
});

describe('parseKnownHosts', () => {
  it('reads plain, bracketed, listed, marked and hashed entries and skips the rest', () => {
    const text = [
      '# a comment',
      '',
      `host1,10.0.0.1 ${a.text} comment words`,
      `[10.0.0.2]:2222 ${b.text}`,
      `@revoked * ${b.text}`,
      `@cert-authority *.example.com ${ecdsa.text}`,
      `@bogus host ${a.text}`,
      'host-without-key ssh-ed25519',
      `|1|${Buffer.alloc(20, 1).toString('base64')}|${Buffer.alloc(20, 2).toString('base64')} ${a.text}`,
      `mismatched ssh-rsa ${a.text.split(' ')[1]}`,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.keyType])).toEqual([
      [3, null, 'ssh-ed25519'],
      [4, null, 'ssh-ed25519'],
      [5, 'revoked', 'ssh-ed25519'],
      [6, 'cert-authority', 'ecdsa-sha2-nistp256'],
      [9, null, 'ssh-ed25519'],
    ]);
    expect(entries[0]?.names).toEqual({ kind: 'patterns', patterns: ['host1', '10.0.0.1'] });
    expect(entries[4]?.names.kind).toBe('hashed');
    expect(keyTypeOf(a.blob)).toBe('ssh-ed25519');
  });
});

describe('matchHostPatterns', () => {
  it('matches wildcards and honours negation like OpenSSH', () => {
    expect(matchHostPatterns('web1.example.com', ['*.example.com'])).toBe(true);
    expect(matchHostPatterns('web1.example.com', ['web?.example.com'])).toBe(true);
    expect(matchHostPatterns('web10.example.com', ['web?.example.com'])).toBe(false);
    expect(matchHostPatterns('db.example.com', ['*.example.com', '!db.example.com'])).toBe(false);
    expect(matchHostPatterns('[10.0.0.5]:2222', ['[10.0.0.*]:2222'])).toBe(true);
    expect(matchHostPatterns('10.0.0.5', ['[10.0.0.*]:2222'])).toBe(false);
    expect(matchHostPatterns('anything', ['!nothing'])).toBe(false);
  });
});

describe('checkHostKey', () => {
  it('trusts a listed key, on port 22 and on another port', () => {
    const entries = parseKnownHosts(`h1,10.0.0.1 ${a.text}\n[10.0.0.2]:2222 ${b.text}\n`);
    expect(checkHostKey(entries, '10.0.0.1', 22, a.blob)).toMatchObject({ status: 'trusted', line: 1 });
    expect(checkHostKey(entries, 'H1', 22, a.blob)).toMatchObject({ status: 'trusted', name: 'h1' });
    expect(checkHostKey(entries, '10.0.0.2', 2222, b.blob)).toMatchObject({ status: 'trusted', line: 2 });
  });

  it('does not confuse ports: a key listed for port 22 says nothing about port 2222', () => {
    const entries = parseKnownHosts(`10.0.0.1 ${a.text}\n`);
    expect(checkHostKey(entries, '10.0.0.1', 2222, a.blob)).toMatchObject({
      status: 'unknown',
      knownTypes: [],
    });
  });

  it('reports a different key of the same type as changed, with the line that listed the old one', () => {
    const entries = parseKnownHosts(`# hosts\n10.0.0.1 ${a.text}\n`);
    expect(checkHostKey(entries, '10.0.0.1', 22, b.blob)).toEqual({
      status: 'changed',
      name: '10.0.0.1',
      line: 2,
      knownTypes: ['ssh-ed25519'],
    });
  });

  it('reports a key of a type the host is not listed with as unknown, naming the types it is listed with', () => {
    const entries = parseKnownHosts(`10.0.0.1 ${ecdsa.text}\n`);
    expect(checkHostKey(entries, '10.0.0.1', 22, a.blob)).toMatchObject({
      status: 'unknown',
      knownTypes: ['ecdsa-sha2-nistp256'],
    });
  });

  it('refuses a revoked key even when another line lists it', () => {
    const entries = parseKnownHosts(`10.0.0.1 ${a.text}\n@revoked * ${a.text}\n`);
    expect(checkHostKey(entries, '10.0.0.1', 22, a.blob)).toMatchObject({ status: 'revoked', line: 2 });
  });

  it('ignores @cert-authority lines and negated hosts', () => {
    const entries = parseKnownHosts(`@cert-authority * ${a.text}\n*,!10.0.0.1 ${b.text}\n`);
    expect(checkHostKey(entries, '10.0.0.1', 22, a.blob).status).toBe('unknown');
    expect(checkHostKey(entries, '10.0.0.1', 22, b.blob).status).toBe('unknown');
    expect(checkHostKey(entries, '10.0.0.9', 22, b.blob).status).toBe('trusted');
  });

  it('matches entries hashed by ssh-keygen -H, for port 22 and [host]:port', () => {
    const file = join(dir, 'hashed');
    writeFileSync(file, `10.0.0.1 ${a.text}\n[10.0.0.2]:2222 ${b.text}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('10.0.0.');
    const entries = parseKnownHosts(text);
    expect(entries.every((e) => e.names.kind === 'hashed')).toBe(true);
    expect(checkHostKey(entries, '10.0.0.1', 22, a.blob).status).toBe('trusted');
    expect(checkHostKey(entries, '10.0.0.2', 2222, b.blob).status).toBe('trusted');
    expect(checkHostKey(entries, '10.0.0.1', 22, b.blob).status).toBe('changed');
    expect(checkHostKey(entries, '10.0.0.2', 22, b.blob).status).toBe('unknown');
  });

  it('finds the line ssh-keygen -F finds', () => {
    const file = join(dir, 'lookup');
    writeFileSync(file, `other ${b.text}\n[h.example]:2200 ${a.text}\n`);
    const found = execFileSync('ssh-keygen', ['-F', '[h.example]:2200', '-f', file], { encoding: 'utf8' });
    expect(found).toContain('found: line 2');
    expect(checkHostKey(parseKnownHosts(readFileSync(file, 'utf8')), 'h.example', 2200, a.blob).line).toBe(2);
  });
});

describe('knownKeyTypes and hostKeyPreference', () => {
  it('asks first for the key types known_hosts holds for the host', () => {
    const rsa = newKey('rsa');
    const entries = parseKnownHosts(
      `10.0.0.1 ${rsa.text}\n10.0.0.1 ${ecdsa.text}\n* ${a.text}\n@revoked 10.0.0.1 ${b.text}\n`,
    );
    const types = knownKeyTypes(entries, '10.0.0.1', 22);
    expect(types).toEqual(['ssh-rsa', 'ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(hostKeyPreference(types).slice(0, 5)).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ecdsa-sha2-nistp256',
      'ssh-ed25519',
    ]);
    expect(hostKeyPreference([])[0]).toBe('ssh-ed25519');
  });
});

describe('appendKnownHost', () => {
  it('creates the file 0600 and records a line ssh-keygen -F can find', async () => {
    const file = join(dir, 'new', 'known_hosts');
    await appendKnownHost(file, '10.0.0.7', 2222, a.blob);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(`${formatKnownHostsLine('10.0.0.7', 2222, a.blob)}\n`);
    const found = execFileSync('ssh-keygen', ['-F', '[10.0.0.7]:2222', '-f', file], { encoding: 'utf8' });
    expect(found).toContain('found: line 1');
    expect(checkHostKey(await readKnownHosts(file), '10.0.0.7', 2222, a.blob).status).toBe('trusted');
  });

  it('starts a new line when the file does not end with one', async () => {
    const file = join(dir, 'no-newline');
    writeFileSync(file, `10.0.0.1 ${a.text}`);
    await appendKnownHost(file, '10.0.0.2', 22, b.blob);
    const entries = await readKnownHosts(file);
    expect(entries.map((e) => e.line)).toEqual([1, 2]);
    expect(checkHostKey(entries, '10.0.0.2', 22, b.blob).status).toBe('trusted');
  });

  it('reads a missing file as empty', async () => {
    expect(await readKnownHosts(join(dir, 'missing'))).toEqual([]);
  });
});
