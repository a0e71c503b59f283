import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DaemonStatus } from '../status.js';
import { PAGE_CSP } from './assets.js';
import { renderPage, renderView } from './render.js';

export type PageOptions = {
  /** The daemon's status now: what `/status` serves. */
  readonly status: () => DaemonStatus;
  /** Calls the listener whenever the status may have changed; returns how to stop. */
  readonly subscribe: (listener: () => void) => () => void;
  /** Changes closer together than this are sent as one event. */
  readonly coalesceMs?: number;
  /** A comment this often keeps proxies from closing a quiet stream. */
  readonly keepAliveMs?: number;
  /** Streams open at once; one more is answered 503. */
  readonly maxStreams?: number;
};

export type PageHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

const DEFAULTS = { coalesceMs: 150, keepAliveMs: 15_000, maxStreams: 64 };

/** One server-sent event; a multi-line `data` becomes one `data:` line per line, as the format wants. */
export function sseEvent(event: string, data: string): string {
  return `event: ${event}\n${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;
}

/**
 * `GET /`, the page, and `GET /events`, its live stream: the status as JSON (`event: status`),
 * or with `?view=html` the page's view rendered (`event: view`), at once and then after each
 * change the daemon announces. Nothing here asks a host anything: it reads the daemon's state.
 */
export function pageRoutes(options: PageOptions): { '/': PageHandler; '/events': PageHandler } {
  const { coalesceMs, keepAliveMs, maxStreams } = { ...DEFAULTS, ...options };
  let open = 0;

  const page: PageHandler = async (_, response) => {
    const body = renderPage(options.status());
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': PAGE_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    response.end(body);
  };

  const events: PageHandler = async (request, response) => {
    if (open >= maxStreams) {
      response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' });
      response.end('too many open streams\n');
      return;
    }
    const html = new URL(request.url ?? '/', 'http://page').searchParams.get('view') === 'html';
    open += 1;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    const send = (): void => {
      const status = options.status();
      response.write(
        html ? sseEvent('view', renderView(status)) : sseEvent('status', JSON.stringify(status)),
      );
    };
    let timer: NodeJS.Timeout | null = null;
    const unsubscribe = options.subscribe(() => {
      timer ??= setTimeout(() => {
        timer = null;
        send();
      }, coalesceMs);
    });
    const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), keepAliveMs);
    response.once('close', () => {
      open -= 1;
      unsubscribe();
      clearInterval(keepAlive);
      if (timer) clearTimeout(timer);
    });
    response.write('retry: 2000\n\n');
    send();
  };

  return { '/': page, '/events': events };
}
