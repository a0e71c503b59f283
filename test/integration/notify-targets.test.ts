/**
 * The notifier against a real HTTP server on 127.0.0.1 that plays GitHub, GitLab, Gitea and a
 * webhook receiver, and checks each request as each forge documents it (path, headers, body,
 * auth), answering as the forge would (201, 401, 422). Also: a target that never answers, one
 * that fails, one that is slow, and the hourly dedupe. No Docker needed: it binds a port.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/watch/log.js';
import { createMetrics } from '../../src/watch/metrics.js';
import { createNotifier, type NotifyConfig } from '../../src/watch/notify.js';
import type { NotifyEvent, NotifyKind } from '../../src/watch/notify-events.js';
import type { Forge } from '../../src/watch/notify-targets.js';

const SECRET = 'webhook-secret-0123456789';
const TOKEN = 'forge-token-abcdef987654';
const SHA = '0123456789abcdef0123456789abcdef01234567';

type Received = { path: string; headers: IncomingMessage['headers']; body: string; verdict: string };

const received: Received[] = [];
/** Requests to /hold/* wait here until a test lets them go. */
const held: (() => void)[] = [];
let server: Server;
let base: string;

/** What each forge checks, as its documentation describes the call; a string is the refusal. */
function check(
  path: string,
  headers: IncomingMessage['headers'],
  body: string,
): { status: number; why: string } {
  const json = (): Record<string, unknown> => JSON.parse(body) as Record<string, unknown>;
  const contentJson = headers['content-type'] === 'application/json';
  let match: RegExpExecArray | null;
  if ((match = /^\/github\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(path))) {
    // docs.github.com: "Create a commit status": Bearer token, state in error|failure|pending|success.
    if (headers.authorization !== `Bearer ${TOKEN}`) return { status: 401, why: 'Bad credentials' };
    if (headers.accept !== 'application/vnd.github+json') return { status: 415, why: 'media type' };
    if (headers['x-github-api-version'] !== '2022-11-28') return { status: 400, why: 'api version' };
    if (!headers['user-agent']) return { status: 403, why: 'user agent required' };
    const status = json();
    if (!contentJson || !['error', 'failure', 'pending', 'success'].includes(String(status.state)))
      return { status: 422, why: 'state' };
    if (typeof status.description !== 'string' || status.description.length > 140)
      return { status: 422, why: 'description' };
    if (typeof status.context !== 'string') return { status: 422, why: 'context' };
    return { status: 201, why: `github ${match[1]}/${match[2]} ${String(status.state)}` };
  }
  if ((match = /^\/gitlab\/api\/v4\/projects\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(path))) {
    // docs.gitlab.com: "Set the pipeline status of a commit": PRIVATE-TOKEN, :id the URL-encoded path.
    if (headers['private-token'] !== TOKEN) return { status: 401, why: '401 Unauthorized' };
    const status = json();
    if (
      !contentJson ||
      !['pending', 'running', 'success', 'failed', 'canceled'].includes(String(status.state))
    )
      return { status: 400, why: 'state does not have a valid value' };
    if (typeof status.name !== 'string') return { status: 400, why: 'name' };
    return { status: 201, why: `gitlab ${decodeURIComponent(match[1]!)} ${String(status.state)}` };
  }
  if ((match = /^\/gitea\/api\/v1\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/.exec(path))) {
    // Gitea's swagger: CreateStatusOption, `Authorization: token ...`.
    if (headers.authorization !== `token ${TOKEN}`) return { status: 401, why: 'token is required' };
    const status = json();
    if (!contentJson || !['pending', 'success', 'error', 'failure', 'warning'].includes(String(status.state)))
      return { status: 422, why: 'state' };
    return { status: 201, why: `gitea ${match[1]}/${match[2]} ${String(status.state)}` };
  }
  if (path === '/hook' || path.startsWith('/hold/')) {
    const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
    const given = Buffer.from(String(headers['x-heal-signature-256'] ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { status: 401, why: 'bad signature' };
    const event = json();
    if (headers['x-heal-event'] !== event.event) return { status: 400, why: 'event header' };
    return { status: 204, why: `webhook ${String(event.event)}` };
  }
  if (path === '/broken') return { status: 503, why: 'down for maintenance' };
  return { status: 404, why: 'not found' };
}

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const path = request.url ?? '';
      if (path === '/silent') return; // never answers
      const verdict = check(path, request.headers, body);
      received.push({ path, headers: request.headers, body, verdict: verdict.why });
      const answer = (): void => void response.writeHead(verdict.status).end(verdict.why);
      if (path.startsWith('/hold/')) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function logSink(): {
  log: ReturnType<typeof createLogger>;
  text(): string;
  entries(): Record<string, unknown>[];
} {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = createLogger({ stream, pretty: false, level: 'debug' });
  return {
    log,
    text: () => text,
    entries: () =>
      text.split('\n').flatMap((line) => (line === '' ? [] : [JSON.parse(line) as Record<string, unknown>])),
  };
}

function event(kind: NotifyKind, extra: Partial<NotifyEvent> = {}): NotifyEvent {
  return {
    kind,
    stack: 'blog',
    revision: SHA,
    host: null,
    service: null,
    message: `${SHA.slice(0, 12)} ${kind}`,
    at: '2026-12-06T00:00:00.000Z',
    ...extra,
  };
}

async function until(what: string, test: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function counted(text: string, target: string, outcome: string): number {
  const line = text
    .split('\n')
    .find((row) => row.startsWith(`heal_notifications_total{target="${target}",outcome="${outcome}"}`));
  return line === undefined ? Number.NaN : Number(line.split(' ').pop());
}

function setup(config: NotifyConfig, retryDelaysMs: number[] = [10, 10]) {
  const sink = logSink();
  const metrics = createMetrics();
  const notifier = createNotifier(config, { log: sink.log, metrics, retryDelaysMs });
  return { sink, metrics, notifier };
}

const forges: { forge: Forge; api: string; repo: string }[] = [
  { forge: 'github', api: '/github', repo: 'org/app' },
  { forge: 'gitlab', api: '/gitlab/api/v4', repo: 'group/sub/app' },
  { forge: 'gitea', api: '/gitea/api/v1', repo: 'org/app' },
];

describe('notification targets, against a server that checks what each forge documents', () => {
  it.each(forges)('$forge: pending then success on the commit, accepted as documented', async (forge) => {
    const { sink, metrics, notifier } = setup({
      commitStatus: { ...forge, api: `${base}${forge.api}`, token: TOKEN, context: null, targetUrl: null },
    });
    const before = received.length;
    notifier.send([
      event('deploy.started'),
      event('host.down', { revision: null, host: 'h2' }),
      event('deploy.applied'),
    ]);
    await notifier.close(10_000);
    const mine = received.slice(before);
    const repo = forge.forge === 'gitlab' ? 'group/sub/app' : 'org/app';
    const pending = forge.forge === 'gitlab' ? 'running' : 'pending';
    // In order, one per deploy event (a host's news marks no commit), each accepted.
    expect(mine.map((request) => request.verdict)).toEqual([
      `${forge.forge} ${repo} ${pending}`,
      `${forge.forge} ${repo} success`,
    ]);
    const text = await metrics.text();
    expect(counted(text, forge.forge, 'sent')).toBe(2);
    expect(counted(text, forge.forge, 'failed')).toBe(0);
    expect(sink.text()).not.toContain(TOKEN);
  });

  it('webhook: every event signed over its exact body; a repeat within the hour is suppressed', async () => {
    const { sink, metrics, notifier } = setup({ webhook: { url: `${base}/hook`, secret: SECRET } });
    const before = received.length;
    const down = event('host.down', { revision: null, host: 'h2', message: 'host h2 is down' });
    notifier.send([event('deploy.rolled_back'), down]);
    notifier.send([
      { ...down, at: '2026-12-06T00:00:05.000Z' },
      event('service.crashlooping', { service: 'web' }),
    ]);
    await notifier.close(10_000);
    const mine = received.slice(before);
    expect(mine.map((request) => request.verdict)).toEqual([
      'webhook deploy.rolled_back',
      'webhook host.down',
      'webhook service.crashlooping',
    ]);
    expect(JSON.parse(mine[1]!.body)).toMatchObject({ event: 'host.down', host: 'h2', severity: 'error' });
    const text = await metrics.text();
    expect(counted(text, 'webhook', 'sent')).toBe(3);
    expect(counted(text, 'webhook', 'suppressed')).toBe(1);
    expect(sink.text()).not.toContain(SECRET);
  });

  it('a wrong token is a failure, logged with what the forge said and counted, not retried', async () => {
    const { sink, metrics, notifier } = setup({
      commitStatus: {
        forge: 'github',
        api: `${base}/github`,
        repo: 'org/app',
        token: 'wrong-token-1234',
        context: 'deploy',
        targetUrl: null,
      },
    });
    const before = received.length;
    notifier.send([event('deploy.applied')]);
    await notifier.close(10_000);
    expect(received.slice(before).map((request) => request.verdict)).toEqual(['Bad credentials']);
    expect(counted(await metrics.text(), 'github', 'failed')).toBe(1);
    const failed = sink.entries().find((entry) => entry.msg === 'notification failed');
    expect(failed).toMatchObject({
      target: 'github',
      event: 'deploy.applied',
      error: 'HTTP 401: Bad credentials',
    });
    expect(sink.text()).not.toContain('wrong-token-1234');
  });

  it('a target that never answers or keeps failing costs the sender nothing: bounded, retried, counted', async () => {
    const silent = setup({ webhook: { url: `${base}/silent`, secret: SECRET }, timeoutMs: 300 });
    const broken = setup({ webhook: { url: `${base}/broken`, secret: SECRET } });
    const before = received.length;
    silent.notifier.send([event('deploy.failed')]);
    broken.notifier.send([event('deploy.failed')]);
    // send() only queued: nothing has been answered yet.
    expect(received.length).toBe(before);
    await until('both to give up', () => silent.sink.text().includes('notification failed'));
    await until('the broken one to give up', () => broken.sink.text().includes('notification failed'));
    const gaveUp = silent.sink.entries().find((entry) => entry.msg === 'notification failed');
    // Three attempts (two retries), each cut at 300 ms; the URL's path is never logged.
    expect(gaveUp).toMatchObject({
      target: 'webhook',
      to: base.slice('http://'.length),
      error: 'no answer within 300 ms',
    });
    expect(silent.sink.text()).not.toContain('/silent');
    expect(received.slice(before).map((request) => request.path)).toEqual(['/broken', '/broken', '/broken']);
    expect(counted(await broken.metrics.text(), 'webhook', 'failed')).toBe(1);
    expect(counted(await silent.metrics.text(), 'webhook', 'failed')).toBe(1);
    await Promise.all([silent.notifier.close(), broken.notifier.close()]);
  });

  it('a slow target keeps at most 100 waiting: the oldest are dropped, counted, and the rest sent in order', async () => {
    const { metrics, notifier } = setup({ webhook: { url: `${base}/hold/x`, secret: SECRET } });
    const before = received.length;
    const events = Array.from({ length: 150 }, (_, i) =>
      event('host.down', { revision: null, host: `h${i}` }),
    );
    notifier.send(events);
    await until('the first request', () => received.length > before);
    // The first is in flight; of the 149 queued behind it, the 49 oldest were dropped.
    expect(counted(await metrics.text(), 'webhook', 'dropped')).toBe(49);
    const release = async (): Promise<void> => {
      while (held.length > 0) held.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 5));
    };
    const releasing = (async () => {
      for (let i = 0; i < 2_000 && received.length - before < 101; i++) await release();
    })();
    await releasing;
    await release();
    await notifier.close(10_000);
    const hosts = received
      .slice(before)
      .map((request) => (JSON.parse(request.body) as { host: string }).host);
    expect(hosts).toEqual(['h0', ...Array.from({ length: 100 }, (_, i) => `h${i + 50}`)]);
    expect(counted(await metrics.text(), 'webhook', 'sent')).toBe(101);
  });
});
