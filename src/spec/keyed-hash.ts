import { createHash, createHmac, randomBytes } from 'node:crypto';
import { canonicalJson, configHash, hasSecretMaterial, type HashObjects } from './hash.js';
import type { Service, Stack } from './types.js';

/**
 * The stack key: 256 random bits (64 hex digits) per stack, kept on its hosts, where the secret
 * values already are in the clear (in the containers' environment). A service with secret
 * material hashes it only through an HMAC under this key, so a hash that leaves the hosts (a plan
 * in a CI log, the daemon's /status) confirms no guessed secret.
 */
export const KEYED_HASH_VERSION = 'v2';

const STACK_KEY = /^[0-9a-f]{64}$/;

/** A fresh stack key. Made by the CLI and the daemon; the planner is given one, never makes one. */
export function newStackKey(): string {
  return randomBytes(32).toString('hex');
}

export function isStackKey(value: string): boolean {
  return STACK_KEY.test(value);
}

/** 12 digits that tell keys apart in a volume name: a digest of the key, which it does not reveal. */
export function stackKeyId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * The hash a service's containers carry. Without secret material, the public digest. With some,
 * `v2:` and an HMAC-SHA256 under the stack key of the public digest and the secret material (each
 * env_file value, each secret file's digest): the same for the same spec and key on any machine,
 * different when a secret value or file changes, and unknowable without the key.
 */
export function keyedConfigHash(service: Service, stack: HashObjects, key: string): string {
  const publicHash = configHash(service, stack);
  if (!hasSecretMaterial(service)) return publicHash;
  const secret = {
    environment: Object.fromEntries(
      service.secretEnvironment.map((name) => [name, service.environment[name]]),
    ),
    files: service.secrets.map((mount) => stack.secrets[mount.source]?.digest ?? null),
  };
  const mac = createHmac('sha256', Buffer.from(key, 'hex'))
    .update(canonicalJson({ public: publicHash, secret }))
    .digest('hex');
  return `${KEYED_HASH_VERSION}:${mac}`;
}

/** The stack with each service that has secret material given its keyed hash. */
export function withStackKey(stack: Stack, key: string): Stack {
  const services: Record<string, Service> = {};
  for (const [name, service] of Object.entries(stack.services)) {
    services[name] = hasSecretMaterial(service)
      ? { ...service, configHash: keyedConfigHash(service, stack, key) }
      : service;
  }
  return { ...stack, services };
}
