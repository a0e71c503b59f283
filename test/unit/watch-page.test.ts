import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { History } from '../../src/watch/history.js';
import { startHttp, type HttpServer } from '../../src/watch/http.js';
import { createLogger } from '../../src/watch/log.js';
import { createMetrics } from '../../src/watch/metrics.js';
import { PAGE_CSP } from '../../src/watch/page/assets.js';
import { escapeHtml, renderPage, renderView } from '../../src/watch/page/render.js';
import { pageRoutes, sseEvent } from '../../src/watch/page/stream.js';
import type { DaemonStatus } from '../../src/watch/status.js';

const EVIL = `<img src=x onerror="alert('x')">&`;

function status(over: Partial<DaemonStatus> = {}): DaemonStatus {
  return {
    stack: 'blog',
    source: 'git /srv/blog.git main:stack.yml',
    revision: 'a'.repeat(40),
    desiredRevision: 'b'.repeat(40),
    appliedRevision: 'a'.repeat(40),
    specError: null,
    partitioned: false,
    lastReconcile: {
      at: '2026-01-02T03:04:05.678Z',
      outcome: 'converged',
      ms: 812,
      actions: 0,
      failed: 0,
      message: null,
    },
    hosts: [
      { name: 'h1', state: 'up', since: 0, error: null },
      { name: 'h2', state: 'down', since: 0, error: 'timeout' },
    ],
    waitingOn: [],
    services: [
      {
        service: 'web',
        mode: 'replicated',
        desired: 2,
        running: 1,
        healthy: 1,
        dirty: 0,
        completed: 0,
        hosts: { h1: 1 },
        image: 'registry:5000/web:1',
        rollout: null,
        crashLooping: false,
      },
    ],
    inFlight: { services: ['web'], batch: 'update web batch 2/3', since: '2026-01-02T03:04:05.000Z' },
    replicas: [
      {
        host: 'h1',
        service: 'web',
        slot: 1,
        name: 'blog-web-1',
        state: 'running',
        health: 'healthy',
        dirty: false,
      },
      {
        host: 'h1',
        service: 'web',
        slot: 2,
        name: 'blog-web-2',
        state: 'exited',
        health: 'none',
        dirty: false,
      },
    ],
    reconciles: [
      {
        at: '2026-01-02T03:04:05.678Z',
        outcome: 'converged',
        ms: 812,
        actions: 1,
        failed: 0,
        message: null,
        revision: 'a'.repeat(40),
      },
    ],
    heals: [
      {
        at: '2026-01-02T03:04:05.678Z',
        service: 'web',
        slot: 2,
        host: 'h1',
        cause: 'crashed',
        broke: 'exited (137)',
        did: 'restarted',
        actionMs: 310,
        tookMs: 540,
      },
    ],
    ...over,
  };
}

describe('escapeHtml', () => {
  it('escapes the five characters that can end text or an attribute', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
    expect(escapeHtml(null)).toBe('');
    expect(escapeHtml(3)).toBe('3');
  });
});

describe('renderView', () => {
  it('shows revisions, services with the batch in flight, the grid, heals and reconciles', () => {
    const html = renderView(status());
    expect(html).toContain('<span class="mono" title="' + 'b'.repeat(40) + '">bbbbbbbbbbbb</span>');
    expect(html).toContain('<span class="badge busy">update web batch 2/3</span>');
    expect(html).toContain('data-host="h2" data-host-state="down"');
    expect(html).toContain('<div class="why">timeout</div>');
    expect(html).toMatch(
      /data-replica="web\.2" data-host="h1" data-state="exited" data-health="none">web\.2 <small>exited<\/small>/,
    );
    expect(html).toContain('<tr data-heal="crashed">');
    expect(html).toContain('crashed: exited (137)</td><td>restarted</td><td>540 ms</td>');
    expect(html).toContain('<tr data-outcome="converged">');
  });

  it('escapes every value that comes from the spec, the hosts or an error', () => {
    const hostile = status({
      stack: EVIL,
      source: EVIL,
      specError: EVIL,
      hosts: [{ name: EVIL, state: 'suspect', since: 0, error: EVIL }],
      services: [
        {
          ...status().services[0]!,
          service: EVIL,
          image: EVIL,
          rollout: { state: 'rolled-back', configHash: EVIL, reason: EVIL },
          autoscale: { replicas: 3, start: 1, min: 1, max: 4, reason: EVIL, at: 0 },
        },
      ],
      inFlight: { services: [EVIL], batch: EVIL, since: EVIL },
      replicas: [{ host: EVIL, service: EVIL, slot: 1, name: EVIL, state: EVIL, health: EVIL, dirty: true }],
      reconciles: [{ ...status().reconciles[0]!, message: EVIL, revision: EVIL }],
      heals: [{ ...status().heals[0]!, service: EVIL, host: EVIL, broke: EVIL, did: EVIL }],
      waitingOn: [{ host: EVIL, operation: EVIL, seconds: 2 }],
    });
    for (const html of [renderView(hostile), renderPage(hostile)]) {
      expect(html).not.toContain('<img');
      expect(html).not.toContain('onerror="');
      expect(html).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#39;)/);
    }
    const view = renderView(hostile);
    // Every place a value lands, escaped: element text and attribute values alike.
    expect(
      view.split('&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;').length,
    ).toBeGreaterThan(12);
  });

  it('shows an autoscaled service with its bounds and why', () => {
    const view = renderView(
      status({
        services: [
          {
            ...status().services[0]!,
            autoscale: {
              replicas: 2,
              start: 1,
              min: 1,
              max: 4,
              reason: 'response time 420 ms > 200 ms target',
              at: 0,
            },
          },
        ],
      }),
    );
    expect(view).toContain(
      '<span class="badge">autoscaled 1–4</span> response time 420 ms &gt; 200 ms target',
    );
  });

  it('says plainly when nothing is known yet', () => {
    const html = renderView(
      status({
        lastReconcile: null,
        hosts: [],
        services: [],
        replicas: [],
        reconciles: [],
        heals: [],
        inFlight: null,
      }),
    );
    expect(html).toContain('none yet');
    expect(html).toContain('no heal yet');
    expect(html).toContain('no reconcile yet');
  });
});

