import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What Docker's X-Registry-Auth carries for one pull. */
export type RegistryAuth =
  | { readonly username: string; readonly password: string; readonly serveraddress: string }
  | { readonly identitytoken: string; readonly serveraddress: string };

/** Credentials that cannot be used as configured: a sentence for the operator, never a secret in it. */
export class RegistryAuthError extends Error {
  override readonly name = 'RegistryAuthError';
}

export type RegistryAuthOptions = {
  /** Where HEAL_REGISTRY*, DOCKER_CONFIG, and the credential helpers' own variables come from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly helperTimeoutMs?: number;
};

/** Docker Hub answers to several names; Docker keys its credentials by this one. */
const HUB = 'docker.io';
const HUB_SERVER = 'https://index.docker.io/v1/';
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const HELPER_TIMEOUT_MS = 10_000;
const REGISTRY = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?$/;
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type DockerConfig = {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
};

/**
 * Credentials for the registry of `image`, and for no other: never does one registry's password
 * go to another (Docker Hub's names are one registry). In order:
 * 1. `HEAL_REGISTRY_USER` / `HEAL_REGISTRY_PASSWORD`, when `HEAL_REGISTRY` names this registry;
 * 2. `~/.docker/config.json` (or `$DOCKER_CONFIG`) as the Docker CLI reads it: the credential
 *    helper `credHelpers` names for this registry, else `credsStore`, else `auths`.
 * Undefined: pull without credentials. Throws RegistryAuthError when they cannot be had as configured.
 */
export async function registryAuth(
  image: string,
  options: RegistryAuthOptions = {},
): Promise<RegistryAuth | undefined> {
  const env = options.env ?? process.env;
  const registry = registryOf(image);
  const pair = environmentCredentials(env);
  if (pair?.registry === registry)
    return { username: pair.username, password: pair.password, serveraddress: serverAddress(registry) };
  const file = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  const config = readDockerConfig(file);
  if (!config) return undefined;
  const helper = helperFor(config, registry);
  if (helper) {
    const where = `${helper.key} of ${file}`;
    return fromHelper(helper.name, registry, where, env, options.helperTimeoutMs ?? HELPER_TIMEOUT_MS);
  }
  return fromAuths(config, registry);
}

/** What is wrong with the HEAL_REGISTRY* variables, or null: every command that pulls checks it at start. */
export function registryEnvironmentProblem(env: Readonly<Record<string, string | undefined>>): string | null {
  try {
    environmentCredentials(env);
    return null;
  } catch (error) {
    if (error instanceof RegistryAuthError) return error.message;
    throw error;
  }
}

/** The registry the environment's credentials are for, with them; null when none are set. */
function environmentCredentials(
  env: Readonly<Record<string, string | undefined>>,
): { registry: string; username: string; password: string } | null {
  const { HEAL_REGISTRY: registry, HEAL_REGISTRY_USER: username, HEAL_REGISTRY_PASSWORD: password } = env;
  if (!registry && !username && !password) return null;
  if (!username || !password) {
    const missing = !username ? 'HEAL_REGISTRY_USER' : 'HEAL_REGISTRY_PASSWORD';
    throw new RegistryAuthError(
      `${missing} is not set: set HEAL_REGISTRY=host[:port], HEAL_REGISTRY_USER and HEAL_REGISTRY_PASSWORD together, or none of them`,
    );
  }
  if (!registry) {
    throw new RegistryAuthError(
      'HEAL_REGISTRY_USER and HEAL_REGISTRY_PASSWORD are set without HEAL_REGISTRY: set HEAL_REGISTRY=host[:port] to the one registry they log in to (heal sends them to no other)',
    );
  }
  if (!REGISTRY.test(registry))
    throw new RegistryAuthError(
      `HEAL_REGISTRY="${registry}" is not a registry: write host[:port], as in an image name (registry.example.com, 10.0.0.5:5000, docker.io)`,
    );
  return { registry: canonicalRegistry(registry), username, password };
}

/** `registry.example.com/blog:v1` → `registry.example.com`; `nginx`, `index.docker.io/x` → `docker.io`. */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return HUB;
  const first = image.slice(0, slash);
  // Docker's rule: a first component is a registry if it has a dot, a port or capitals, or is localhost.
  const isRegistry = /[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase();
  return isRegistry ? canonicalRegistry(first) : HUB;
}

function canonicalRegistry(host: string): string {
  const lower = host.toLowerCase();
  return HUB_NAMES.has(lower) ? HUB : lower;
}

/** How Docker names the registry to the engine and to helpers. */
function serverAddress(registry: string): string {
  return registry === HUB ? HUB_SERVER : registry;
}

/** A config key (`https://registry.example.com/v1/`, `registry.example.com`) as a registry name. */
function registryOfKey(key: string): string {
  return canonicalRegistry(key.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '');
}

function readDockerConfig(file: string): DockerConfig | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch {
    throw new RegistryAuthError(`${file} is not valid JSON`);
  }
}

