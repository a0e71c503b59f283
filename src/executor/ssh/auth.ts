import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AgentAuthMethod, ParsedKey, PublicKeyAuthMethod } from 'ssh2';
import { expandHome } from './ssh-config.js';

/** The env variable holding the passphrase of encrypted identity files. */
export const PASSPHRASE_VARIABLE = 'HEAL_SSH_PASSPHRASE';

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export type IdentityCandidate = {
  readonly path: string;
  /** Named by the user (spec or ssh config): a missing or unreadable file is an error, not a skip. */
  readonly explicit: boolean;
};

export type AuthMethod = AgentAuthMethod | PublicKeyAuthMethod;

export type SshAuth = {
  readonly username: string;
  /** In the order ssh2 tries them: the agent first, then each identity file. */
  readonly methods: readonly AuthMethod[];
  /** Identity files offered, for messages. */
  readonly identities: readonly string[];
  readonly agent: boolean;
  /** Why some identity was not offered (encrypted without passphrase, bad passphrase, ...). */
  readonly notes: readonly string[];
};

/**
 * Identity files in the order heal offers them: the host's own, the spec's `x-heal.ssh.identity_file`,
 * the ssh config's IdentityFile lines, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa (those that exist).
 */
export function identityCandidates(input: {
  readonly hostIdentityFile: string | null;
  readonly defaultIdentityFile: string | null;
  readonly configIdentityFiles: readonly string[];
  readonly home: string;
}): IdentityCandidate[] {
  const candidates: IdentityCandidate[] = [];
  const add = (path: string, explicit: boolean): void => {
    const absolute = expandHome(path, input.home);
    if (!candidates.some((c) => c.path === absolute)) candidates.push({ path: absolute, explicit });
  };
  if (input.hostIdentityFile !== null) add(input.hostIdentityFile, true);
  if (input.defaultIdentityFile !== null) add(input.defaultIdentityFile, true);
  // OpenSSH skips config IdentityFile lines whose file is missing, and so do we.
  for (const path of input.configIdentityFiles) add(path, false);
  for (const name of DEFAULT_IDENTITIES) add(join(input.home, '.ssh', name), false);
  return candidates;
}

/** An error that stops the connection before it starts: a named identity heal cannot use. */
export class SshAuthSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshAuthSetupError';
  }
}

/**
 * Builds the ssh2 auth methods: ssh-agent (SSH_AUTH_SOCK) then each identity file, decrypting
 * encrypted keys with HEAL_SSH_PASSPHRASE. A key the user named that cannot be used is an error;
 * a default key that cannot be used is skipped with a note the auth-failed message will carry.
 */
export function buildSshAuth(input: {
  readonly username: string;
  readonly identities: readonly IdentityCandidate[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a key file; null when it does not exist. Replaced in tests. */
  readonly readKey?: (path: string) => Buffer | null;
}): SshAuth {
  const readKey = input.readKey ?? readKeyFile;
  const methods: AuthMethod[] = [];
  const identities: string[] = [];
  const notes: string[] = [];
  const agentSocket = input.env.SSH_AUTH_SOCK;
  const agent = agentSocket !== undefined && agentSocket !== '';
  if (agent) methods.push({ type: 'agent', username: input.username, agent: agentSocket });
  const passphrase = input.env[PASSPHRASE_VARIABLE];

  for (const candidate of input.identities) {
    const data = readKey(candidate.path);
    if (data === null) {
      if (candidate.explicit) throw new SshAuthSetupError(`identity file ${candidate.path} does not exist`);
      continue;
    }
    const key = loadKey(data, candidate.path, passphrase);
    if (typeof key !== 'string') {
      methods.push({ type: 'publickey', username: input.username, key });
      identities.push(candidate.path);
      continue;
    }
    const problem = key;
    if (candidate.explicit && !agent) throw new SshAuthSetupError(problem);
    notes.push(problem);
  }

  if (methods.length === 0) {
    const why = notes.length > 0 ? notes.join('; ') : 'no ssh-agent (SSH_AUTH_SOCK) and no identity file';
    throw new SshAuthSetupError(`no SSH identity to offer: ${why}`);
  }
  return { username: input.username, methods, identities, agent, notes };
}

/** The parsed private key (decrypted with the passphrase when it is encrypted), or why it cannot be used. */
function loadKey(data: Buffer, path: string, passphrase: string | undefined): ParsedKey | string {
  const plain = ssh2.utils.parseKey(data);
  if (!(plain instanceof Error)) {
    return plain.isPrivateKey() ? plain : `identity file ${path} holds no private key`;
  }
  if (!/encrypted|passphrase/i.test(plain.message)) {
    return `identity file ${path} cannot be read as an SSH private key (${plain.message})`;
  }
  if (passphrase === undefined || passphrase === '') {
    return `identity file ${path} is encrypted: set ${PASSPHRASE_VARIABLE} to its passphrase, or load it in ssh-agent`;
  }
  const decrypted = ssh2.utils.parseKey(data, passphrase);
  if (decrypted instanceof Error) {
    return `identity file ${path} is encrypted and ${PASSPHRASE_VARIABLE} does not decrypt it`;
  }
  return decrypted.isPrivateKey() ? decrypted : `identity file ${path} holds no private key`;
}

function readKeyFile(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT')
      return null;
    throw new SshAuthSetupError(`identity file ${path} cannot be read: ${String(error)}`);
  }
}
