import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkLoadOptions, type LoadOptions, reasonOf, runLoad, startLoad } from '../load/load.js';
import { describeStep, percentile, type RequestRecord, summarize } from '../load/summary.js';

/** Local servers on 127.0.0.1, each closed after its test. */
const servers: (Server | HttpServer)[] = [];
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(
    servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
  );
});

async function listen(server: Server | HttpServer): Promise<string> {
  servers.push(server);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Answers `body` with `status`; counts connections and the most open at once. */
async function answering(body: string, status = 200, delayMs = 0) {
  const seen = { connections: 0, open: 0, maxOpen: 0, requests: 0 };
  const server = createHttpServer((_request, response) => {
    seen.requests += 1;
    setTimeout(() => {
      response.statusCode = status;
      response.end(`${body}\n`);
    }, delayMs);
  });
  server.on('connection', (socket: Socket) => {
    seen.connections += 1;
    seen.open += 1;
    seen.maxOpen = Math.max(seen.maxOpen, seen.open);
    socket.on('close', () => (seen.open -= 1));
  });
  const url = await listen(server);
  return { url, seen, server };
}

/** Resets each connection (RST) once the request arrives. */
function resetting(): Promise<string> {
  return listen(createNetServer((socket) => socket.once('data', () => socket.resetAndDestroy())));
}

/** Accepts connections and never answers. */
function silent(): Promise<string> {
  return listen(createNetServer(() => undefined));
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<string> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const base = (targets: string[], over: Partial<LoadOptions> = {}): LoadOptions => ({
  targets,
  concurrency: 2,
  maxRequests: 10,
  maxDurationMs: 30_000,
  timeoutMs: 5_000,
  ...over,
});

describe('load generator against local servers', () => {
  it('counts answers, each on a new connection, round-robin over the targets, with their bodies', async () => {
    const a = await answering('replica-a');
    const b = await answering('replica-b');
    const result = await runLoad(
      base([`${a.url}/host`, `${b.url}/host`], { maxRequests: 12, keepBodies: true }),
    );
    expect(result).toMatchObject({
      sent: 12,
      ok: 12,
      failed: 0,
      stoppedBy: 'max-requests',
      failureWindow: null,
    });
    expect(result.bodies).toEqual({ 'replica-a': 6, 'replica-b': 6 });
    expect(result.distinctBodies).toBe(2);
    expect(result.byTarget).toEqual({
      [`${a.url}/host`]: { sent: 6, failed: 0 },
      [`${b.url}/host`]: { sent: 6, failed: 0 },
    });
    // No keep-alive: one connection per request.
    expect([a.seen.connections, b.seen.connections]).toEqual([6, 6]);
    expect(result.records.every((record) => record.status === 200)).toBe(true);
    expect(result.p50Ms).not.toBeNull();
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms!);
  });

  it('keeps no body unless asked', async () => {
    const a = await answering('replica-a');
    const result = await runLoad(base([a.url], { maxRequests: 3 }));
    expect(result.ok).toBe(3);
    expect(result.distinctBodies).toBe(0);
    expect(result.records.some((record) => record.body !== undefined)).toBe(false);
  });

  it('tells refused, reset, timed out and 5xx apart', async () => {
    const refused = await closedPort();
    const reset = await resetting();
    const hung = await silent();
    const broken = await answering('overloaded', 503);
    const result = await runLoad(
      base([refused, reset, hung, broken.url], { maxRequests: 8, concurrency: 4, timeoutMs: 300 }),
    );
    expect(result).toMatchObject({ sent: 8, ok: 0, failed: 8 });
    expect(result.byReason).toEqual({ refused: 2, reset: 2, timeout: 2, 'http-5xx': 2 });
    const reasonAt = (target: string) =>
      result.records.filter((record) => record.target === target).map((record) => record.reason);
    expect(reasonAt(refused)).toEqual(['refused', 'refused']);
    expect(reasonAt(reset)).toEqual(['reset', 'reset']);
    expect(reasonAt(hung)).toEqual(['timeout', 'timeout']);
    expect(reasonAt(broken.url)).toEqual(['http-5xx', 'http-5xx']);
    expect(
      result.records.filter((record) => record.reason === 'http-5xx').map((record) => record.status),
    ).toEqual([503, 503]);
    // A timed-out request waited its whole timeout, no more than its bound lets it.
    for (const record of result.records.filter((record) => record.reason === 'timeout'))
      expect(record.durationMs).toBeGreaterThanOrEqual(299);
    expect(result.failureWindow).not.toBeNull();
  });

  it('counts a 4xx as failed', async () => {
    const missing = await answering('no such page', 404);
    const result = await runLoad(base([missing.url], { maxRequests: 2 }));
    expect(result.byReason).toEqual({ 'http-4xx': 2 });
  });

  it('sees a server closed mid-run: answers before, refusals after, the window from the close', async () => {
    const server = await answering('up');
    const run = startLoad(base([server.url], { concurrency: 1, maxRequests: 400, ratePerSecond: 200 }));
    await waitUntil(() => run.sample().ok >= 5);
    const closedAt = Date.now();
    await new Promise<void>((resolve) => server.server.close(() => resolve()));
    await waitUntil(() => run.sample().failed >= 5);
    const result = await run.stop();
    expect(result.stoppedBy).toBe('stopped');
    expect(result.ok).toBeGreaterThanOrEqual(5);
    // Closing drops the idle connection of the one request in flight (a reset); after it, refusals.
    const { refused = 0, reset = 0, ...others } = result.byReason;
    expect(others).toEqual({});
    expect(reset).toBeLessThanOrEqual(1);
    expect(refused + reset).toBe(result.failed);
    // One request at a time: every answer came before every failure, and nothing answered after the close.
    const starts = (pick: (record: RequestRecord) => boolean) =>
      result.records.filter(pick).map((record) => record.startedAt);
    expect(Math.max(...starts((record) => record.ok))).toBeLessThanOrEqual(result.failureWindow!.first);
    expect(Math.max(...starts((record) => record.ok))).toBeLessThanOrEqual(closedAt);
    // Windows by start time, `to` excluded (Date.now() has 1 ms steps: a request of the close's
    // millisecond may be either, so both windows take it).
    expect(run.summary({ from: closedAt + 1 })).toMatchObject({ ok: 0, failed: expect.any(Number) });
    expect(run.summary({ from: closedAt + 1 }).failed).toBeGreaterThanOrEqual(result.failed - 2);
    expect(run.summary({ to: closedAt + 1 }).ok).toBe(result.ok);
  });

  it('never has more than `concurrency` requests in flight', async () => {
    const slow = await answering('slow', 200, 30);
    const run = startLoad(base([slow.url], { concurrency: 3, maxRequests: 12 }));
    let maxInFlight = 0;
    while (run.sample().running) {
      maxInFlight = Math.max(maxInFlight, run.sample().inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const result = await run.done;
    expect(result.ok).toBe(12);
    expect(slow.seen.maxOpen).toBeLessThanOrEqual(3);
    expect(maxInFlight).toBeLessThanOrEqual(3);
  });

  it('stops at its duration: paced requests due after it are never sent', async () => {
    const a = await answering('a');
    // 20 per second for 250 ms: requests are due at 0, 50, ..., 200 ms; the one due at 250 ms is not.
    const result = await runLoad(base([a.url], { maxRequests: 1000, maxDurationMs: 250, ratePerSecond: 20 }));
    expect(result.stoppedBy).toBe('max-duration');
    expect(result.sent).toBeLessThanOrEqual(5);
    expect(result.sent).toBeGreaterThan(0);
  });

  it('stops at its duration against a server that never answers: in-flight requests end at their timeout', async () => {
    const hung = await silent();
    const result = await runLoad(
      base([hung], { concurrency: 2, maxRequests: 1000, maxDurationMs: 200, timeoutMs: 150 }),
    );
    expect(result.stoppedBy).toBe('max-duration');
    expect(result.ok).toBe(0);
    expect(result.byReason).toEqual({ timeout: result.sent });
    // Two workers, each request 150 ms, 200 ms to start them: at most two rounds.
    expect(result.sent).toBeLessThanOrEqual(4);
  });

  it('stops at its request count even with time to spare, and stop() ends a run early', async () => {
    const a = await answering('a');
    const counted = await runLoad(base([a.url], { concurrency: 5, maxRequests: 7 }));
    expect(counted).toMatchObject({ sent: 7, stoppedBy: 'max-requests' });
    expect(a.seen.requests).toBe(7);

    const paced = startLoad(base([a.url], { concurrency: 2, maxRequests: 10_000, ratePerSecond: 10 }));
    await waitUntil(() => paced.sample().done >= 1);
    const stopped = await paced.stop();
    expect(stopped.stoppedBy).toBe('stopped');
    expect(stopped.sent).toBeLessThan(100);
    expect(paced.sample()).toMatchObject({
      running: false,
      inFlight: 0,
      sent: stopped.sent,
      done: stopped.sent,
    });
  });

  it('refuses options that would not bound it', () => {
    const good = base(['http://127.0.0.1:1/']);
    expect(() => checkLoadOptions(good)).not.toThrow();
    expect(() => checkLoadOptions({ ...good, targets: [] })).toThrow('no target');
    expect(() => checkLoadOptions({ ...good, targets: ['https://x:1/'] })).toThrow('want http://');
    expect(() => checkLoadOptions({ ...good, maxRequests: Infinity })).toThrow('maxRequests');
    expect(() => checkLoadOptions({ ...good, maxDurationMs: 0 })).toThrow('maxDurationMs');
    expect(() => checkLoadOptions({ ...good, concurrency: 1.5 })).toThrow('concurrency');
    expect(() => checkLoadOptions({ ...good, timeoutMs: -1 })).toThrow('timeoutMs');
  });
});

describe('summary', () => {
  const record = (over: Partial<RequestRecord>): RequestRecord => ({
    target: 'http://a/',
    startedAt: 0,
    durationMs: 1,
    ok: true,
    ...over,
  });

  it('takes nearest-rank percentiles of the successful requests only', () => {
    const records = [
      ...Array.from({ length: 99 }, (_, index) => record({ startedAt: index, durationMs: index + 1 })),
      record({ startedAt: 99, durationMs: 1000 }),
      record({ startedAt: 100, durationMs: 5000, ok: false, reason: 'timeout' }),
    ];
    const summary = summarize(records);
    expect(summary).toMatchObject({ sent: 101, ok: 100, failed: 1, p50Ms: 50, p99Ms: 99, maxMs: 1000 });
    expect(summary.failureWindow).toEqual({ first: 100, last: 100, ms: 0 });
    expect(percentile([], 50)).toBeNull();
    expect(percentile([7], 99)).toBe(7);
  });

  it('windows by start time, from included, to excluded', () => {
    const records = [
      record({ startedAt: 10 }),
      record({ startedAt: 20, ok: false, reason: 'refused' }),
      record({ startedAt: 30, ok: false, reason: 'reset' }),
      record({ startedAt: 40 }),
    ];
    expect(summarize(records, { from: 20, to: 40 })).toMatchObject({
      sent: 2,
      failed: 2,
      byReason: { refused: 1, reset: 1 },
      failureWindow: { first: 20, last: 30, ms: 10 },
    });
    expect(summarize(records, { from: 40 })).toMatchObject({ sent: 1, failed: 0, failureWindow: null });
  });

  it('describes one step of a run: what it sent and failed since the last report, why and where', () => {
    const early = [
      record({ target: 'http://10.0.0.1:80/host' }),
      record({ target: 'http://10.0.0.3:80/host' }),
    ];
    const later = [
      ...early,
      record({ target: 'http://10.0.0.1:80/host' }),
      record({ target: 'http://10.0.0.3:80/host', ok: false, reason: 'timeout' }),
      record({ target: 'http://10.0.0.3:80/host', ok: false, reason: 'refused' }),
    ];
    expect(describeStep(summarize(early), null)).toBe('this step 2 sent, 0 failed; in all 2 sent, 0 failed');
    expect(describeStep(summarize(later), summarize(early))).toBe(
      'this step 3 sent, 2 failed (refused 1, timeout 1; at 10.0.0.3: 2); in all 5 sent, 2 failed',
    );
  });

  it('names the reason of each error code', () => {
    expect(reasonOf('ECONNREFUSED')).toBe('refused');
    expect(reasonOf('ECONNRESET')).toBe('reset');
    expect(reasonOf('EHOSTUNREACH')).toBe('unreachable');
    expect(reasonOf('ETIMEDOUT')).toBe('timeout');
    expect(reasonOf('EWHATEVER')).toBe('error');
  });
});

/** Polls `check` every 5 ms, at most 10 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('waited 10 s in vain');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
