import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** What a git hook handler answers; its message is sent as the plain-text body. */
export type HookResponse = { readonly status: number; readonly message: string };

export type HttpOptions = {
  /** `127.0.0.1:9400`, `:9400` (every interface), `[::1]:9400`, `localhost:9400`. Port 0 picks one. */
  readonly listen: string;
  readonly metrics: Metrics;
  /** The last reconcile and each service's state, served as JSON. */
  readonly status: () => unknown;
  readonly ready: () => boolean;
  /** Whether the daemon's loop still moves; `/healthz` answers 503 with why when it does not. */
  readonly alive?: () => { readonly ok: boolean; readonly why: string };
  /** Verifies and handles a push notification; without it, `POST /hooks/git` is 404. */
  readonly onGitHook?: (body: Buffer, headers: IncomingHttpHeaders) => HookResponse | Promise<HookResponse>;
  /** More read-only routes (GET) by path: the status page and its stream (`page/stream.ts`). */
  readonly pages?: Readonly<Record<string, Handler>>;
  readonly log: Logger;
};

export type HttpServer = {
  /** Where it listens, port 0 resolved. */
  readonly address: { readonly host: string; readonly port: number };
  /** Stops listening and drops open connections, keep-alive ones included. */
  close(): Promise<void>;
};

/** The address could not be bound (in use, not permitted, not local). Its message names the address. */
export class HttpListenError extends Error {
  override readonly name = 'HttpListenError';
}

/** A push notification is a few kilobytes; anything beyond this is not one. */
export const HOOK_BODY_LIMIT = 1024 * 1024;

/** Long enough for a slow scraper, short enough that a trickling client cannot hold a socket. */
const REQUEST_TIMEOUT_MS = 30_000;

type Route = { readonly methods: readonly string[]; readonly handle: Handler };
type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

/**
 * The daemon's operating surface: `GET /healthz`, `/readyz`, `/metrics`, `/status`, the pages
 * given (`/`, `/events`) and `POST /hooks/git`. Every failure answers with a status and a short line, never a stack trace.
 */
export async function startHttp(options: HttpOptions): Promise<HttpServer> {
  const { host, port } = parseListen(options.listen);
  const log = options.log;
  const routes = routesOf(options);
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    const started = performance.now();
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    response.on('finish', () => {
      const ms = Math.round(performance.now() - started);
      log.debug({ method: request.method, path, status: response.statusCode, ms }, 'http request');
    });
    void serve(routes.get(path), request, response).catch((error: unknown) => {
      log.error({ method: request.method, path, err: error }, 'http handler failed');
      if (response.headersSent) response.destroy();
      else send(response, 500, 'internal error');
    });
  });
  await listen(server, host, port, options.listen);
  const bound = server.address() as AddressInfo;
  log.info({ host: bound.address, port: bound.port }, 'http listening');
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** `host:port`, `:port` or `[v6]:port`; host `''` means every interface. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new HttpListenError(
      `invalid listen address "${listen}": expected host:port, :port or [ipv6]:port, port 0-65535`,
    );
  }
  return { host: match[1] ?? match[2] ?? '', port };
}

function routesOf(options: HttpOptions): Map<string, Route> {
  const { metrics, status, ready, alive, onGitHook, log } = options;
  const pages = Object.entries(options.pages ?? {}).map(([path, handle]): [string, Route] => [
    path,
    { methods: ['GET'], handle },
  ]);
  return new Map<string, Route>([
    ...pages,
    [
      '/healthz',
      {
        methods: ['GET', 'HEAD'],
        handle: async (_, response) => {
          const verdict = alive?.() ?? { ok: true, why: 'ok' };
          send(response, verdict.ok ? 200 : 503, verdict.why);
        },
      },
    ],
    [
      '/readyz',
      {
        methods: ['GET', 'HEAD'],
        handle: async (_, response) =>
          ready() ? send(response, 200, 'ready') : send(response, 503, 'not ready'),
      },
    ],
    [
      '/metrics',
      {
        methods: ['GET', 'HEAD'],
        handle: async (_, response) => {
          const text = await metrics.text();
          response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
          response.end(text);
        },
      },
    ],
    [
      '/status',
      {
        methods: ['GET', 'HEAD'],
        handle: async (_, response) => {
          const body = `${JSON.stringify(status() ?? null, null, 2)}\n`;
          response.writeHead(200, {
            'content-type': 'application/json; charset=utf-8',
            'cache-control': 'no-store',
          });
          response.end(body);
        },
      },
    ],
    [
      '/hooks/git',
      {
        methods: ['POST'],
        handle: async (request, response) => {
          if (onGitHook === undefined) return refuse(request, response, 404, 'not found');
          const body = await readBody(request, HOOK_BODY_LIMIT);
          if (body === null) return refuse(request, response, 413, 'payload too large');
          const answer = await onGitHook(body, request.headers);
          const valid = Number.isInteger(answer.status) && answer.status >= 200 && answer.status <= 599;
          if (!valid) throw new Error(`git hook answered with status ${answer.status}`);
          log.info({ status: answer.status, bytes: body.length }, 'git hook');
          send(response, answer.status, answer.message);
        },
      },
    ],
  ]);
}

async function serve(
  route: Route | undefined,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if (route === undefined) return refuse(request, response, 404, 'not found');
  if (!route.methods.includes(request.method ?? '')) {
    response.setHeader('allow', route.methods.join(', '));
    return refuse(request, response, 405, 'method not allowed');
  }
  await route.handle(request, response);
}

function send(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  response.end(`${message}\n`);
}

/**
 * Answers without reading the body. A client still sending would otherwise keep the connection
 * busy: it is closed after the answer, and what remains of the body is drained, not buffered.
 */
function refuse(request: IncomingMessage, response: ServerResponse, status: number, message: string): void {
  if (!request.complete) {
    response.setHeader('connection', 'close');
    request.resume();
  }
  send(response, status, message);
}

/** The whole body, or null once it passes `limit` bytes (by its Content-Length or as it streams). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | null> {
  if (Number(request.headers['content-length'] ?? 0) > limit) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Not destroyed: the client would see a reset instead of the 413. refuse() drains the rest.
      request.off('data', onData).off('end', onEnd).off('error', reject);
      resolve(null);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks));
    request.on('data', onData).on('end', onEnd).on('error', reject);
  });
}

async function listen(server: Server, host: string, port: number, listen: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException): void => {
      server.off('listening', done);
      reject(new HttpListenError(`cannot listen on ${listen}: ${reason(error)}`, { cause: error }));
    };
    const done = (): void => {
      server.off('error', fail);
      resolve();
    };
    server.once('error', fail);
    server.once('listening', done);
    if (host === '') server.listen(port);
    else server.listen(port, host);
  });
}

function reason(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'no such address on this machine';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name does not resolve';
    default:
      return error.code ?? error.message;
  }
}
