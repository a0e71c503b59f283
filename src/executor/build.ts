/**
 * Images of services with `build:`: built on one host's engine from the committed context, then
 * pushed to their registry or copied host to host over heal's own connections.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import type { Action } from '../planner/plan-types.js';
import { buildTag, filterContext, git, listTree, type ContextEntry } from '../spec/build-source.js';
import type { BuildSource, ServiceBuild } from '../spec/types.js';
import { ActionError, pullImage } from './containers.js';
import type { HostClient } from './host-client.js';
import { registryAuth, RegistryAuthError } from './registry-auth.js';

type BuildAction = Extract<Action, { kind: 'build' }>;
type CopyAction = Extract<Action, { kind: 'copy-image' }>;

/** A build may run long: the pull deadline and this on top. */
const BUILD_EXTRA_MS = 30 * 60_000;
/** How many lines of the builder's output a failure quotes: the failing step's. */
const TAIL_LINES = 20;
/** The file a `dockerfile_inline` travels in (and which the context's .dockerignore then drops). */
const INLINE_NAME = '.heal-dockerfile-inline';

/**
 * Builds the action's image on this host (POST /build, the classic builder), streaming each line
 * of the builder's output to `onLine`. With push, the registry's copy is pulled first, and only
 * built and pushed when it has none.
 */
export async function buildOnHost(
  client: HostClient,
  action: BuildAction,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const { build, image } = action;
  const source = build.source;
  if (!source)
    throw new ActionError(`${client.host.name}: build ${action.service}: its context was not resolved`);
  if (build.push) {
    const found = await pullImage(client, image, signal).then(
      () => true,
      () => false,
    );
    if (found) return onLine(`${image} is already in its registry: not built`);
  }
  const files = await contextFiles(build, source, image);
  onLine(
    `sending ${files.length} files of ${source.path || 'the repository'} at ${source.commit.slice(0, 12)}`,
  );
  const tail: string[] = [];
  const say = (text: string): void => {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      onLine(line);
    }
  };
  const failed = (why: string): ActionError =>
    new ActionError(
      `${client.host.name}: build ${action.service}: ${why}${tail.length > 0 ? `\n${tail.map((line) => `    ${line}`).join('\n')}` : ''}`,
    );
  await client.call(
    `build ${image}`,
    async (docker, abortSignal) => {
      const tar = contextTar(source.repository, files, build);
      const stream = (await docker.buildImage(
        tar as unknown as NodeJS.ReadableStream,
        {
          t: image,
          dockerfile: build.dockerfileInline === null ? build.dockerfile : INLINE_NAME,
          ...(Object.keys(build.args).length > 0 ? { buildargs: build.args } : {}),
          ...(build.target ? { target: build.target } : {}),
          ...(Object.keys(build.labels).length > 0 ? { labels: build.labels } : {}),
          ...(build.network ? { networkmode: build.network } : {}),
          ...(build.shmSize !== null ? { shmsize: build.shmSize } : {}),
          ...(build.noCache ? { nocache: true } : {}),
          ...(build.pull ? { pull: true } : {}),
          rm: true,
          forcerm: true,
          abortSignal,
        } as never,
      )) as unknown as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        let error: string | null = null;
        docker.modem.followProgress(
          stream,
          (streamError: Error | null) => {
            if (streamError) reject(failed(streamError.message));
            else if (error !== null) reject(failed(error));
            else resolve();
          },
          (event: {
            stream?: string;
            status?: string;
            error?: string;
            errorDetail?: { message?: string };
          }) => {
            if (event.stream) say(event.stream);
            else if (event.status) say(event.status);
            if (event.error) error ??= event.errorDetail?.message ?? event.error;
          },
        );
      });
    },
    { kind: 'pull', extraMs: BUILD_EXTRA_MS, ...(signal ? { signal } : {}) },
  );
  if (build.push) await pushImage(client, image, say, signal);
}

/** POST /images/{name}/push with the registry's credentials; fails with the registry's words. */
async function pushImage(
  client: HostClient,
  image: string,
  say: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const auth = await registryAuth(image).catch((error: unknown) => {
    if (error instanceof RegistryAuthError)
      throw new ActionError(`${client.host.name}: push ${image}: ${error.message}`);
    throw error;
  });
  say(`pushing ${image}`);
  await client.call(
    `push ${image}`,
    async (docker, abortSignal) => {
      // dockerd wants the header even for a registry without credentials: `{}` then.
      const stream = (await docker.getImage(image).push({
        authconfig: auth ?? {},
        abortSignal,
      } as never)) as unknown as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(
          stream,
          (error: Error | null, events: { error?: string; errorDetail?: { message?: string } }[]) => {
            const bad = events?.find((event) => event.error);
            if (error) reject(error);
            else if (bad)
              reject(
                new ActionError(
                  `${client.host.name}: push ${image}: ${bad.errorDetail?.message ?? bad.error}`,
                ),
              );
            else resolve();
          },
        );
      });
    },
    { kind: 'pull', ...(signal ? { signal } : {}) },
  );
}

/**
 * Copies an image from one engine to another: `GET /images/{name}/get` on `from`, streamed into
 * `POST /images/load` on `to`, never written to heal's disk.
 */
