import { posix } from 'node:path';
import { describe, type Check } from './check.js';
import type { KeyPath } from './errors.js';
import type { Lookup } from './interpolate.js';
import { isPlainObject } from './parse.js';
import type { ServiceBuild } from './build-types.js';

/** The repository of heal's own images for services with `build:` and no `image:`. */
export const LOCAL_REPOSITORY = 'heal.local';

const BUILD_KEYS = [
  'context',
  'dockerfile',
  'dockerfile_inline',
  'args',
  'target',
  'labels',
  'network',
  'shm_size',
  'no_cache',
  'pull',
] as const;

/**
 * Compose build keys heal does not build, with why. heal builds through the Engine API's classic
 * builder (`POST /build`): what only BuildKit does is refused rather than dropped, since an
 * image built without it would not be the image the file asks for.
 */
const REFUSED: Readonly<Record<string, string>> = {
  ssh: "needs BuildKit (an SSH agent forwarded into RUN steps), which heal's builder (the Engine API's classic /build) lacks: build and push the image with `docker buildx build`, and set `image:` without `build:`",
  secrets:
    "needs BuildKit (secrets mounted into RUN steps), which heal's builder lacks: build and push the image with `docker buildx build`, and set `image:` without `build:`",
  cache_to: "needs BuildKit (cache export), which heal's builder lacks: remove it",
  additional_contexts:
    "needs BuildKit (named contexts), which heal's builder lacks: copy the files into the context",
  platforms:
    "needs BuildKit (multi-platform images), which heal's builder lacks: heal builds for its build host's platform; remove it",
  entitlements: "needs BuildKit (entitlements), which heal's builder lacks: remove it",
  privileged: "needs BuildKit (privileged RUN steps), which heal's builder lacks: remove it",
  provenance: "needs BuildKit (attestations), which heal's builder lacks: remove it",
  sbom: "needs BuildKit (attestations), which heal's builder lacks: remove it",
  cache_from: "is not built yet: heal reuses the build host's own layer cache; remove it",
  tags: 'is not built yet: heal tags the image by its content (`image:` gives the repository); remove it',
  extra_hosts: 'is not built yet: remove it, or resolve the names in the Dockerfile',
  ulimits: 'is not built yet: remove it',
  isolation: "is Windows containers' (the classic builder on Linux has no isolation modes): remove it",
};

/**
 * `build:` as a string (the context) or a mapping. `image` is the service's `image:` (undefined
 * when absent): its repository becomes the built image's, and a registry in it means push.
 */
export function normalizeBuild(
  check: Check,
  value: unknown,
  path: KeyPath,
  image: string | undefined,
  names: { readonly stack: string; readonly service: string },
  lookup: Lookup,
): ServiceBuild | null {
  if (value === undefined || value === null) return null;
  const raw: Record<string, unknown> | undefined =
    typeof value === 'string'
      ? { context: value }
      : isPlainObject(value)
        ? value
        : check.fail(path, `must be a context path or a mapping, not ${describe(value)}`);
  if (!raw) return null;
  for (const [key, why] of Object.entries(REFUSED))
    if (key in raw && raw[key] !== null) check.fail([...path, key], why, 'key');
  const known = check.object(raw, path, [...BUILD_KEYS, ...Object.keys(REFUSED)]);
  if (!known) return null;
  const at = (key: string): KeyPath => (typeof value === 'string' ? path : [...path, key]);

  const context = check.optionalString(raw.context, at('context')) ?? '.';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(context) || /^git@|\.git(#.*)?$/.test(context))
    check.fail(
      at('context'),
      `"${context}" is a remote context: heal builds the committed files of the repository holding the spec; point context at a folder in it`,
    );
  const dockerfile = check.optionalString(raw.dockerfile, at('dockerfile'));
  const dockerfileInline = check.optionalString(raw.dockerfile_inline, at('dockerfile_inline'));
  if (dockerfile !== null && dockerfileInline !== null)
    check.fail(at('dockerfile_inline'), 'cannot be set together with `dockerfile`: keep one of them', 'key');
  if (dockerfile !== null && (posix.isAbsolute(dockerfile) || posix.normalize(dockerfile).startsWith('../')))
    check.fail(
      at('dockerfile'),
      `"${dockerfile}" is outside the context: heal sends the context only; move the Dockerfile into it`,
    );
  const args: Record<string, string> = {};
  for (const [key, item] of check.keyValues(raw.args, at('args'))) {
    // compose: `args: [KEY]` takes the value from the environment, and leaves it out when unset.
    const taken = item ?? lookup(key);
    if (typeof taken === 'string') args[key] = taken;
  }
  const repository = builtRepository(check, image, names, path);
  return {
    context,
    dockerfile: posix.normalize(dockerfile ?? 'Dockerfile'),
    dockerfileInline,
    args,
    target: check.optionalString(raw.target, at('target')),
    labels: check.labels(raw.labels, at('labels')),
    network: check.optionalString(raw.network, at('network')),
    shmSize: check.bytes(raw.shm_size, at('shm_size')),
    noCache: check.boolean(raw.no_cache, at('no_cache'), false),
    pull: check.boolean(raw.pull, at('pull'), false),
    repository,
    push: image !== undefined && registryHost(repository) !== null,
    source: null,
  };
}

/** `image:` without its tag (a digest is refused: a build has no digest before it runs). */
function builtRepository(
  check: Check,
  image: string | undefined,
  names: { readonly stack: string; readonly service: string },
  path: KeyPath,
): string {
  if (image === undefined) return `${LOCAL_REPOSITORY}/${names.stack}/${names.service}`.toLowerCase();
  const imagePath = [...path.slice(0, -1), 'image'];
  if (image.includes('@')) {
    check.fail(
      imagePath,
      `"${image}" pins a digest: a built image has none before it is built; remove the digest`,
    );
    return image.split('@')[0]!;
  }
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) {
    check.warn(
      imagePath,
      `the tag "${image.slice(colon + 1)}" is not used: heal tags what it builds by its content (${image.slice(0, colon)}:<digest>), so an unchanged context is never rebuilt`,
      'value',
    );
    return image.slice(0, colon);
  }
  return image;
}

/** The registry an image reference names, as docker reads it, or null for Docker Hub's default. */
export function registryHost(reference: string): string | null {
  const slash = reference.indexOf('/');
  if (slash < 0) return null;
  const first = reference.slice(0, slash);
  return first === 'localhost' || first.includes('.') || first.includes(':') ? first : null;
}
