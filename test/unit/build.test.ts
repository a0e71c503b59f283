/**
 * `build:` (issue 20): the build keys, the tag derived from the committed context (a real git
 * repository made here), `.dockerignore`, the BuildKit features refused by name, and the plan's
 * build, copy and push actions.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/planner/plan.js';
import { filterContext, type ContextEntry } from '../../src/spec/build-source.js';
import { buildKitFeatures } from '../../src/spec/dockerfile-features.js';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';
import { brief, T0 } from './plan-helpers.js';
import { applyPlan, emptyWorld } from './simulate.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const HOSTS = [
  'x-heal:',
  '  hosts:',
  '    h1: { ssh: 10.0.0.11 }',
  '    h2: { ssh: 10.0.0.12 }',
  '    h3: { ssh: 10.0.0.13 }',
];

/** A git repository with `files` committed. */
function repository(files: Readonly<Record<string, string>>): {
  dir: string;
  commit(files: Record<string, string>): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'heal-build-unit-'));
  folders.push(dir);
  const git = (...args: string[]): void =>
    void execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...args], { cwd: dir });
  const commit = (more: Record<string, string>): void => {
    for (const [name, text] of Object.entries(more)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    git('add', '-A');
    git('commit', '-q', '-m', 'change');
  };
  git('init', '-q', '-b', 'main');
  commit(files);
  return { dir, commit };
}

const load = (dir: string): Promise<Stack> => loadStack({ file: 'stack.yml', cwd: dir, environment: {} });

async function problems(dir: string): Promise<string[]> {
  const error = await load(dir).then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SpecError);
  return (error as SpecError).message.split('\n');
}

const spec = (...service: string[]): string =>
  ['name: shop', ...HOSTS, 'services:', '  web:', ...service.map((line) => `    ${line}`), ''].join('\n');

const APP = {
  'app/Dockerfile': 'FROM base\nCOPY . /app\n',
  'app/main.sh': 'echo one\n',
  'app/.dockerignore': 'notes.txt\nlogs\n',
  'app/notes.txt': 'not sent\n',
  'app/logs/today.log': 'not sent either\n',
  'README.md': 'outside the context\n',
};

