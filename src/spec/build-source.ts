/**
 * The last loading phase for services with `build:`: read the context's committed files at the
 * repository's HEAD (never the working tree), filter them by the context's `.dockerignore`, and
 * derive the image's tag from their blob ids and modes and the build options. An unchanged
 * context gives the same tag on any machine after any restart, so it is never built or deployed
 * again; the service's config hash follows the tag.
 */
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { Ignore } from '@balena/dockerignore';
import type { Check } from './check.js';
import { buildKitFeatures } from './dockerfile-features.js';
import type { KeyPath } from './errors.js';
import { configHash, digest, type HashObjects } from './hash.js';
import type { BuildSource, ServiceBuild } from './build-types.js';
import type { Service } from './types.js';

/** One file of a context as git holds it: what the tag is made from and what the tar is made of. */
export type ContextEntry = {
  /** Relative to the context, posix. */
  readonly path: string;
  /** `100644`, `100755`, `120000` (a symbolic link; the blob is its target). */
  readonly mode: string;
  readonly oid: string;
};

// A CommonJS module whose types declare an ES default export: loaded as what it is.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as (options?: {
  ignorecase?: boolean;
}) => Ignore;

const MAX_GIT_OUTPUT = 256 * 1024 * 1024;

/** Runs git with fixed arguments (nothing the spec writes becomes an option); stdout as a Buffer. */
export function git(cwd: string, args: readonly string[]): Promise<Buffer> {
  return new Promise((done, fail) => {
    execFile(
      'git',
      ['-c', 'core.quotepath=off', ...args],
      {
        cwd,
        encoding: 'buffer',
        maxBuffer: MAX_GIT_OUTPUT,
        // Reads only: no index refresh written behind the user's back.
        env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0' },
      },
      (error, stdout, stderr) => {
        if (error) fail(new Error(stderr.toString('utf8').trim() || error.message));
        else done(stdout);
      },
    );
  });
}

