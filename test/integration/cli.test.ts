import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeError, EXIT, exitCodeFor, UsageError } from '../../src/cli/errors.js';
import { SpecError } from '../../src/spec/errors.js';

/** The built CLI: `npm test` builds dist/ before vitest runs. */
const HEAL = fileURLToPath(new URL('../../bin/heal.js', import.meta.url));

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folderWith(files: Readonly<Record<string, string>>): string {
  const folder = mkdtempSync(join(tmpdir(), 'heal-cli-'));
  folders.push(folder);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, name)), { recursive: true });
    writeFileSync(join(folder, name), text);
  }
  return folder;
}

type Run = { status: number | null; stdout: string; stderr: string; ms: number };

/** Runs `heal ...args` in `cwd` with a bare environment, so no variable of this machine leaks in. */
function heal(
  cwd: string,
  args: string[],
  options: { input?: string | Buffer; env?: Record<string, string> } = {},
): Run {
  const started = performance.now();
  const result = spawnSync(process.execPath, [HEAL, ...args], {
    cwd,
    input: options.input ?? '',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...options.env },
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  // heal stops reading stdin past its limit and exits: the rest of a large input finds the pipe closed.
  const closedEarly = (result.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
  if (result.error && !(closedEarly && result.status !== null)) throw result.error;
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    ms: performance.now() - started,
  };
}

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

const VALID = yaml(
  'name: demo',
  'x-heal:',
  '  hosts:',
  '    h1: { ssh: deploy@10.0.0.11:2222, labels: { zone: a } }',
  'services:',
  '  web:',
  '    image: registry.example.com/web:${TAG:-latest}',
  '    env_file: web.env',
  '    environment: [PLAIN=visible]',
  '    ports: ["80:8080"]',
  '    deploy: { replicas: 2 }',
  '  db:',
  '    image: postgres:16',
);
const WEB_ENV = 'DB_PASSWORD=hunter2\n';

const INVALID = yaml(
  'name: demo',
  'services:',
  '  web:',
  '    image: nginx',
  '    ports:',
  '      - "80:abc"',
  '    restart: sometimes',
  '  db:',
  '    imagee: postgres',
);
const INVALID_PROBLEMS = [
  'stack.yml:6:9 services.web.ports[0]: "80:abc" is not a port mapping: "abc" is not a port number (1-65535)',
  'stack.yml:7:14 services.web.restart: "sometimes" is not a restart policy: use no, always, on-failure[:N] or unless-stopped',
  'stack.yml:8:3 services.db: has no `image:`: heal needs an image every host can pull',
  'stack.yml:9:5 services.db.imagee: unknown key "imagee" (did you mean "image"?)',
];

/** A stack trace line, which only heal's own bugs may print. */
const STACK_TRACE = /^\s+at /m;

describe('heal validate', () => {
  it('reads ./stack.yml by default and prints one line when it is valid', () => {
    const folder = folderWith({ 'stack.yml': VALID, 'web.env': WEB_ENV });
    expect(heal(folder, ['validate'])).toMatchObject({
      status: 0,
      stdout: 'stack.yml: valid: stack demo, 2 services, 1 host\n',
      stderr: '',
    });
  });

  it('reads the file -f names', () => {
    const folder = folderWith({ 'deploy/prod.yml': VALID, 'deploy/web.env': WEB_ENV });
    expect(heal(folder, ['validate', '-f', 'deploy/prod.yml'])).toMatchObject({
      status: 0,
      stdout: 'deploy/prod.yml: valid: stack demo, 2 services, 1 host\n',
    });
    expect(heal(folder, ['validate', '--file', 'deploy/prod.yml']).status).toBe(0);
  });

  it('reports every problem with file:line:col and key path, exit 1, no stack trace', () => {
    const folder = folderWith({ 'stack.yml': INVALID });
    const run = heal(folder, ['validate']);
    expect(run.status).toBe(EXIT.failed);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`${INVALID_PROBLEMS.join('\n')}\n`);
    expect(run.stderr).not.toMatch(STACK_TRACE);
  });

  it('reads the spec from stdin with -f -', () => {
    const folder = folderWith({ 'web.env': WEB_ENV });
    expect(heal(folder, ['validate', '-f', '-'], { input: VALID })).toMatchObject({
      status: 0,
      stdout: '<stdin>: valid: stack demo, 2 services, 1 host\n',
      stderr: '',
    });
    const invalid = heal(folder, ['validate', '-f', '-'], { input: INVALID });
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toBe(
      `${INVALID_PROBLEMS.map((line) => line.replace('stack.yml:', '<stdin>:')).join('\n')}\n`,
    );
  });

  it('refuses a file that does not exist', () => {
    expect(heal(folderWith({}), ['validate', '-f', 'nope.yml'])).toMatchObject({
      status: 1,
      stdout: '',
      stderr: 'nope.yml: does not exist\n',
    });
  });

  it('refuses a 50 MB file within a second of work', () => {
    const folder = folderWith({ 'stack.yml': '' });
    truncateSync(join(folder, 'stack.yml'), 50 * 1024 * 1024);
    const run = heal(folder, ['validate']);
    expect(run).toMatchObject({
      status: 1,
      stderr: 'stack.yml: is too large (50.0 MiB; the limit is 4.0 MiB)\n',
    });
    // Node's own start-up is most of this.
    expect(run.ms).toBeLessThan(3_000);
  });

  it('refuses 50 MB on stdin', () => {
    const run = heal(folderWith({}), ['validate', '-f', '-'], {
      input: Buffer.alloc(50 * 1024 * 1024, 0x61),
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^<stdin>: is too large \(more than \d+\.\d MiB; the limit is 4\.0 MiB\)\n$/);
  });

  it('refuses a YAML alias bomb', () => {
    const levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (let level = 1; level < 10; level += 1) {
      const [previous, name] = [String.fromCharCode(96 + level), String.fromCharCode(97 + level)];
      levels.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${previous}`).join(', ')}]`);
    }
    const run = heal(folderWith({ 'stack.yml': yaml(...levels, 'services: {}') }), ['validate']);
    expect(run).toMatchObject({
      status: 1,
      stderr: 'stack.yml:1:1: the document expands to more than 200000 nodes (too many aliases?)\n',
    });
    expect(run.ms).toBeLessThan(3_000);
  });
});