describe('the image built from the committed context', () => {
  it('is tagged by its content: unchanged by commits outside it or of what .dockerignore drops', async () => {
    const repo = repository({ 'stack.yml': spec('build: app'), ...APP });
    const first = (await load(repo.dir)).services.web!;
    expect(first.image).toMatch(/^heal\.local\/shop\/web:[0-9a-f]{24}$/);
    expect(first.build?.source).toMatchObject({ path: 'app', files: 3 });
    expect(first.pullPolicy).toBe('missing');

    repo.commit({ 'README.md': 'edited\n', 'app/notes.txt': 'edited\n', 'app/logs/more.log': 'new\n' });
    const same = (await load(repo.dir)).services.web!;
    expect(same.image).toBe(first.image);
    expect(same.configHash).toBe(first.configHash);

    repo.commit({ 'app/main.sh': 'echo two\n' });
    const changed = (await load(repo.dir)).services.web!;
    expect(changed.image).not.toBe(first.image);
    expect(changed.configHash).not.toBe(first.configHash);
  });

  it('changes with the build options, and takes its repository from image:', async () => {
    const repo = repository({ 'stack.yml': spec('build: app'), ...APP });
    const plain = (await load(repo.dir)).services.web!.image.split(':')[1];
    repo.commit({
      'stack.yml': spec(
        'image: registry.example.com/shop/web:v1',
        'build: { context: app, args: { MODE: prod }, target: runtime, labels: [team=a] }',
      ),
    });
    const stack = await load(repo.dir);
    const web = stack.services.web!;
    expect(web.image).toMatch(/^registry\.example\.com\/shop\/web:[0-9a-f]{24}$/);
    expect(web.image.split(':')[1]).not.toBe(plain);
    expect(web.build).toMatchObject({
      push: true,
      args: { MODE: 'prod' },
      target: 'runtime',
      labels: { team: 'a' },
    });
    expect(stack.warnings).toEqual([
      'stack.yml:9:12 services.web.image: the tag "v1" is not used: heal tags what it builds by its content (registry.example.com/shop/web:<digest>), so an unchanged context is never rebuilt',
    ]);
  });

  it('builds what is committed, and says so when the context has uncommitted changes', async () => {
    const repo = repository({ 'stack.yml': spec('build: app'), ...APP });
    const committed = (await load(repo.dir)).services.web!.image;
    writeFileSync(join(repo.dir, 'app/main.sh'), 'echo uncommitted\n');
    const stack = await load(repo.dir);
    expect(stack.services.web!.image).toBe(committed);
    expect(stack.warnings).toEqual([
      expect.stringMatching(
        /^stack\.yml:9:5 services\.web\.build: app has uncommitted changes, which heal does not build: it builds [0-9a-f]{12} \(HEAD of /,
      ) as string,
    ]);
  });

  it('refuses a missing Dockerfile, a remote context, and build keys it cannot honour', async () => {
    const repo = repository({
      'stack.yml': spec(
        'build:',
        '  context: app',
        '  dockerfile: Other.dockerfile',
        '  ssh: [default]',
        '  platforms: [linux/arm64]',
        '  cache_from: [shop/web:cache]',
      ),
      ...APP,
    });
    expect(await problems(repo.dir)).toEqual([
      "stack.yml:12:7 services.web.build.ssh: needs BuildKit (an SSH agent forwarded into RUN steps), which heal's builder (the Engine API's classic /build) lacks: build and push the image with `docker buildx build`, and set `image:` without `build:`",
      "stack.yml:13:7 services.web.build.platforms: needs BuildKit (multi-platform images), which heal's builder lacks: heal builds for its build host's platform; remove it",
      "stack.yml:14:7 services.web.build.cache_from: is not built yet: heal reuses the build host's own layer cache; remove it",
    ]);
    repo.commit({ 'stack.yml': spec('build: { context: app, dockerfile: Other.dockerfile }') });
    expect(await problems(repo.dir)).toEqual([
      expect.stringMatching(
        /^stack\.yml:9:40 services\.web\.build\.dockerfile: app\/Other\.dockerfile is not committed at [0-9a-f]{12}: heal builds committed files; commit it$/,
      ),
    ]);
    repo.commit({ 'stack.yml': spec('build: https://github.com/docker/app.git') });
    expect(await problems(repo.dir)).toEqual([
      'stack.yml:9:12 services.web.build: "https://github.com/docker/app.git" is a remote context: heal builds the committed files of the repository holding the spec; point context at a folder in it',
    ]);
  });

  it('refuses a Dockerfile that needs BuildKit, naming the feature and the line', async () => {
    const repo = repository({
      'stack.yml': spec('build: app'),
      ...APP,
      'app/Dockerfile':
        '# syntax=docker/dockerfile:1.4\nFROM base\nRUN --mount=type=cache,target=/root/.cache pip install .\n',
    });
    const found = await problems(repo.dir);
    expect(found).toHaveLength(2);
    expect(found[1]).toBe(
      "stack.yml:9:12 services.web.build: Dockerfile line 3 uses `RUN --mount` (cache, secret and bind mounts), which needs BuildKit: heal builds with the Engine API's classic builder, which has no BuildKit; rewrite that line for the classic builder, or build and push the image with `docker buildx build` and set `image:` without `build:`",
    );
  });
});

describe('BuildKit features', () => {
  it('finds directives, mount flags, heredocs and flags of COPY, and nothing in a classic Dockerfile', () => {
    expect(
      buildKitFeatures(
        [
          '# syntax=docker/dockerfile:1',
          'FROM alpine AS build',
          'RUN --mount=type=cache,target=/var/cache/apk \\',
          '    apk add gcc',
          'COPY --link --from=build /out /out',
          'COPY --chmod=755 run.sh /',
          'RUN <<EOF',
          'echo hi',
          'EOF',
        ].join('\n'),
      ),
    ).toEqual([
      { line: 1, feature: 'the `# syntax=` directive' },
      { line: 3, feature: '`RUN --mount` (cache, secret and bind mounts)' },
      { line: 5, feature: '`COPY --link`' },
      { line: 6, feature: '`COPY --chmod`' },
      { line: 7, feature: 'a heredoc in RUN (`<<EOF`)' },
    ]);
    expect(
      buildKitFeatures(
        [
          '# a comment',
          'FROM alpine',
          'RUN echo "--mount" && cat a <b',
          'COPY --from=0 --chown=1:1 /a /b',
          'CMD ["sh"]',
        ].join('\n'),
      ),
    ).toEqual([]);
  });
});

describe('.dockerignore', () => {
  const entry = (path: string): ContextEntry => ({ path, mode: '100644', oid: path });
  const paths = [
    'Dockerfile',
    '.dockerignore',
    'src/a.ts',
    'src/a.test.ts',
    'node_modules/x/i.js',
    'docs/readme.md',
    'keep.md',
  ];

  it('drops what docker drops, with exceptions, and always sends the Dockerfile and .dockerignore', () => {
    const kept = filterContext(
      paths.map(entry),
      'node_modules\n**/*.test.ts\n*.md\n!keep.md\nDockerfile\n.dockerignore\n',
      'Dockerfile',
    );
    expect(kept.map((item) => item.path)).toEqual([
      'Dockerfile',
      '.dockerignore',
      'src/a.ts',
      'docs/readme.md',
      'keep.md',
    ]);
    expect(filterContext(paths.map(entry), null, 'Dockerfile')).toHaveLength(paths.length);
  });
});

describe('the plan of a build', () => {
  it('builds on the first host, copies to the others, then creates; nothing once every host has it', async () => {
    const repo = repository({ 'stack.yml': spec('build: app', 'deploy: { replicas: 3 }'), ...APP });
    const stack = await load(repo.dir);
    const image = stack.services.web!.image;
    const world = emptyWorld(stack);
    const first = plan(stack, world, { now: T0 });
    expect(first.phases.map((phase) => phase.label)).toEqual(['build', 'copy images', 'prepare', 'create']);
    expect(brief(first).filter((line) => / (build|copy-image|pull) /.test(line))).toEqual([
      `0 build h1 ${image}`,
      `1 copy-image h2 ${image} from h1`,
      `1 copy-image h3 ${image} from h1`,
    ]);
    expect(first.actions.find((action) => action.kind === 'build')?.reason).toMatch(
      new RegExp(
        `^no host has ${image.replace(/[.]/g, '\\.')}: built from app at [0-9a-f]{12} \\(3 files\\)$`,
      ),
    );
    const after = applyPlan(world, first, T0);
    expect(plan(stack, after, { now: T0 + 1 }).actions).toEqual([]);
  });

  it('copies from a host that has the image instead of building; builds where x-heal.build.host says', async () => {
    const repo = repository({
      'stack.yml': spec('build: app', 'deploy: { replicas: 3 }').replace(
        '  hosts:',
        '  build: { host: h2 }\n  hosts:',
      ),
      ...APP,
    });
    const stack = await load(repo.dir);
    const image = stack.services.web!.image;
    const empty = emptyWorld(stack);
    expect(
      brief(plan(stack, empty, { now: T0 })).filter((line) => / (build|copy-image) /.test(line)),
    ).toEqual([
      `0 build h2 ${image}`,
      `1 copy-image h1 ${image} from h2`,
      `1 copy-image h3 ${image} from h2`,
    ]);
    const h3Has = {
      hosts: empty.hosts.map((host) => (host.name === 'h3' ? { ...host, images: [image] } : host)),
    };
    expect(
      brief(plan(stack, h3Has, { now: T0 })).filter((line) => / (build|copy-image) /.test(line)),
    ).toEqual([`0 copy-image h1 ${image} from h3`, `0 copy-image h2 ${image} from h3`]);
  });

  it('with a registry in image:, builds and pushes on the build host, and the others pull', async () => {
    const repo = repository({
      'stack.yml': spec('image: 10.0.0.1:5000/shop/web', 'build: app', 'deploy: { replicas: 3 }'),
      ...APP,
    });
    const stack = await load(repo.dir);
    const image = stack.services.web!.image;
    const first = plan(stack, emptyWorld(stack), { now: T0 });
    expect(brief(first).filter((line) => / (build|copy-image|pull) /.test(line))).toEqual([
      `0 build h1 ${image}`,
      `1 pull h2 ${image}`,
      `1 pull h3 ${image}`,
    ]);
    expect(first.actions.find((action) => action.kind === 'build')?.reason).toContain(
      'unless 10.0.0.1:5000 has it, and pushed there',
    );
  });
});
