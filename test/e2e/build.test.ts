/**
 * `build:` on the bed (issue 20): a service built from a git repository made here, from a base in
 * the bed's registry (offline). One deploy shared by the checks: built on h1 and copied to h2 and
 * h3; another service pushed to the bed's registry and pulled; a commit outside the context (and
 * one touching only a file .dockerignore drops) changes nothing; a commit changing the context
 * rebuilds and rolls out; a broken Dockerfile fails the plan with the builder's words and changes
 * nothing; a BuildKit-only Dockerfile is refused by name.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bedSpecHead, dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, containersOnAll, heal, page } from './helpers.js';
import { freePort, startWatch, statusOf, until } from './watch-helpers.js';

const STACK = 'e2ebuild';
const HOSTS = ['h1', 'h2', 'h3'];
let env: TestbedEnv;
let work: string;

const git = (...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=heal-test', '-c', 'user.email=test@heal.invalid', ...args], {
    cwd: work,
    encoding: 'utf8',
  });
const commit = (message: string): void => void git('commit', '-q', '-a', '-m', message);
const write = (path: string, text: string): void => writeFileSync(join(work, path), text);

/** The stack's built images on every host (heal.local ones, and the pushed repository's). */
async function removeImages(): Promise<void> {
  for (const host of HOSTS) {
    const ids = (await dockerOn(host, 'images', '-q', '--filter', `reference=heal.local/${STACK}/*`))
      .split('\n')
      .filter(Boolean);
    const pushed = (await dockerOn(host, 'images', '-q', `${env.registry}/${STACK}-pushed`))
      .split('\n')
      .filter(Boolean);
    if (ids.length + pushed.length > 0) await dockerOn(host, 'rmi', '-f', ...new Set([...ids, ...pushed]));
  }
}

/** A service's containers on every host, with the image each was made from. */
async function replicas(
  service: string,
): Promise<{ id: string; host: string; state: string; image: string }[]> {
  const found = await containersOnAll(HOSTS, `label=io.heal.service=${service}`);
  return Promise.all(
    found
      .filter((item) => item.stack === STACK)
      .map(async (item) => ({
        id: item.id,
        host: item.host,
        state: item.state,
        image: (await dockerOn(item.host, 'inspect', '--format', '{{.Config.Image}}', item.id)).trim(),
      })),
  );
}

async function pages(): Promise<string[]> {
  return Promise.all(env.hosts.map(async (host) => (await page(host.address, 8081))?.trim() ?? 'none'));
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  await cleanStack(HOSTS, STACK);
  await removeImages();
  work = mkdtempSync(join(tmpdir(), 'heal-build-'));
  mkdirSync(join(work, 'app'));
  write(
    'stack.yml',
    [
      ...bedSpecHead(env, STACK, ['  watch: { interval: 2s }']),
      'services:',
      '  web:',
      '    build: app',
      '    ports: [{ target: 8080, published: 8081, mode: host }]',
      '    healthcheck: { test: ["CMD", "wget", "-qO-", "localhost:8080/health"], interval: 1s, retries: 30 }',
      '    deploy:',
      '      replicas: 3',
      '      placement: { max_replicas_per_node: 1 }',
      '      update_config: { parallelism: 3, monitor: 1s }',
      '  pushed:',
      `    image: ${env.registry}/${STACK}-pushed`,
      // RUN differs per run: a tag of its own, so this run builds and pushes (the registry keeps tags).
      `    build: { context: app, args: { FLAVOUR: pushed, RUN: "${Date.now()}" } }`,
      '    deploy: { replicas: 2 }',
      '',
    ].join('\n'),
  );
  write(
    'app/Dockerfile',
    [
      `FROM ${env.images.web1}`,
      'ARG FLAVOUR=plain',
      'COPY page.txt /page.txt',
      'RUN sed -i "s/web v1/$(cat /page.txt) $FLAVOUR/" /serve',
      '',
    ].join('\n'),
  );
  write('app/page.txt', 'built one\n');
  write('app/.dockerignore', 'junk.txt\n');
  write('app/junk.txt', 'not sent\n');
  write('README.md', 'a repository\n');
  git('init', '-q', '-b', 'main');
  git('add', '.');
  commit('first');
}, 180_000);

