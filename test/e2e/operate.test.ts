/**
 * The person on call's commands on the test bed: `heal logs` merges the replicas of three hosts
 * in time order and follows a replacement and a host that drops; `heal exec` runs in a replica
 * with and without a TTY and passes its exit code back; `heal run` makes a one-off from the
 * service's config (env_file, secrets) that no plan counts and that is gone afterwards.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFleet } from '../../src/executor/fleet.js';
import { readLogs } from '../../src/operate/logs.js';
import { loadStack } from '../../src/spec/load.js';
import { bedSpecHead, dockerOn, ensureTestbed, testbed, type TestbedEnv } from '../testbed.js';
import {
  cleanStack,
  containersOnAll,
  heal,
  killStartedHeals,
  startHeal,
  waitFor,
  type Run,
} from './helpers.js';

const STACK = 'e2eops';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const HEAL = new URL('../../bin/heal.js', import.meta.url).pathname;
const TESTBED = new URL('../../scripts/testbed', import.meta.url).pathname;
const run = promisify(execFile);

let env: TestbedEnv;
let work: string;
let spec: string;

const healHere = (...args: string[]): Promise<Run> => heal(work, ...args, '-f', spec);

type Row = {
  time: string;
  service: string;
  slot: number;
  host: string;
  container: string;
  stream: string;
  message: string;
};
const rows = (text: string): Row[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Row);

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-ops-'));
  spec = join(work, 'stack.yml');
  writeFileSync(join(work, 'app.env'), 'DB_URL=postgres://db/app\n');
  writeFileSync(join(work, 'token.txt'), 's3cr3t-token\n');
  writeFileSync(
    spec,
    [
      ...bedSpecHead(env, STACK),
      'secrets:',
      '  token: { file: token.txt }',
      'services:',
      '  ticker:',
      `    image: ${env.images.web1}`,
      // Each replica counts on stdout and stderr, five lines a second, each with its container's id.
      '    command: ["sh", "-c", "i=0; while true; do echo \\"$$(hostname) out $$i\\"; echo \\"$$(hostname) err $$i\\" >&2; i=$$((i+1)); sleep 0.2; done"]',
      '    env_file: app.env',
      '    secrets: [token]',
      '    stop_grace_period: 1s',
      '    deploy: { replicas: 3, placement: { max_replicas_per_node: 1 } }',
      // ~30 MB of history on h2, more than the pipes between its engine and heal hold.
      '  chatty:',
      `    image: ${env.images.web1}`,
      '    command: ["sh", "-c", "yes \\"a line of history padded to about a hundred bytes, so that many lines make megabytes\\" | head -n 300000; echo done; exec sleep 3600"]',
      '    logging: { driver: json-file, options: { max-size: 50m } }',
      '    stop_grace_period: 1s',
      '    deploy: { replicas: 1, placement: { constraints: [node.hostname == h2] } }',
      '',
    ].join('\n'),
  );
  await cleanStack(HOSTS, STACK);
  const applied = await healHere('apply', '--yes');
  expect(applied.code, applied.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  killStartedHeals();
  if (env) await testbed('mend', 'h3').catch(() => undefined);
  if (env) await testbed('unhang-engine', 'h2').catch(() => undefined);
  if (env) await cleanStack(HOSTS, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('heal logs', () => {
  it("merges every host's replicas in time order, stdout and stderr apart", async () => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const read = await healHere('logs', 'ticker', '--json', '--tail', '20');
    expect(read.code, read.stderr).toBe(0);
    const out = rows(read.stdout);
    const err = rows(read.stderr);
    expect(new Set(out.map((row) => row.host))).toEqual(new Set(HOSTS));
    expect(out.every((row) => row.stream === 'stdout' && / out \d+$/.test(row.message))).toBe(true);
    expect(err.every((row) => row.stream === 'stderr' && / err \d+$/.test(row.message))).toBe(true);
    // 20 lines per replica, of both streams, ending where the merge ends.
    expect(out.length + err.length).toBe(60);
    const times = out.map((row) => row.time);
    expect(times).toEqual([...times].sort());
    // The hosts interleave: the merge is by time, not host after host.
    const hostRuns = out.map((row) => row.host).filter((host, index, all) => host !== all[index - 1]);
    expect(hostRuns.length).toBeGreaterThan(6);

    const plain = await healHere('logs', 'ticker', '--tail', '2', '-t');
    expect(plain.stdout).toMatch(/^ticker\.\d@h\d +\| \d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f]{12} out \d+$/m);
    const unknown = await healHere('logs', 'nope');
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('"nope": no such service');
  });

  it("ends a host's history that stops in the middle after the read deadline, with a note, and the exit says so", async () => {
    await waitFor('the history written', 90_000, async () =>
      (await dockerOn('h2', 'logs', '--tail', '1', `${STACK}-chatty-1`).catch(() => '')).includes('done')
        ? true
        : undefined,
    );
    const stack = await loadStack({ file: 'stack.yml', cwd: work, environment: {} });
    const fleet = openFleet(stack);
    const notes: string[] = [];
    let lines = 0;
    try {
      const lost = await readLogs({
        stack,
        fleet,
        services: ['chatty'],
        since: null,
        until: null,
        tail: null,
        follow: false,
        onEntry: () => {
          // The engine stops (as a frozen host) once its first line is in: the rest never comes.
          if (lines++ === 0) execFileSync(TESTBED, ['hang-engine', 'h2'], { stdio: 'ignore' });
        },
        onNote: (note) => notes.push(note),
        signal: new AbortController().signal,
        now: Date.now,
      });
      expect(lost, `${lines} lines, notes ${notes.join('; ')}`).toEqual(['h2']);
      expect(notes).toEqual(['h2: chatty.1 sent nothing for 5s: the rest of its logs are not shown']);
      expect(lines).toBeGreaterThan(0);
      expect(lines).toBeLessThan(300_001);
    } finally {
      await testbed('unhang-engine', 'h2');
      await fleet.close();
    }
  });

  it('follows a replica replaced mid-follow as its new container, and says once that a host drops', async () => {
    const follow = startHeal(work, ['logs', 'ticker', '--follow', '--json', '--tail', '0', '-f', spec]);
    await waitFor('lines from every host', 60_000, async () =>
      new Set(rows(follow.stdout()).map((row) => row.host)).size === 3 ? true : undefined,
    );
    const [old] = (await containersOnAll(['h2'], `label=io.heal.stack=${STACK}`)).filter(
      (c) => c.service === 'ticker',
    );
    await dockerOn('h2', 'rm', '-f', old!.id);
    const applied = await healHere('apply', '--yes');
    expect(applied.code, applied.stderr).toBe(0);
    const [replacement] = (await containersOnAll(['h2'], `label=io.heal.stack=${STACK}`)).filter(
      (c) => c.service === 'ticker',
    );
    expect(replacement!.id).not.toBe(old!.id);
    const newId = replacement!.id.slice(0, 12);
    await waitFor('lines of the new replica', 60_000, async () =>
      rows(follow.stdout()).some((row) => row.message.startsWith(`${newId} out`)) ? true : undefined,
    );

    await testbed('cut', 'h3');
    await waitFor('the note that h3 dropped', 90_000, async () =>
      follow.stderr().includes('h3 does not answer') ? true : undefined,
    );
    await testbed('mend', 'h3');
    await waitFor('the note that h3 is back', 90_000, async () =>
      follow.stderr().includes('h3 answers again') ? true : undefined,
    );
    process.kill(follow.pid, 'SIGINT');
    const ended = await follow.done;
    expect(ended.code).toBe(0);
    expect(ended.stderr.split('h3 does not answer').length - 1).toBe(1);
    // The old replica's lines came before the new one's, and the other hosts went on throughout.
    const lines = rows(ended.stdout);
    expect(lines.some((row) => row.message.startsWith(`${old!.id.slice(0, 12)} out`))).toBe(true);
    expect(lines.some((row) => row.host === 'h1')).toBe(true);
  });
});

describe('heal exec', () => {
  it('runs in a replica and passes its exit code, stdout and stderr apart', async () => {
    const ran = await healHere(
      'exec',
      'ticker.2',
      '--',
      'sh',
      '-c',
      'echo "in $(hostname) $DB_URL"; echo oops >&2; exit 3',
    );
    expect(ran.code).toBe(3);
    expect(ran.stdout).toMatch(/^in [0-9a-f]{12} postgres:\/\/db\/app$/m);
    expect(ran.stderr).toBe('oops\n');
  });

  it("passes stdin with -i, and gives a TTY when heal's own terminal is one", async () => {
    const piped = execFile(
      'node',
      [HEAL, 'exec', '-i', 'ticker', '-f', spec, '--', 'sh', '-c', 'tr a-z A-Z'],
      {
        cwd: work,
      },
    );
    piped.stdin!.end('through stdin\n');
    let stdout = '';
    piped.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => piped.on('close', resolve));
    expect(code).toBe(0);
    expect(stdout).toBe('THROUGH STDIN\n');

    // `script` gives heal a terminal: the command sees a TTY; with -T it does not.
    const inTerminal = async (flags: string): Promise<string> =>
      (
        await run(
          'script',
          ['-qec', `node ${HEAL} exec ${flags} -f ${spec} ticker -- sh -c 'tty; exit 0'`, '/dev/null'],
          {
            cwd: work,
          },
        )
      ).stdout;
    expect(await inTerminal('')).toMatch(/\/dev\/pts\/\d+/);
    expect(await inTerminal('-T')).toMatch(/not a tty/);
  });
});

describe('heal run', () => {
  it("runs a one-off with the service's env and secrets, passes its exit code, and leaves nothing", async () => {
    const ran = await healHere(
      'run',
      'ticker',
      '--',
      'sh',
      '-c',
      'echo "$DB_URL $(cat /run/secrets/token)"; exit 4',
    );
    expect(ran.code, ran.stderr).toBe(4);
    expect(ran.stdout).toBe('postgres://db/app s3cr3t-token\n');
    const left = await containersOnAll(HOSTS, `label=io.heal.role=one-off`);
    expect(left.filter((container) => container.stack === STACK)).toEqual([]);
  });

  it('is no replica and no drift while it runs, and is removed when interrupted', async () => {
    const oneOff = startHeal(work, ['run', 'ticker', '-f', spec, '--', 'sleep', '60']);
    const running = await waitFor('the one-off to run', 60_000, async () => {
      const found = (await containersOnAll(HOSTS, `label=io.heal.role=one-off`)).filter(
        (c) => c.stack === STACK,
      );
      return found.length === 1 && found[0]!.state === 'running' ? found[0] : undefined;
    });
    const planned = await healHere('plan', '--json');
    expect(planned.code, planned.stderr).toBe(0);
    expect((JSON.parse(planned.stdout) as { actions: unknown[] }).actions).toEqual([]);
    expect(planned.stderr).toBe('');
    const status = await healHere('status', '--json');
    const services = JSON.parse(status.stdout) as { service: string; running: number; desired: number }[];
    expect(services.map(({ service, running, desired }) => ({ service, running, desired }))).toEqual([
      { service: 'chatty', running: 1, desired: 1 },
      { service: 'ticker', running: 3, desired: 3 },
    ]);
    process.kill(oneOff.pid, 'SIGINT');
    const ended = await oneOff.done;
    expect(ended.code).not.toBe(0);
    const left = await containersOnAll(HOSTS, `label=io.heal.role=one-off`);
    expect(left.map((container) => container.id)).not.toContain(running.id);
  });
});
