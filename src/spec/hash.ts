import { createHash } from 'node:crypto';
import type { NormalizedService } from './normalize-service.js';
import type { Stack } from './types.js';

/**
 * Bump when what goes into the digest changes, so a container hashed by an older heal reads as
 * dirty once (and is replaced) rather than matching by accident.
 */
export const CONFIG_HASH_VERSION = 'v1';

/**
 * A stable digest of what a container is made from. Replicas, placement, restart and update
 * policy, dependencies and pull policy are how heal runs containers, not what they are, so they
 * stay out: changing them never replaces a container. Secret and config contents enter through
 * their digests, so editing a secret file rolls the service.
 */
export function configHash(
  service: NormalizedService,
  stack: Pick<Stack, 'secrets' | 'configs' | 'networks' | 'volumes'>,
): string {
  const { name, secretEnvironment, dependsOn, pullPolicy, deploy, ...container } = service;
  const material = {
    ...container,
    resources: deploy.resources,
    networks: service.networks.map((network) => ({
      ...network,
      engineName: stack.networks[network.name]?.engineName ?? null,
    })),
    volumes: service.volumes.map((mount) =>
      mount.type === 'volume' && mount.source !== null
        ? { ...mount, engineName: stack.volumes[mount.source]?.engineName ?? null }
        : mount,
    ),
    secrets: service.secrets.map((mount) => ({
      ...mount,
      digest: stack.secrets[mount.source]?.digest ?? null,
    })),
    configs: service.configs.map((mount) => ({
      ...mount,
      digest: stack.configs[mount.source]?.digest ?? null,
    })),
  };
  return `${CONFIG_HASH_VERSION}:${createHash('sha256').update(canonicalJson(material)).digest('hex')}`;
}

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}