afterAll(async () => {
  await cleanStack(HOSTS, STACK);
  await removeImages();
  rmSync(work, { recursive: true, force: true });
}, 180_000);

it('builds on h1, copies to h2 and h3, pushes the other to the registry: every replica healthy', async () => {
  const planned = await heal(work, 'plan');
  expect(planned.code, planned.stderr).toBe(0);
  expect(planned.stdout).toMatch(/build web heal\.local\/e2ebuild\/web:[0-9a-f]{24}\s+on h1: no host has/);
  expect(planned.stdout).toMatch(/copy heal\.local\/e2ebuild\/web:[0-9a-f]{24} from h1\s+on h2/);
  expect(planned.stdout).toMatch(/copy heal\.local\/e2ebuild\/web:[0-9a-f]{24} from h1\s+on h3/);
  expect(planned.stdout).toMatch(
    /build pushed 10\.231\.0\.1:5000\/e2ebuild-pushed:[0-9a-f]{24} \(push\)\s+on h1/,
  );

  const applied = await heal(work, 'apply', '--yes');
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  // The builder's own output went by, step by step.
  expect(applied.stdout).toMatch(/h1\s+pushed\s+\| pushing 10\.231\.0\.1:5000\/e2ebuild-pushed:[0-9a-f]{24}/);
  expect(applied.stdout).toMatch(/h1\s+web\s+\| Step 1\/4 : FROM 10\.231\.0\.1:5000\/web:v1/);
  const web = await replicas('web');
  expect(web.map((item) => [item.host, item.state])).toEqual([
    ['h1', 'running'],
    ['h2', 'running'],
    ['h3', 'running'],
  ]);
  expect(new Set(web.map((item) => item.image)).size).toBe(1);
  expect(web[0]!.image).toMatch(/^heal\.local\/e2ebuild\/web:[0-9a-f]{24}$/);
  expect(await pages()).toEqual(['built one plain', 'built one plain', 'built one plain']);
  const pushed = (await replicas('pushed')).filter((item) => item.state === 'running');
  expect(pushed).toHaveLength(2);
  const tag = pushed[0]!.image.split(':').pop()!;
  const tags = (await (await fetch(`http://${env.registry}/v2/${STACK}-pushed/tags/list`)).json()) as {
    tags: string[];
  };
  expect(tags.tags).toContain(tag);
  expect((await heal(work, 'plan', '--detailed-exitcode')).code).toBe(0);
}, 300_000);

it('does nothing for a commit outside the context, or of a file .dockerignore drops', async () => {
  write('README.md', 'a repository, edited\n');
  write('app/junk.txt', 'still not sent\n');
  commit('outside the build');
  const planned = await heal(work, 'plan', '--detailed-exitcode');
  expect(planned.code, planned.stdout).toBe(0);
}, 120_000);

it('rebuilds and rolls out when the context changes', async () => {
  const before = (await replicas('web')).map((item) => item.image);
  write('app/page.txt', 'built two\n');
  commit('page two');
  const applied = await heal(work, 'apply', '--yes');
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  const after = await replicas('web');
  expect(after).toHaveLength(3);
  expect(after.every((item) => item.image !== before[0])).toBe(true);
  expect(await pages()).toEqual(['built two plain', 'built two plain', 'built two plain']);
}, 300_000);

