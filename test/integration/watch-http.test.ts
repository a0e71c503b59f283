/**
 * The daemon's HTTP surface on a real socket, with fetch. No Docker needed: it lives here because it
 * binds ports.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpListenError, parseListen, startHttp } from '../../src/watch/http.js';
import type { HookResponse, HttpServer } from '../../src/watch/http.js';
import { createLogger } from '../../src/watch/log.js';
import { createMetrics } from '../../src/watch/metrics.js';

const MiB = 1024 * 1024;

function logSink(): { log: ReturnType<typeof createLogger>; entries(): Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = createLogger({ stream, pretty: false, level: 'debug' });
  return { log, entries: () => text.split('\n').flatMap((line) => (line === '' ? [] : [JSON.parse(line)])) };
}

type HookCall = { body: string; headers: IncomingHttpHeaders };

let server: HttpServer;
let base: string;
let ready = false;
let alive = { ok: true, why: 'ok' };
let status: () => unknown = () => ({
  stack: 'blog',
  outcome: 'converged',
  services: { web: { running: 3 } },
});
const hookCalls: HookCall[] = [];
const sink = logSink();
const metrics = createMetrics();

/** Accepts a push signed `good`, like a caller checking an HMAC would. */
function onGitHook(body: Buffer, headers: IncomingHttpHeaders): HookResponse {
  if (headers['x-hub-signature-256'] === 'explode') throw new Error('hook bug at /secret/path');
  hookCalls.push({ body: body.toString(), headers });
  if (headers['x-hub-signature-256'] !== 'good') return { status: 401, message: 'bad signature' };
  return { status: 202, message: 'reconcile queued' };
}

beforeAll(async () => {
  server = await startHttp({
    listen: '127.0.0.1:0',
    metrics,
    status: () => status(),
    ready: () => ready,
    alive: () => alive,
    onGitHook,
    log: sink.log,
  });
  base = `http://127.0.0.1:${server.address.port}`;
});

afterAll(async () => {
  await server?.close();
});

/** A POST whose body streams in chunks, with no Content-Length. */
function streamed(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const size = Math.min(64 * 1024, total - sent);
      sent += size;
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
}

describe('startHttp', () => {
  it('listens where it was told, the port resolved', () => {
    expect(server.address.host).toBe('127.0.0.1');
    expect(server.address.port).toBeGreaterThan(0);
    expect(sink.entries()).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'http listening', port: server.address.port }),
    );
  });

  it('GET /healthz: 200 ok', async () => {
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await response.text()).toBe('ok\n');
  });

  it('GET /healthz: 503 with why once the daemon says its loop has stopped moving', async () => {
    alive = { ok: false, why: 'no reconcile has finished or moved on for 700 s' };
    const stuck = await fetch(`${base}/healthz`);
    expect([stuck.status, await stuck.text()]).toEqual([
      503,
      'no reconcile has finished or moved on for 700 s\n',
    ]);
    alive = { ok: true, why: 'ok' };
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('GET /readyz: 503 until ready, then 200', async () => {
    ready = false;
    const before = await fetch(`${base}/readyz`);
    expect([before.status, await before.text()]).toEqual([503, 'not ready\n']);
    ready = true;
    const after = await fetch(`${base}/readyz`);
    expect([after.status, await after.text()]).toEqual([200, 'ready\n']);
    ready = false;
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  });

  it('GET /metrics: the Prometheus text of the registry it was given', async () => {
    metrics.setRevision('blog', 'a1b2c3d');
    metrics.countHeal('blog', 'unhealthy');
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(metrics.contentType);
    const text = await response.text();
    expect(text).toContain('heal_spec_revision_info{stack="blog",revision="a1b2c3d"} 1\n');
    expect(text).toContain('heal_heals_total{stack="blog",reason="unhealthy"} 1\n');
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
  });

  it('GET /status: what status() returns, as JSON, asked afresh each time', async () => {
    const first = await fetch(`${base}/status`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await first.json()).toEqual({
      stack: 'blog',
      outcome: 'converged',
      services: { web: { running: 3 } },
    });

    const previous = status;
    status = () => ({ stack: 'blog', outcome: 'waiting', retryInSeconds: 5 });
    try {
      expect(await (await fetch(`${base}/status`)).json()).toEqual({
        stack: 'blog',
        outcome: 'waiting',
        retryInSeconds: 5,
      });
    } finally {
      status = previous;
    }
  });

  it('a failing handler answers 500 with a short line, never a stack trace, and logs the error', async () => {
    const previous = status;
    status = () => {
      throw new Error('status exploded at /home/heal/secret');
    };
    try {
      const response = await fetch(`${base}/status`);
      expect(response.status).toBe(500);
      expect(await response.text()).toBe('internal error\n');
    } finally {
      status = previous;
    }
    const logged = sink.entries().find((entry) => entry.msg === 'http handler failed');
    expect(logged).toMatchObject({
      level: 'error',
      path: '/status',
      err: { message: expect.stringContaining('exploded') },
    });

    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    status = () => cyclic;
    try {
      const response = await fetch(`${base}/status`);
      expect([response.status, await response.text()]).toEqual([500, 'internal error\n']);
    } finally {
      status = previous;
    }
  });

  it('POST /hooks/git: hands the body and headers to the hook and answers with its status', async () => {
    hookCalls.length = 0;
    const payload = JSON.stringify({ ref: 'refs/heads/main', after: 'e4f5a6b' });

    const denied = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'forged' },
      body: payload,
    });
    expect([denied.status, await denied.text()]).toEqual([401, 'bad signature\n']);

    const accepted = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'good' },
      body: payload,
    });
    expect([accepted.status, await accepted.text()]).toEqual([202, 'reconcile queued\n']);

    expect(hookCalls.map((call) => call.body)).toEqual([payload, payload]);
    expect(hookCalls[1]?.headers).toMatchObject({
      'content-type': 'application/json',
      'x-hub-signature-256': 'good',
    });
  });

  it('POST /hooks/git: takes a body of exactly 1 MiB, streamed or not', async () => {
    hookCalls.length = 0;
    const sized = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': 'good' },
      body: new Uint8Array(MiB).fill(120),
    });
    expect(sized.status).toBe(202);
    const chunked = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': 'good' },
      body: streamed(MiB),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(202);
    expect(hookCalls.map((call) => call.body.length)).toEqual([MiB, MiB]);
  });

  it('POST /hooks/git: 413 past 1 MiB, by Content-Length or as it streams, without calling the hook', async () => {
    hookCalls.length = 0;
    const sized = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': 'good' },
      body: new Uint8Array(MiB + 1),
    });
    expect([sized.status, await sized.text()]).toEqual([413, 'payload too large\n']);

    const chunked = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': 'good' },
      body: streamed(4 * MiB),
      duplex: 'half',
    } as RequestInit);
    expect([chunked.status, await chunked.text()]).toEqual([413, 'payload too large\n']);
    expect(hookCalls).toEqual([]);

    // The server is none the worse for it.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('POST /hooks/git: a hook that throws gives 500 and no stack trace', async () => {
    const response = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': 'explode' },
      body: '{}',
    });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).toBe('internal error\n');
  });

  it('405 with Allow for a known path and the wrong method', async () => {
    const post = await fetch(`${base}/healthz`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow'), await post.text()]).toEqual([
      405,
      'GET, HEAD',
      'method not allowed\n',
    ]);
    const get = await fetch(`${base}/hooks/git`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    const del = await fetch(`${base}/metrics`, { method: 'DELETE' });
    expect(del.status).toBe(405);
  });

  it('HEAD on a GET route: the status and headers alone', async () => {
    const response = await fetch(`${base}/readyz`, { method: 'HEAD' });
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('');
  });

  it('404 for everything else; a query string does not change the route', async () => {
    for (const path of ['/', '/nope', '/healthz/extra', '/hooks', '/hooks/git/x', '/HEALTHZ']) {
      const response = await fetch(`${base}${path}`);
      expect([path, response.status, await response.text()]).toEqual([path, 404, 'not found\n']);
    }
    expect((await fetch(`${base}/healthz?verbose=1`)).status).toBe(200);
  });

  it('a malformed request gets 400 from node, not a stack trace', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(server.address.port, '127.0.0.1', () => {
        socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nnot a header\r\n\r\n');
      });
      socket
        .on('data', (chunk) => (text += chunk.toString()))
        .on('end', () => resolve(text))
        .on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(reply).not.toMatch(/\bat /);
  });
});