function helperFor(config: DockerConfig, registry: string): { name: string; key: string } | undefined {
  for (const [key, name] of Object.entries(config.credHelpers ?? {}))
    if (registryOfKey(key) === registry) return { name, key: `credHelpers["${key}"]` };
  return config.credsStore ? { name: config.credsStore, key: 'credsStore' } : undefined;
}

function fromAuths(config: DockerConfig, registry: string): RegistryAuth | undefined {
  const serveraddress = serverAddress(registry);
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (registryOfKey(key) !== registry) continue;
    if (entry.identitytoken) return { identitytoken: entry.identitytoken, serveraddress };
    if (entry.username && entry.password)
      return { username: entry.username, password: entry.password, serveraddress };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const at = decoded.indexOf(':');
      if (at > 0) return { username: decoded.slice(0, at), password: decoded.slice(at + 1), serveraddress };
    }
  }
  return undefined;
}

/**
 * `docker-credential-NAME get` with the server on stdin, as the Docker CLI runs it. A helper
 * that has nothing for the server (it says "credentials not found") means no credentials.
 */
async function fromHelper(
  name: string,
  registry: string,
  where: string,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs: number,
): Promise<RegistryAuth | undefined> {
  if (!HELPER_NAME.test(name))
    throw new RegistryAuthError(`${where}: "${name}" is not a credential helper name`);
  const program = `docker-credential-${name}`;
  const serveraddress = serverAddress(registry);
  const answer = await runHelper(program, serveraddress, env, timeoutMs);
  if ('missing' in answer)
    throw new RegistryAuthError(`${program} is not installed or not on PATH (${where} names it)`);
  if ('timedOut' in answer)
    throw new RegistryAuthError(`${program} did not answer within ${timeoutMs / 1000} s (${where} names it)`);
  if ('failed' in answer) {
    if (/credentials not found/i.test(answer.failed)) return undefined;
    // Helpers print their error on stdout; its first line says what went wrong, not a secret.
    const first = answer.failed.split('\n')[0]!.slice(0, 200);
    throw new RegistryAuthError(`${program} get failed for ${serveraddress}: ${first}`);
  }
  let credentials: { Username?: unknown; Secret?: unknown };
  try {
    credentials = JSON.parse(answer.output) as typeof credentials;
  } catch {
    throw new RegistryAuthError(`${program} get answered something other than JSON for ${serveraddress}`);
  }
  const { Username: username, Secret: secret } = credentials;
  if (typeof secret !== 'string' || secret === '') return undefined;
  // Docker's convention: the user `<token>` means the secret is an identity token.
  if (username === '<token>') return { identitytoken: secret, serveraddress };
  return typeof username === 'string' ? { username, password: secret, serveraddress } : undefined;
}

type HelperAnswer =
  | { readonly output: string }
  | { readonly failed: string }
  | { readonly missing: true }
  | { readonly timedOut: true };

function runHelper(
  program: string,
  server: string,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs: number,
): Promise<HelperAnswer> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      ['get'],
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve({ output: stdout });
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve({ missing: true });
        if (error.killed) return resolve({ timedOut: true });
        resolve({ failed: stdout.trim() || stderr.trim() || error.message });
      },
    );
    // A helper that exits without reading stdin must not become an unhandled EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(server);
  });
}