/** The files of the tree at `commit:path`, recursively (`ls-tree -r -z`). */
export async function listTree(repository: string, commit: string, path: string): Promise<ContextEntry[]> {
  const prefix = path === '' ? '' : `${path}/`;
  const out = await git(repository, [
    'ls-tree',
    '-r',
    '-z',
    '--full-tree',
    commit,
    '--',
    ...(path ? [prefix] : []),
  ]);
  const entries: ContextEntry[] = [];
  for (const record of out.toString('utf8').split('\0')) {
    if (record === '') continue;
    const tab = record.indexOf('\t');
    const [mode, type, oid] = record.slice(0, tab).split(' ') as [string, string, string];
    const full = record.slice(tab + 1);
    if (!full.startsWith(prefix)) continue;
    entries.push({ path: full.slice(prefix.length), mode: type === 'commit' ? 'submodule' : mode, oid });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The entries a build sends: `.dockerignore` applied as docker applies it, the Dockerfile and
 * `.dockerignore` themselves always kept (docker sends them whatever the patterns say).
 */
export function filterContext(
  entries: readonly ContextEntry[],
  ignoreText: string | null,
  dockerfile: string,
): ContextEntry[] {
  if (ignoreText === null) return [...entries];
  const rules = dockerignore({ ignorecase: false }).add(ignoreText.split(/\r?\n/));
  return entries.filter(
    (entry) => entry.path === dockerfile || entry.path === '.dockerignore' || !rules.ignores(entry.path),
  );
}

/** The image tag: a digest of the files sent and of every option that changes what is built. */
export function buildTag(build: ServiceBuild, files: readonly ContextEntry[]): string {
  return digest({
    v: 1,
    files: files.map((entry) => [entry.path, entry.mode, entry.oid]),
    dockerfile: build.dockerfile,
    dockerfileInline: build.dockerfileInline,
    args: build.args,
    target: build.target,
    labels: build.labels,
    network: build.network,
    shmSize: build.shmSize,
    pull: build.pull,
  }).slice(0, 24);
}

type Resolved = { readonly source: BuildSource; readonly warning: string | null };

/**
 * Fills every built service's source and image reference, and rehashes it. `root`: heal watch's
 * checkout, which a context may not leave.
 */
export async function resolveBuilds(
  check: Check,
  services: Record<string, Service>,
  objects: HashObjects,
  dir: string,
  root: string | null,
): Promise<void> {
  const built = Object.values(services).filter((service) => service.build !== null);
  if (built.length === 0) return;
  const head = await repositoryHead(dir);
  for (const service of built) {
    const path: KeyPath = ['services', service.name, 'build'];
    if ('error' in head) {
      check.fail(path, head.error, 'key');
      continue;
    }
    const resolved = await resolveOne(check, service.build!, path, dir, head, root);
    if (!resolved) continue;
    if (resolved.warning) check.warn(path, resolved.warning);
    const build = { ...service.build!, source: resolved.source };
    const next = { ...service, build, image: `${build.repository}:${resolved.source.tag}` };
    services[service.name] = { ...next, configHash: configHash(next, objects) };
  }
}

type Head = { readonly repository: string; readonly commit: string } | { readonly error: string };

async function repositoryHead(dir: string): Promise<Head> {
  const top = await git(dir, ['rev-parse', '--show-toplevel']).catch(() => null);
  if (top === null)
    return {
      error: `heal builds the committed files of the git repository holding the spec, and ${dir} is in none: commit the spec and the context to git, or build and push the image and set \`image:\` without \`build:\``,
    };
  const repository = top.toString('utf8').trim();
  const commit = await git(repository, ['rev-parse', '--verify', 'HEAD^{commit}']).catch(() => null);
  if (commit === null)
    return {
      error: `the repository ${repository} has no commit yet: heal builds committed files; commit the context`,
    };
  return { repository, commit: commit.toString('utf8').trim() };
}

async function resolveOne(
  check: Check,
  build: ServiceBuild,
  path: KeyPath,
  dir: string,
  head: { readonly repository: string; readonly commit: string },
  root: string | null,
): Promise<Resolved | undefined> {
  const contextPath = path;
  const absolute = real(resolve(dir, build.context));
  const inRepository = relative(real(head.repository), absolute);
  if (inRepository.startsWith('..') || isAbsolute(inRepository))
    return check.fail(
      contextPath,
      `${build.context} is outside the repository ${head.repository}: heal builds committed files only`,
    );
  if (root !== null) {
    const inRoot = relative(real(root), absolute);
    if (inRoot.startsWith('..') || isAbsolute(inRoot))
      return check.fail(
        contextPath,
        `${build.context} is outside the checkout: a commit may build only its own files`,
      );
  }
  const context = inRepository.split('\\').join('/');
  const short = head.commit.slice(0, 12);
  const where = context === '' ? 'the repository' : context;
  const entries = await listTree(head.repository, head.commit, context);
  if (entries.length === 0)
    return check.fail(
      contextPath,
      `${where} has no committed files at ${short}: heal builds committed files; commit the context`,
    );
  const submodule = entries.find((entry) => entry.mode === 'submodule');
  if (submodule)
    return check.fail(
      contextPath,
      `${where} holds the submodule ${submodule.path}: building a submodule is not built yet`,
    );
  const ignore = entries.find((entry) => entry.path === '.dockerignore');
  const ignoreText = ignore
    ? (await git(head.repository, ['cat-file', 'blob', ignore.oid])).toString('utf8')
    : null;
  const files = filterContext(entries, ignoreText, build.dockerfile);

  let dockerfileText = build.dockerfileInline;
  if (dockerfileText === null) {
    const entry = files.find((item) => item.path === build.dockerfile);
    if (!entry)
      return check.fail(
        build.dockerfile === 'Dockerfile' ? contextPath : [...path, 'dockerfile'],
        `${context === '' ? '' : `${context}/`}${build.dockerfile} is not committed at ${short}: heal builds committed files; commit it`,
      );
    dockerfileText = (await git(head.repository, ['cat-file', 'blob', entry.oid])).toString('utf8');
  }
  const features = buildKitFeatures(dockerfileText);
  if (features.length > 0) {
    const name = build.dockerfileInline === null ? build.dockerfile : 'dockerfile_inline';
    for (const { line, feature } of features)
      check.fail(
        build.dockerfileInline === null ? contextPath : [...path, 'dockerfile_inline'],
        `${name} line ${line} uses ${feature}, which needs BuildKit: heal builds with the Engine API's classic builder, which has no BuildKit; rewrite that line for the classic builder, or build and push the image with \`docker buildx build\` and set \`image:\` without \`build:\``,
      );
    return undefined;
  }

  const status = await git(head.repository, [
    'status',
    '--porcelain',
    '-z',
    '--untracked-files=normal',
    '--',
    context === '' ? '.' : context,
  ]).catch(() => Buffer.alloc(0));
  const warning =
    status.length > 0
      ? `${where} has uncommitted changes, which heal does not build: it builds ${short} (HEAD of ${head.repository})`
      : null;
  return {
    source: {
      repository: head.repository,
      commit: head.commit,
      path: context,
      files: files.length,
      tag: buildTag(build, files),
    },
    warning,
  };
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