describe('startHttp: without a git hook', () => {
  it('POST /hooks/git is 404', async () => {
    const bare = await startHttp({
      listen: '127.0.0.1:0',
      metrics: createMetrics(),
      status: () => null,
      ready: () => true,
      log: logSink().log,
    });
    try {
      const base = `http://127.0.0.1:${bare.address.port}`;
      const response = await fetch(`${base}/hooks/git`, {
        method: 'POST',
        body: '{"ref":"refs/heads/main"}',
      });
      expect([response.status, await response.text()]).toEqual([404, 'not found\n']);
      expect(await (await fetch(`${base}/status`)).json()).toBeNull();
    } finally {
      await bare.close();
    }
  });
});

describe('startHttp: binding', () => {
  const options = () => ({
    metrics: createMetrics(),
    status: () => null,
    ready: () => true,
    log: logSink().log,
  });

  it('rejects an address in use with an error that names it', async () => {
    const taken = `127.0.0.1:${server.address.port}`;
    const attempt = startHttp({ ...options(), listen: taken });
    await expect(attempt).rejects.toThrow(HttpListenError);
    await expect(attempt).rejects.toThrow(`cannot listen on ${taken}: address already in use`);
  });

  it('rejects a listen address it cannot read', async () => {
    for (const listen of ['9400', 'localhost', '127.0.0.1:99999', '::1:9400', '127.0.0.1:']) {
      await expect(startHttp({ ...options(), listen })).rejects.toThrow(
        `invalid listen address "${listen}": expected host:port, :port or [ipv6]:port, port 0-65535`,
      );
    }
  });

  it('reads host:port, :port and [v6]:port', () => {
    expect(parseListen('127.0.0.1:9400')).toEqual({ host: '127.0.0.1', port: 9400 });
    expect(parseListen(':9400')).toEqual({ host: '', port: 9400 });
    expect(parseListen('[::1]:9400')).toEqual({ host: '::1', port: 9400 });
    expect(parseListen('localhost:0')).toEqual({ host: 'localhost', port: 0 });
  });

  it('listens on every interface for :port', async () => {
    const wide = await startHttp({ ...options(), listen: ':0' });
    try {
      expect((await fetch(`http://127.0.0.1:${wide.address.port}/healthz`)).status).toBe(200);
    } finally {
      await wide.close();
    }
  });

  it('closes with keep-alive connections still open, and stops answering', async () => {
    const short = await startHttp({ ...options(), listen: '127.0.0.1:0' });
    const url = `http://127.0.0.1:${short.address.port}/healthz`;
    expect((await fetch(url)).status).toBe(200);
    await short.close();
    await expect(fetch(url)).rejects.toThrow();
  });
});