describe('variables', () => {
  const spec = yaml('name: demo', 'services:', '  web:', '    image: app:${TAG:-none}');
  const image = (run: Run): unknown =>
    (JSON.parse(run.stdout) as { services: { web: { image: string } } }).services.web.image;

  it('come from .env beside the spec, where the environment wins', () => {
    const folder = folderWith({ 'deploy/stack.yml': spec, 'deploy/.env': 'TAG=dotenv\n' });
    expect(image(heal(folder, ['config', '--json', '-f', 'deploy/stack.yml']))).toBe('app:dotenv');
    expect(image(heal(folder, ['config', '--json', '-f', 'deploy/stack.yml'], { env: { TAG: 'env' } }))).toBe(
      'app:env',
    );
  });

  it('come from the file --env-file names instead of .env', () => {
    const folder = folderWith({ 'stack.yml': spec, '.env': 'TAG=dotenv\n', 'prod.env': 'TAG=prod\n' });
    expect(image(heal(folder, ['config', '--json', '--env-file', 'prod.env']))).toBe('app:prod');
    expect(image(heal(folder, ['config', '--json', '--env-file=prod.env']))).toBe('app:prod');
  });

  it('fail on an unset ${VAR?}', () => {
    const folder = folderWith({
      'stack.yml': yaml('name: demo', 'services:', '  web:', '    image: app:${TAG?set TAG}'),
    });
    expect(heal(folder, ['validate'])).toMatchObject({
      status: 1,
      stderr: 'stack.yml:4:12 services.web.image: required variable TAG is missing a value: set TAG\n',
    });
  });
});