describe('renderPage', () => {
  it('loads nothing from anywhere, and its policy allows exactly its own style and script', () => {
    const html = renderPage(status());
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).not.toMatch(/https?:\/\//);
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*)<\/style>/.exec(html)![1]!;
    const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    expect(PAGE_CSP).toContain(`script-src ${hash(script)};`);
    expect(PAGE_CSP).toContain(`style-src ${hash(style)};`);
    expect(PAGE_CSP).toContain("default-src 'none'");
  });
});

describe('sseEvent', () => {
  it('puts each line of the data on a data: line of its own', () => {
    expect(sseEvent('view', 'a\nb\r\nc')).toBe('event: view\ndata: a\ndata: b\ndata: c\n\n');
  });
});

describe('GET / and GET /events', () => {
  let server: HttpServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  async function serve(current: () => DaemonStatus, history: History, maxStreams = 4): Promise<string> {
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    server = await startHttp({
      listen: '127.0.0.1:0',
      metrics: createMetrics(),
      status: current,
      ready: () => true,
      log: createLogger({ stream: quiet, pretty: false }),
      pages: pageRoutes({
        status: current,
        subscribe: (listener) => history.subscribe(listener),
        coalesceMs: 50,
        maxStreams,
      }),
    });
    return `http://127.0.0.1:${server.address.port}`;
  }

  type Sse = { event: string; data: string };

  /** The events of a stream (comments and `retry:` aside), read as they come. */
  function sse(response: Response): { next(waitMs?: number): Promise<Sse | null> } {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let pending: ReturnType<typeof reader.read> | null = null;
    const take = (): Sse | null => {
      for (;;) {
        const end = text.indexOf('\n\n');
        if (end < 0) return null;
        const lines = text
          .slice(0, end)
          .split('\n')
          .filter((line) => !line.startsWith(':') && !line.startsWith('retry:'));
        text = text.slice(end + 2);
        if (lines.length === 0) continue;
        return {
          event: lines.find((line) => line.startsWith('event: '))!.slice(7),
          data: lines
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n'),
        };
      }
    };
    return {
      /** The next event, or null when none comes within `waitMs`. */
      async next(waitMs = 3_000) {
        const deadline = Date.now() + waitMs;
        for (;;) {
          const found = take();
          if (found) return found;
          pending ??= reader.read();
          const timeout = new Promise<'timeout'>((resolve) =>
            setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now())),
          );
          const result = await Promise.race([pending, timeout]);
          if (result === 'timeout') return null;
          pending = null;
          if (result.done) return null;
          text += decoder.decode(result.value, { stream: true });
        }
      },
    };
  }

  it('serves the page with its policy, and the same status as JSON, then again after each change', async () => {
    let current = status();
    const history = new History();
    const base = await serve(() => current, history);
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(await page.text()).toContain(renderView(current));

    const controller = new AbortController();
    const stream = await fetch(`${base}/events`, { signal: controller.signal });
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const events = sse(stream);
    expect(await events.next()).toEqual({ event: 'status', data: JSON.stringify(current) });

    current = status({ heals: [] });
    // Three changes at once are one event, with the status after them.
    history.changed();
    history.changed();
    history.changed();
    expect(await events.next()).toEqual({ event: 'status', data: JSON.stringify(current) });
    expect(await events.next(400)).toBeNull();
    controller.abort();
    for (let i = 0; i < 50 && history.listeners() > 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(history.listeners()).toBe(0);
  });

  it('streams the rendered view with ?view=html, and refuses streams past the limit', async () => {
    const current = status();
    const history = new History();
    const base = await serve(() => current, history, 1);
    const controller = new AbortController();
    const stream = await fetch(`${base}/events?view=html`, { signal: controller.signal });
    const events = sse(stream);
    expect(await events.next()).toEqual({ event: 'view', data: renderView(current) });
    const refused = await fetch(`${base}/events`);
    expect(refused.status).toBe(503);
    history.changed();
    expect(await events.next()).toEqual({ event: 'view', data: renderView(current) });
    controller.abort();
  });
});

describe('History', () => {
  it('keeps the newest entries, at most its size, and the revision last converged', () => {
    const history = new History(2);
    const seen: number[] = [];
    history.subscribe(() => seen.push(1));
    for (const [i, outcome] of (['converged', 'failed', 'applying'] as const).entries())
      history.reconciled({
        at: `t${i}`,
        outcome,
        ms: 1,
        actions: 0,
        failed: 0,
        message: null,
        revision: `r${i}`,
      });
    expect(history.reconciles().map((entry) => entry.at)).toEqual(['t2', 't1']);
    expect(history.applied).toBe('r0');
    expect(seen).toHaveLength(3);
  });
});
