/**
 * examples/daemon end to end: the systemd unit's command line, run as systemd would run it (its
 * ExecStart with the variables of /etc/heal/env filled in, SIGTERM to stop), following a git
 * repository that holds the blog example; a signed push webhook brings a commit in at once.
 * systemd itself is not on the test bed: what is tested is the command the unit runs. With
 * notification flags added, a local server takes the daemon's signed webhook and the Gitea commit
 * statuses of each commit it applies.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
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
const NOTIFY_SECRET = 'e2e-daemon-notify-secret';
const STATUS_TOKEN = 'e2e-daemon-status-token';
const UNIT = new URL('../../examples/daemon/heal-watch.service', import.meta.url);
const BLOG = new URL('../../examples/blog/stack.yml', import.meta.url);

let env: TestbedEnv;
let root: string;
let remote: GitRemote;
let daemon: Watch;
/** What the daemon sent to the local notification server. */
const notified: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
let notifyServer: Server;
let notifyBase: string;

/** The events the webhook carried for a revision, each checked against its signature. */
function webhookEvents(revision: string): string[] {
  return notified
    .filter((request) => request.path === '/hook')
    .map((request) => {
      const signature = `sha256=${createHmac('sha256', NOTIFY_SECRET).update(request.body).digest('hex')}`;
      expect(request.headers['x-heal-signature-256']).toBe(signature);
      return JSON.parse(request.body) as { event: string; revision: string | null };
    })
    .filter((event) => event.revision === revision)
    .map((event) => event.event);
}

/** The Gitea commit statuses posted for a revision, with the token checked. */
function statuses(revision: string): string[] {
  return notified
    .filter((request) => request.path === `/gitea/api/v1/repos/org/blog/statuses/${revision}`)
    .map((request) => {
      expect(request.headers.authorization).toBe(`token ${STATUS_TOKEN}`);
      return (JSON.parse(request.body) as { state: string }).state;
    });
}

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
  notifyServer = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      notified.push({ path: request.url ?? '', headers: request.headers, body });
      response.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => notifyServer.listen(0, '127.0.0.1', resolve));
  const address = notifyServer.address();
  notifyBase = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  killStartedWatches();
  if (env) await cleanStack(HOSTS, STACK);
  if (root) rmSync(root, { recursive: true, force: true });
  notifyServer?.closeAllConnections();
  notifyServer?.close();
});

describe("examples/daemon: the systemd unit's heal watch", () => {
  it('follows the repository named in its environment file and deploys the stack', async () => {
    const first = await remote.push(blog(2), 'blog: 2 replicas');
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
    const notify = [
      ...['--notify-webhook', `${notifyBase}/hook`],
      ...['--commit-status', 'gitea', '--commit-status-api', `${notifyBase}/gitea/api/v1`],
      ...['--commit-status-repo', 'org/blog'],
    ];
    daemon = startWatch(root, [...here, ...notify], port, {
      HEAL_WEBHOOK_SECRET: SECRET,
      HEAL_NOTIFY_SECRET: NOTIFY_SECRET,
      HEAL_STATUS_TOKEN: STATUS_TOKEN,
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
    // The first commit a daemon finds is announced once it acts on it, then its end.
    await until('the deploy told', 10_000, async () => (statuses(first).length === 2 ? true : undefined));
    expect(webhookEvents(first)).toEqual(['deploy.started', 'deploy.applied']);
    expect(statuses(first)).toEqual(['pending', 'success']);
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
    await until('the deploy told', 10_000, async () => (statuses(sha).length === 2 ? true : undefined));
    expect(webhookEvents(sha)).toEqual(['deploy.started', 'deploy.applied']);
    expect(statuses(sha)).toEqual(['pending', 'success']);
    expect(daemon.stdout() + daemon.stderr()).not.toMatch(new RegExp(`${NOTIFY_SECRET}|${STATUS_TOKEN}`));
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
