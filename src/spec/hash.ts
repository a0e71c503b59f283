import { createHash } from 'node:crypto';
import type { NormalizedService } from './normalize-service.js';
import { servesMesh } from './mesh-ports.js';
import type { Service, Stack } from './types.js';

/**
 * Bump when what goes into the digest changes, so a container hashed by an older heal reads as
 * dirty once (and is replaced) rather than matching by accident. Not bumped when secret material
 * left the digest: a service without any hashes exactly as before (its containers stay), and one
 * with some gets a keyed hash (`keyed-hash.ts`) that no older hash can match.
 */
export const CONFIG_HASH_VERSION = 'v1';

/** What stands for an env_file value in the public digest: its key counts, never its value. */
const SECRET_VALUE = '**secret**';

/** The stack's objects a service's hash reads. */
export type HashObjects = Pick<Stack, 'secrets' | 'configs' | 'networks' | 'volumes'>;

/**
 * The public digest of what a container is made from. Replicas, placement, restart and update
 * policy, dependencies and pull policy are how heal runs containers, not what they are, so they
 * stay out: changing them never replaces a container. Config contents enter through their
 * digests. Secret material (env_file values, secret file contents) does not enter at all: a
 * digest of it would let anyone holding the spec confirm a guessed secret with one SHA-256. For a
 * service with secret material, the hash its containers carry is derived from this one and the
 * secret material under the stack key (`keyed-hash.ts`); for any other, it is this one.
 */
export function configHash(service: NormalizedService | Service, stack: HashObjects): string {
  // A built image enters through its reference, whose tag is the digest of its build (build-source.ts).
  const { name, secretEnvironment, dependsOn, pullPolicy, deploy, build: _build, ...rest } = service;
  // A Service (the planner keys whole services) carries its hash: not part of what it is made from.
  const { configHash: _own, engine, ...container } = rest as typeof rest & { configHash?: string };
  const secret = new Set(secretEnvironment);
  const material = {
    ...container,
    ...setOnly(engine),
    environment: Object.fromEntries(
      Object.entries(service.environment).map(([key, value]) => [
        key,
        secret.has(key) ? SECRET_VALUE : value,
      ]),
    ),
    resources: setOnly(deploy.resources),
    networks: service.networks.map((network) => ({
      ...setOnly(network),
      engineName: stack.networks[network.name]?.engineName ?? null,
    })),
    volumes: service.volumes.map((mount) => {
      if (mount.type === 'volume' && mount.source !== null)
        return { ...setOnly(mount), engineName: stack.volumes[mount.source]?.engineName ?? null };
      if (mount.type !== 'bind') return setOnly(mount);
      // A relative source hashes as written from the spec's folder, not as this checkout's path;
      // an absolute one hashes as before the field existed.
      const { relativeSource, ...bind } = setOnly(mount);
      return relativeSource === null ? bind : { ...bind, source: relativeSource };
    }),
    // Which secrets are mounted where is public; what they hold is not.
    secrets: service.secrets.map((mount) => ({ ...mount, digest: null })),
    configs: service.configs.map((mount) => ({
      ...mount,
      digest: stack.configs[mount.source]?.digest ?? null,
    })),
    // A replica of a mesh service publishes its listeners on ephemeral ports instead of binding
    // its published ports: another container from the same keys. Present only then, so that a
    // container heal made before the mesh, holding a published port itself, is replaced.
    ...(servesMesh(service) ? { meshed: true } : {}),
  };
  return `${CONFIG_HASH_VERSION}:${createHash('sha256').update(canonicalJson(material)).digest('hex')}`;
}

/**
 * Fields added after v1 enter the digest only when set: a service that does not use them hashes
 * exactly as before, so upgrading heal replaces no container.
 */
const ADDED_AFTER_V1 = new Set([
  // EngineOptions
  'cpuShares',
  'cpuPeriod',
  'cpuQuota',
  'cpuRtPeriod',
  'cpuRtRuntime',
  'cpuset',
  'memSwappiness',
  'memswapLimit',
  'uts',
  'cgroupParent',
  'deviceCgroupRules',
  'macAddress',
  'storageOpt',
  'annotations',
  'oomKillDisable',
  'oomScoreAdj',
  'usernsMode',
  'cgroup',
  'dnsOpt',
  'blkio',
  // ServiceNetwork
  'ipv6Address',
  // Mount
  'subpath',
  'selinux',
  // Resources
  'devices',
]);

function setOnly<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([key, item]) => !ADDED_AFTER_V1.has(key) || !isUnset(item)),
  ) as T;
}

function isUnset(value: unknown): boolean {
  if (value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value as object).length === 0;
}

/** Whether a service's containers hold secret material: env_file values or file secrets. */
export function hasSecretMaterial(service: Pick<Service, 'secretEnvironment' | 'secrets'>): boolean {
  return service.secretEnvironment.length > 0 || service.secrets.length > 0;
}

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

/** sha256 of a value's canonical JSON, in hex: a pure fingerprint (a mesh proxy's config hash). */
export function digest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