describe('heal config', () => {
  it('prints the normalized spec as YAML, env_file values redacted', () => {
    const folder = folderWith({ 'stack.yml': VALID, 'web.env': WEB_ENV });
    const run = heal(folder, ['config'], { env: { TAG: 'v3' } });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).not.toContain('hunter2');
    const printed = parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(printed)).toEqual([
      'name',
      'services',
      'networks',
      'volumes',
      'secrets',
      'configs',
      'x-heal',
    ]);
    expect(printed).toMatchObject({
      name: 'demo',
      services: {
        web: {
          image: 'registry.example.com/web:v3',
          environment: { DB_PASSWORD: '**redacted**', PLAIN: 'visible' },
          ports: [{ target: 8080, published: 80, host_ip: null, protocol: 'tcp', mode: 'ingress' }],
          networks: { default: { aliases: [], ipv4_address: null } },
          stop_grace_period: '10s',
          pull_policy: 'missing',
          deploy: {
            mode: 'replicated',
            replicas: 2,
            restart_policy: { condition: 'any', delay: '0s', max_attempts: 0, window: '0s' },
            update_config: {
              parallelism: 1,
              delay: '0s',
              failure_action: 'pause',
              monitor: '5s',
              max_failure_ratio: 0,
              order: 'stop-first',
            },
          },
          'x-heal-config-hash': expect.stringMatching(/^v1:[0-9a-f]{64}$/) as string,
        },
        db: { image: 'postgres:16', environment: {} },
      },
      networks: { default: { name: 'demo_default', external: false } },
      'x-heal': {
        hosts: {
          h1: { ssh: 'deploy@10.0.0.11:2222', socket: '/var/run/docker.sock', labels: { zone: 'a' } },
        },
        watch: { interval: '15s', host_down_after: '4s', rebalance: false },
      },
    });
  });

  it('prints the same as JSON with --json', () => {
    const folder = folderWith({ 'stack.yml': VALID, 'web.env': WEB_ENV });
    const asYaml = heal(folder, ['config']);
    const asJson = heal(folder, ['config', '--json']);
    expect(asJson.status).toBe(0);
    expect(asJson.stdout).not.toContain('hunter2');
    expect(JSON.parse(asJson.stdout)).toEqual(parse(asYaml.stdout));
  });

  it('fails like validate on a broken spec', () => {
    const run = heal(folderWith({ 'stack.yml': INVALID }), ['config', '--json']);
    expect(run).toMatchObject({ status: 1, stdout: '', stderr: `${INVALID_PROBLEMS.join('\n')}\n` });
  });
});

describe('usage mistakes', () => {
  it.each([
    ['an unknown option', ['validate', '--bogus'], "error: unknown option '--bogus'"],
    ['-f without a file', ['validate', '-f'], "error: option '-f, --file <file>' argument missing"],
    ['an unknown command', ['frobnicate'], "error: unknown command 'frobnicate'"],
  ])('exit 64 on %s', (_what, args, message) => {
    const run = heal(folderWith({}), args);
    expect(run.status).toBe(EXIT.usage);
    expect(run.stderr.split('\n')[0]).toBe(message);
    expect(run.stderr).not.toMatch(STACK_TRACE);
  });

  it('exit 0 on --help', () => {
    const run = heal(folderWith({}), ['validate', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('-f, --file <file>');
    expect(run.stdout).toContain('--env-file <file>');
  });
});

describe('exit codes', () => {
  it('maps a user mistake to 1 with its message alone, usage to 64, anything else to 70 with a stack', () => {
    const spec = new SpecError([{ file: 'stack.yml', line: 1, col: 1, path: 'name', message: 'is wrong' }]);
    expect(exitCodeFor(spec)).toBe(1);
    expect(describeError(spec)).toBe('stack.yml:1:1 name: is wrong');
    expect(exitCodeFor(new UsageError('bad flag'))).toBe(64);
    const bug = new TypeError('undefined is not a function');
    expect(exitCodeFor(bug)).toBe(70);
    expect(describeError(bug)).toMatch(
      /^heal: internal error \(a bug in heal; please report it\):\nTypeError: undefined is not a function\n\s+at /,
    );
  });
});
