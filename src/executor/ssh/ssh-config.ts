import { readdirSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { matchHostPatterns, matchPattern } from './known-hosts.js';

/**
 * The part of ~/.ssh/config heal honours: `Host` blocks (patterns with `*`, `?`, `!`), `Match all`
 * and `Match [original]host`, `Include`, and the keywords HostName, User, Port and IdentityFile. As in
 * OpenSSH, the first value found for a keyword wins, except IdentityFile, which accumulates.
 */
export type SshHostConfig = {
  readonly hostName: string | null;
  readonly user: string | null;
  readonly port: number | null;
  /** Absolute paths, `~` and `%` tokens expanded, in the order they appear. */
  readonly identityFiles: readonly string[];
};

/** How Include reaches other files; replaced in tests. */
export type SshConfigFiles = {
  /** The file's text, or null when it does not exist. */
  read(path: string): string | null;
  /** The names in a folder, or [] when it does not exist. */
  list(dir: string): string[];
};

export type SshConfigContext = {
  readonly home: string;
  readonly localUser: string;
  readonly files?: SshConfigFiles;
};

const MAX_INCLUDE_DEPTH = 16;

type Found = { hostName: string | null; user: string | null; port: number | null; identityFiles: string[] };

/** What the config text says for `alias` (the host as heal names it: an address or a config alias). */
export function resolveSshConfig(text: string, alias: string, context: SshConfigContext): SshHostConfig {
  const found: Found = { hostName: null, user: null, port: null, identityFiles: [] };
  const files = context.files ?? diskFiles;
  applyConfig(text, alias.toLowerCase(), context, files, found, true, 0);
  const hostName = found.hostName === null ? null : expandTokens(found.hostName, alias, context, found);
  const finalHost = hostName ?? alias;
  const identityFiles: string[] = [];
  for (const file of found.identityFiles) {
    if (file.toLowerCase() === 'none') continue;
    const path = expandHome(expandTokens(file, finalHost, context, found), context.home);
    const absolute = isAbsolute(path) ? path : join(context.home, path);
    if (!identityFiles.includes(absolute)) identityFiles.push(absolute);
  }
  return { hostName, user: found.user, port: found.port, identityFiles };
}

/** Reads ~/.ssh/config (or `file`) for `alias`; a missing file says nothing. */
export function readSshConfig(
  alias: string,
  options: { file?: string; home?: string; localUser?: string } = {},
): SshHostConfig {
  const home = options.home ?? homedir();
  const file = options.file ?? join(home, '.ssh', 'config');
  const text = diskFiles.read(file) ?? '';
  return resolveSshConfig(text, alias, { home, localUser: options.localUser ?? userInfo().username });
}

function applyConfig(
  text: string,
  alias: string,
  context: SshConfigContext,
  files: SshConfigFiles,
  found: Found,
  startActive: boolean,
  depth: number,
): void {
  let active = startActive;
  for (const line of text.split(/\r?\n/)) {
    const words = splitLine(line);
    const keyword = words[0]?.toLowerCase();
    if (keyword === undefined) continue;
    const args = words.slice(1);
    switch (keyword) {
      case 'host':
        active = startActive && matchHostPatterns(alias, args);
        break;
      case 'match':
        active = startActive && matchBlock(alias, args);
        break;
      case 'include':
        if (!active || depth >= MAX_INCLUDE_DEPTH) break;
        for (const path of includedFiles(args, context, files)) {
          const included = files.read(path);
          if (included !== null) applyConfig(included, alias, context, files, found, true, depth + 1);
        }
        break;
      default:
        if (active) setKeyword(found, keyword, args);
    }
  }
}

function setKeyword(found: Found, keyword: string, args: string[]): void {
  const value = args[0];
  if (value === undefined) return;
  switch (keyword) {
    case 'hostname':
      found.hostName ??= value;
      return;
    case 'user':
      found.user ??= value;
      return;
    case 'port': {
      const port = Number(value);
      if (found.port === null && Number.isInteger(port) && port > 0 && port < 65536) found.port = port;
      return;
    }
    case 'identityfile':
      found.identityFiles.push(value);
      return;
  }
}

/** `Match all`, `Match host a,b`, `Match originalhost a`; any other criterion is not understood, so the block is skipped. */
function matchBlock(alias: string, args: string[]): boolean {
  if (args.length === 1 && args[0]?.toLowerCase() === 'all') return true;
  if (args.length === 0 || args.length % 2 !== 0) return false;
  for (let i = 0; i < args.length; i += 2) {
    const criterion = args[i]?.toLowerCase();
    const patterns = (args[i + 1] ?? '').split(',');
    if (criterion !== 'host' && criterion !== 'originalhost') return false;
    if (!matchHostPatterns(alias, patterns)) return false;
  }
  return true;
}

function includedFiles(args: string[], context: SshConfigContext, files: SshConfigFiles): string[] {
  const paths: string[] = [];
  for (const arg of args) {
    const expanded = expandHome(arg, context.home);
    const path = isAbsolute(expanded) ? expanded : join(context.home, '.ssh', expanded);
    const name = basename(path);
    if (!/[*?]/.test(name)) {
      paths.push(path);
      continue;
    }
    const dir = dirname(path);
    const names = files
      .list(dir)
      .filter((n) => matchPattern(n, name))
      .sort();
    paths.push(...names.map((n) => join(dir, n)));
  }
  return paths;
}

/** Words of a config line: `Key value`, `Key=value`, double quotes group, `#` starts a comment. */
export function splitLine(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let quoted = false;
  let inWord = false;
  const text = line.trim().replace(/^([^\s=]+)\s*=\s*/, '$1 ');
  for (const c of text) {
    if (quoted) {
      if (c === '"') quoted = false;
      else current += c;
      continue;
    }
    if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === ' ' || c === '\t') {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

function expandTokens(value: string, host: string, context: SshConfigContext, found: Found): string {
  return value.replace(/%([%dhpru])/g, (_, token: string) => {
    switch (token) {
      case '%':
        return '%';
      case 'd':
        return context.home;
      case 'h':
        return host;
      case 'p':
        return String(found.port ?? 22);
      case 'r':
        return found.user ?? context.localUser;
      default:
        return context.localUser;
    }
  });
}

/** `~` and `~/x` are the home folder; `~user` is left alone. */
export function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

const diskFiles: SshConfigFiles = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  },
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
};