it("fails on a broken Dockerfile with the builder's words, and changes nothing", async () => {
  const before = (await containersOnAll(HOSTS, `label=io.heal.stack=${STACK}`)).map((item) => item.id).sort();
  write('app/Dockerfile', [`FROM ${env.images.web1}`, 'RUN no-such-command', ''].join('\n'));
  commit('broken');
  const applied = await heal(work, 'apply', '--yes');
  expect(applied.code).not.toBe(0);
  const output = `${applied.stdout}\n${applied.stderr}`;
  expect(output).toContain('build web');
  expect(output).toMatch(/The command '\/bin\/sh -c no-such-command' returned a non-zero code: 127/);
  expect(output).toMatch(/no-such-command: not found/);
  const after = (await containersOnAll(HOSTS, `label=io.heal.stack=${STACK}`)).map((item) => item.id).sort();
  expect(after).toEqual(before);
  expect(await pages()).toEqual(['built two plain', 'built two plain', 'built two plain']);
}, 300_000);

it('in the daemon, rejects a commit whose build fails like a bad commit: the last good revision keeps healing', async () => {
  const good = [
    `FROM ${env.images.web1}`,
    'ARG FLAVOUR=plain',
    'COPY page.txt /page.txt',
    'RUN sed -i "s/web v1/$(cat /page.txt) $FLAVOUR/" /serve',
    '',
  ].join('\n');
  write('app/Dockerfile', good);
  commit('good again');
  const goodRevision = git('rev-parse', 'HEAD').trim();
  const port = await freePort();
  const daemon = startWatch(
    work,
    [
      ...['--repo', work, '--ref', 'main', '--path', 'stack.yml'],
      ...['--allow-ssh', dirname(env.identityFile)],
    ],
    port,
    { XDG_CACHE_HOME: join(work, '.cache') },
  );
  try {
    await until(
      'the daemon on the good revision, converged',
      120_000,
      async () => {
        const status = await statusOf(port);
        return status.revision === goodRevision && status.lastReconcile?.outcome === 'converged'
          ? true
          : undefined;
      },
      500,
    );
    write('app/Dockerfile', [`FROM ${env.images.web1}`, 'RUN no-such-command', ''].join('\n'));
    commit('broken again');
    const rejected = await until(
      'the broken revision rejected',
      120_000,
      async () =>
        daemon.lines().find((line) => line.msg === 'spec rejected; the last good spec stays in force'),
      500,
    );
    expect(String(rejected.error)).toMatch(
      /The command '\/bin\/sh -c no-such-command' returned a non-zero code: 127/,
    );
    expect((await statusOf(port)).revision).toBe(goodRevision);
    // The good revision still heals: a replica killed by hand comes back on the built image.
    const [victim] = (await replicas('web')).filter((item) => item.host === 'h2');
    await dockerOn('h2', 'rm', '-f', victim!.id);
    await until(
      'web healed on h2',
      120_000,
      async () => {
        const back = (await replicas('web')).filter((item) => item.host === 'h2' && item.state === 'running');
        return back.length === 1 && back[0]!.id !== victim!.id && back[0]!.image === victim!.image
          ? true
          : undefined;
      },
      500,
    );
    expect(await pages()).toEqual(['built two plain', 'built two plain', 'built two plain']);
  } finally {
    daemon.signal('SIGTERM');
    await daemon.exited;
  }
}, 400_000);

it('refuses a Dockerfile that needs BuildKit, naming the feature', async () => {
  write(
    'app/Dockerfile',
    [
      '# syntax=docker/dockerfile:1',
      `FROM ${env.images.web1}`,
      'RUN --mount=type=cache,target=/cache true',
      '',
    ].join('\n'),
  );
  commit('buildkit');
  const planned = await heal(work, 'plan');
  expect(planned.code).toBe(1);
  expect(planned.stderr).toContain(
    'stack.yml:11:12 services.web.build: Dockerfile line 1 uses the `# syntax=` directive, which needs BuildKit',
  );
  expect(planned.stderr).toContain(
    'Dockerfile line 3 uses `RUN --mount` (cache, secret and bind mounts), which needs BuildKit',
  );
}, 120_000);
