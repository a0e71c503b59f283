import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * OpenSSH's known_hosts, as `ssh -o StrictHostKeyChecking=yes` reads it: plain host patterns (with `*`,
 * `?`, `!` and comma lists), `[host]:port` names, hashed `|1|salt|hmac` names, and the `@revoked` and
 * `@cert-authority` markers. Certificates are not supported, so `@cert-authority` lines vouch for nothing.
 */

export type KnownHostsNames =
  | { readonly kind: 'hashed'; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'patterns'; readonly patterns: readonly string[] };

export type KnownHostsEntry = {
  /** 1-based, for messages. */
  readonly line: number;
  readonly marker: 'revoked' | 'cert-authority' | null;
  readonly names: KnownHostsNames;
  readonly keyType: string;
  /** The public key blob, as on the wire. */
  readonly key: Buffer;
};

export type HostKeyStatus = 'trusted' | 'unknown' | 'changed' | 'revoked';

export type HostKeyCheck = {
  readonly status: HostKeyStatus;
  /** The name looked up: `host`, or `[host]:port` off port 22. */
  readonly name: string;
  /** The line that decided (trusted, changed, revoked), or null. */
  readonly line: number | null;
  /** Key types known_hosts holds for this name, whatever the verdict. */
  readonly knownTypes: readonly string[];
};

/** The name OpenSSH files a host under: the bare host on port 22, `[host]:port` elsewhere. */
export function knownHostsName(address: string, port: number): string {
  const host = address.toLowerCase();
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Parses known_hosts text; lines that are not entries (comments, garbage) are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const entry = parseLine(raw, index + 1);
    if (entry !== null) entries.push(entry);
  }
  return entries;
}

function parseLine(raw: string, line: number): KnownHostsEntry | null {
  const fields = raw.trim().split(/[ \t]+/);
  if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return null;
  let marker: KnownHostsEntry['marker'] = null;
  if (fields[0].startsWith('@')) {
    const word = fields.shift();
    if (word === '@revoked') marker = 'revoked';
    else if (word === '@cert-authority') marker = 'cert-authority';
    else return null;
  }
  const [hosts, keyType, base64] = fields;
  if (hosts === undefined || keyType === undefined || base64 === undefined) return null;
  const key = Buffer.from(base64, 'base64');
  if (key.length === 0 || keyTypeOf(key) !== keyType) return null;
  const names = parseNames(hosts);
  if (names === null) return null;
  return { line, marker, names, keyType, key };
}

function parseNames(field: string): KnownHostsNames | null {
  if (!field.startsWith('|')) {
    return {
      kind: 'patterns',
      patterns: field
        .toLowerCase()
        .split(',')
        .filter((p) => p !== ''),
    };
  }
  const parts = field.split('|');
  // `|1|salt|hash`: parts = ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1' || parts[2] === undefined || parts[3] === undefined) return null;
  const salt = Buffer.from(parts[2], 'base64');
  const hash = Buffer.from(parts[3], 'base64');
  if (salt.length !== 20 || hash.length !== 20) return null;
  return { kind: 'hashed', salt, hash };
}

/** The algorithm name inside a public key blob (`ssh-ed25519`, `ssh-rsa`, ...), or '' if malformed. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return '';
  return blob.toString('latin1', 4, 4 + length);
}

/** Does the entry name this host? `name` comes from knownHostsName(). */
export function entryNames(entry: KnownHostsEntry, name: string): boolean {
  if (entry.names.kind === 'hashed') {
    const digest = createHmac('sha1', entry.names.salt).update(name).digest();
    return timingSafeEqual(digest, entry.names.hash);
  }
  return matchHostPatterns(name, entry.names.patterns);
}

/** OpenSSH's match_hostname: any positive pattern matches and no negated one does. */
export function matchHostPatterns(name: string, patterns: readonly string[]): boolean {
  const subject = name.toLowerCase();
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const body = (negated ? pattern.slice(1) : pattern).toLowerCase();
    if (!matchPattern(subject, body)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `*` is any run of characters, `?` is exactly one; everything else is literal. */
export function matchPattern(subject: string, pattern: string): boolean {
  // Iterative wildcard match with single-star backtracking: linear enough for host names.
  let s = 0;
  let p = 0;
  let starP = -1;
  let starS = 0;
  while (s < subject.length) {
    const c = pattern[p];
    if (c === '*') {
      starP = p++;
      starS = s;
    } else if (c !== undefined && (c === '?' || c === subject[s])) {
      s++;
      p++;
    } else if (starP !== -1) {
      p = starP + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * What known_hosts says about the key a host presented. As in OpenSSH: a revoked key is refused
 * whatever else is listed; a listed key is trusted; a host listed with another key of the same type
 * has changed its key; anything else is unknown (`knownTypes` then tells whether the host is listed
 * with keys of other types, which accept-new must not override).
 */
export function checkHostKey(
  entries: readonly KnownHostsEntry[],
  address: string,
  port: number,
  key: Buffer,
): HostKeyCheck {
  const name = knownHostsName(address, port);
  const type = keyTypeOf(key);
  const knownTypes = new Set<string>();
  let trusted: number | null = null;
  let changed: number | null = null;
  for (const entry of entries) {
    if (entry.marker === 'revoked') {
      if (entry.key.equals(key) && entryNames(entry, name)) {
        return { status: 'revoked', name, line: entry.line, knownTypes: [...knownTypes] };
      }
      continue;
    }
    if (entry.marker === 'cert-authority' || !entryNames(entry, name)) continue;
    knownTypes.add(entry.keyType);
    if (entry.key.equals(key)) trusted ??= entry.line;
    else if (entry.keyType === type) changed ??= entry.line;
  }
  const types = [...knownTypes];
  if (trusted !== null) return { status: 'trusted', name, line: trusted, knownTypes: types };
  if (changed !== null) return { status: 'changed', name, line: changed, knownTypes: types };
  return { status: 'unknown', name, line: null, knownTypes: types };
}

/** Key types listed for a host, so the handshake can ask for a key known_hosts can vouch for. */
export function knownKeyTypes(entries: readonly KnownHostsEntry[], address: string, port: number): string[] {
  const name = knownHostsName(address, port);
  const types: string[] = [];
  for (const entry of entries) {
    if (entry.marker !== null || types.includes(entry.keyType) || !entryNames(entry, name)) continue;
    types.push(entry.keyType);
  }
  return types;
}

/** Reads and parses a known_hosts file; a missing file is an empty one. */
export async function readKnownHosts(file: string): Promise<KnownHostsEntry[]> {
  try {
    return parseKnownHosts(await readFile(file, 'utf8'));
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** One plain (unhashed) known_hosts line for a host and key, without the newline. */
export function formatKnownHostsLine(address: string, port: number, key: Buffer): string {
  return `${knownHostsName(address, port)} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** Records a host key, creating the file (0600, in a 0700 folder) if needed. */
export async function appendKnownHost(
  file: string,
  address: string,
  port: number,
  key: Buffer,
): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const size = await stat(file).then(
    (s) => s.size,
    (error: unknown) => {
      if (isNotFound(error)) return 0;
      throw error;
    },
  );
  let prefix = '';
  if (size > 0) {
    const existing = await readFile(file);
    if (existing[existing.length - 1] !== 0x0a) prefix = '\n';
  }
  await appendFile(file, `${prefix}${formatKnownHostsLine(address, port, key)}\n`, { mode: 0o600 });
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}
