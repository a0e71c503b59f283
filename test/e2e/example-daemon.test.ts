/**
 * examples/daemon end to end: the systemd unit's command line, run as systemd would run it (its
 * ExecStart with the variables of /etc/heal/env filled in, SIGTERM to stop), following a git
 * repository that holds the blog example; a signed push webhook brings a commit in at once.
 * systemd itself is not on the test bed: what is tested is the command the unit runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestbed, type TestbedEnv } from '../testbed.js';
import { cleanStack } from './helpers.js';
import {
  freePort,
  GitRemote,
  githubSignature,
  killStartedWatches,
  postHook,
  replicasOnAll,
  startWatch,
  statusOf,
  until,
  type Watch,
} from './watch-helpers.js';

const STACK = 'e2edaemon';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const SECRET = 'e2e-daemon-example-secret';
const UNIT = new URL('../../examples/daemon/heal-watch.service', import.meta.url);
const BLOG = new URL('../../examples/blog/stack.yml', import.meta.url);

let env: TestbedEnv;
let root: string;
let remote: GitRemote;
let daemon: Watch;

/** The blog example as the repository holds it, under this test's stack name. */
function blog(replicas: number): string {
  return readFileSync(BLOG, 'utf8')
    .replace(/^name: blog$/m, `name: ${STACK}`)
    .replace(/replicas: 3 /, `replicas: ${replicas} `);
}

/** The unit's ExecStart arguments after `heal`, with ${VARIABLES} from its environment file. */
function execStart(variables: Readonly<Record<string, string>>): string[] {
  const line = readFileSync(UNIT, 'utf8')
    .split('\n')
    .find((item) => item.startsWith('ExecStart='));
  expect(line).toBeDefined();
  const words = line!.slice('ExecStart='.length).trim().split(/\s+/);
  expect(words.slice(0, 2)).toEqual(['/usr/bin/env', 'heal']);
  return words
    .slice(2)
    .map((word) =>
      word.replace(/\$\{(\w+)\}/g, (_whole, name: string) => variables[name] ?? `<${name} unset>`),
    );
}

async function healthyReplicas(): Promise<number> {
  const replicas = await replicasOnAll(env, HOSTS, STACK);
  return replicas.filter((replica) => /\(healthy\)/.test(replica.status)).length;
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  root = mkdtempSync(join(tmpdir(), 'heal-e2e-daemon-'));
  remote = await GitRemote.create(root);
  await cleanStack(HOSTS, STACK);
});

afterAll(async () => {
  killStartedWatches();
  if (env) await cleanStack(HOSTS, STACK);
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("examples/daemon: the systemd unit's heal watch", () => {
  it('follows the repository named in its environment file and deploys the stack', async () => {
    await remote.push(blog(2), 'blog: 2 replicas');
    const args = execStart({ HEAL_REPO: remote.bare });
    expect(args).toEqual([
      'watch',
      '--repo',
      remote.bare,
      '--ref',
      'main',
      '--path',
      'stack.yml',
      '--allow-ssh',
      '/etc/heal/ssh',
      '--listen',
      '127.0.0.1:9400',
    ]);
    // The unit listens on 9400; the test takes a free port so it can run beside anything.
    const port = await freePort();
    // The unit's /etc/heal/ssh is, on the test bed, the folder of its key and known_hosts.
    const folder = dirname(env.identityFile);
    const here = args.slice(1, -2).map((arg) => (arg === '/etc/heal/ssh' ? folder : arg));
    daemon = startWatch(root, here, port, {
      HEAL_WEBHOOK_SECRET: SECRET,
      XDG_CACHE_HOME: join(root, 'cache'),
    });
    await until('2 healthy replicas', 60_000, async () =>
      (await healthyReplicas()) === 2 ? true : undefined,
    );
    const status = await until('a converged reconcile', 30_000, async () => {
      const now = await statusOf(port);
      return now.lastReconcile?.outcome === 'converged' ? now : undefined;
    });
    expect(status.stack).toBe(STACK);
  }, 120_000);

  it('takes a pushed commit at once when the forge calls the webhook', async () => {
    const sha = await remote.push(blog(3), 'blog: 3 replicas');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
    const pushed = Date.now();
    const answer = await postHook(daemon.port, body, githubSignature(SECRET, body));
    expect(answer.status).toBe(202);
    await until('3 healthy replicas', 30_000, async () =>
      (await healthyReplicas()) === 3 ? true : undefined,
    );
    // Well inside the 15 s poll: the webhook, not the timer, brought it.
    expect(Date.now() - pushed).toBeLessThan(10_000);
    expect((await statusOf(daemon.port)).revision).toBe(sha);
  }, 60_000);

  it("stops on the unit's KillSignal (SIGTERM) with exit 0, leaving the replicas running", async () => {
    const unit = readFileSync(UNIT, 'utf8');
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    daemon.signal('SIGTERM');
    const exit = await daemon.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(await healthyReplicas()).toBe(3);
  }, 60_000);
});