export async function copyImage(
  to: HostClient,
  from: HostClient,
  action: CopyAction,
  signal?: AbortSignal,
): Promise<void> {
  const { image } = action;
  await from.call(
    `save ${image}`,
    async (source, sourceSignal) => {
      const saved = (await source.getImage(image).get()) as unknown as Readable;
      sourceSignal.addEventListener('abort', () => saved.destroy(), { once: true });
      await to.call(
        `load ${image}`,
        async (target, abortSignal) => {
          const answer = (await target.loadImage(
            saved as never,
            { quiet: true, abortSignal } as never,
          )) as unknown as Readable;
          let text = '';
          for await (const chunk of answer) text += String(chunk);
          const error = /"error(?:Detail)?":\s*(?:\{"message":)?\s*"([^"]*)"/.exec(text);
          if (error)
            throw new ActionError(`${to.host.name}: load ${image} from ${from.host.name}: ${error[1]}`);
        },
        { kind: 'pull', ...(signal ? { signal } : {}) },
      );
    },
    { kind: 'pull', ...(signal ? { signal } : {}) },
  );
}

/** The context's files again, at the plan's commit; the same tag proves they are what was planned. */
async function contextFiles(
  build: ServiceBuild,
  source: BuildSource,
  image: string,
): Promise<ContextEntry[]> {
  const entries = await listTree(source.repository, source.commit, source.path);
  const ignore = entries.find((entry) => entry.path === '.dockerignore');
  const text = ignore
    ? (await git(source.repository, ['cat-file', 'blob', ignore.oid])).toString('utf8')
    : null;
  const files = filterContext(entries, text, build.dockerfile);
  if (buildTag(build, files) !== source.tag)
    throw new ActionError(
      `build ${image}: the context at ${source.commit.slice(0, 12)} is not what was planned`,
    );
  return files;
}

/**
 * A tar of the files, read from git's object store (`cat-file --batch`), with fixed times and
 * owners: the same files always make the same archive.
 */
export function contextTar(
  repository: string,
  files: readonly ContextEntry[],
  build: ServiceBuild,
): Readable {
  const pack = tarPack();
  const reader = spawn('git', ['cat-file', '--batch'], {
    cwd: repository,
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
  });
  const write = async (): Promise<void> => {
    const blobs = blobReader(reader.stdout);
    reader.stdin.end(files.map((entry) => `${entry.oid}\n`).join(''));
    const fixed = { mtime: new Date(0), uid: 0, gid: 0 };
    for (const entry of files) {
      const content = await blobs.next();
      if (entry.path === '.dockerignore' && build.dockerfileInline !== null) continue;
      if (entry.mode === '120000')
        await add(pack, {
          name: entry.path,
          type: 'symlink',
          linkname: content.toString('utf8'),
          mode: 0o777,
          ...fixed,
        });
      else
        await add(
          pack,
          { name: entry.path, mode: entry.mode === '100755' ? 0o755 : 0o644, ...fixed },
          content,
        );
    }
    if (build.dockerfileInline !== null) {
      const ignore = files.find((entry) => entry.path === '.dockerignore');
      const previous = ignore
        ? (await git(repository, ['cat-file', 'blob', ignore.oid])).toString('utf8')
        : '';
      await add(pack, { name: INLINE_NAME, mode: 0o644, ...fixed }, Buffer.from(build.dockerfileInline));
      // The builder drops what .dockerignore names, after reading the Dockerfile: it stays out of COPY . .
      await add(
        pack,
        { name: '.dockerignore', mode: 0o644, ...fixed },
        Buffer.from(`${previous}\n${INLINE_NAME}\n`),
      );
    }
    pack.finalize();
  };
  write().catch((error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))));
  return pack as unknown as Readable;
}

function add(
  pack: ReturnType<typeof tarPack>,
  header: Parameters<ReturnType<typeof tarPack>['entry']>[0],
  content?: Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null): void => (error ? reject(error) : resolve());
    if (content === undefined) pack.entry(header, done);
    else pack.entry(header, content, done);
  });
}

/** Reads `cat-file --batch` answers (`<oid> blob <size>\n<bytes>\n`) one at a time. */
function blobReader(stream: NodeJS.ReadableStream): { next(): Promise<Buffer> } {
  let buffered = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | null = null;
  stream.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  });
  stream.on('end', () => {
    ended = true;
    wake?.();
  });
  const more = (): Promise<void> =>
    new Promise((resolve) => {
      wake = () => {
        wake = null;
        resolve();
      };
    });
  return {
    async next(): Promise<Buffer> {
      for (;;) {
        const newline = buffered.indexOf(10);
        if (newline >= 0) {
          const header = buffered.subarray(0, newline).toString('utf8');
          const size = Number(header.split(' ')[2]);
          if (!Number.isInteger(size)) throw new Error(`git cat-file: ${header}`);
          if (buffered.length >= newline + 1 + size + 1) {
            const content = Buffer.from(buffered.subarray(newline + 1, newline + 1 + size));
            buffered = buffered.subarray(newline + 1 + size + 1);
            return content;
          }
        }
        if (ended) throw new Error('git cat-file ended early');
        await more();
      }
    },
  };
}

/** A failed build or copy: nothing after it runs, so no replica is stopped for an image that is not there. */
export function imageFailure(outcomes: readonly { action: Action; result: string }[]): string | null {
  const failed = outcomes.find(
    (outcome) =>
      outcome.result === 'failed' &&
      (outcome.action.kind === 'build' || outcome.action.kind === 'copy-image'),
  );
  if (!failed) return null;
  const what = failed.action.kind === 'build' ? 'the build' : 'the image copy';
  return `${what} of ${failed.action.service ?? '?'} failed: nothing else runs, what runs keeps running`;
}
