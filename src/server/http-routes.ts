// Plain HTTP routes beside socket.io: health, metrics, and the static web client.
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientAddress } from './connection-gate.js';
import type { ServerMetrics } from './metrics.js';

/**
 * Where static files come from, first match wins: `public/` (HTML, CSS) and the compiled web
 * client in `dist/web/`. Resolved from the package root, so src/ (tests) and dist/ agree.
 */
export const DEFAULT_STATIC_DIRS = [fileURLToPath(new URL('../../public/', import.meta.url)), fileURLToPath(new URL('../../dist/web/', import.meta.url))];

/**
 * Modules of the Node build that the web client imports as they are (pure code, no Node APIs):
 * the page and the headless peer hear a spatial room by the same laws, from the same file.
 */
const SHARED_MODULES: Record<string, string> = {
  '/audio/spatial.js': fileURLToPath(new URL('../../dist/audio/spatial.js', import.meta.url)),
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wav': 'audio/wav',
};

export interface HttpRouteContext {
  metrics: ServerMetrics;
  /**
   * Who may read /metrics: the holders of a bearer token; without one (null) only clients on
   * this machine (loopback); `elsewhere`: served on another port, 404 here.
   */
  metricsAccess: { token: string | null } | 'elsewhere';
  /** Whether the proxy in front (with --trust-proxy) is trusted to name the client in X-Forwarded-For. */
  trustProxy: boolean;
  /** What /healthz reports; `ok: false` answers 503 (a balancer then sends joins elsewhere). */
  health: () => Promise<{ ok: boolean } & Record<string, unknown>>;
  staticDirs: string[];
}

export function createRequestHandler(context: HttpRouteContext) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    void route(context, request, response).catch(() => {
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else response.destroy();
    });
  };
}

async function route(context: HttpRouteContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  if (path === '/healthz') {
    const health = await context.health();
    return send(response, health.ok ? 200 : 503, 'application/json', JSON.stringify(health) + '\n');
  }
  if (path === '/metrics' && context.metricsAccess !== 'elsewhere') {
    if (context.metricsAccess.token === null && !isLocalRequest(request, context.trustProxy)) {
      return send(response, 403, 'text/plain; charset=utf-8', 'metrics are served to this machine only; to read them from elsewhere, start the server with --metrics-token-file (then send Authorization: Bearer <token>)\n');
    }
    if (!bearerMatches(request.headers.authorization, context.metricsAccess.token)) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="voxroom metrics"');
      return send(response, 401, 'text/plain; charset=utf-8', 'metrics need the bearer token of --metrics-token-file: Authorization: Bearer <token>\n');
    }
    return send(response, 200, context.metrics.registry.contentType, await context.metrics.registry.metrics());
  }
  const shared = SHARED_MODULES[path];
  if (shared) return send(response, 200, CONTENT_TYPES['.js']!, await readFile(shared));
  // The web client is a single page: "/" and "/r/<room>" both load it; it reads the room from the URL.
  const file = path === '/' || /^\/r\/[A-Za-z0-9_-]{1,64}\/?$/.test(path) ? 'index.html' : decodeURIComponent(path.slice(1));
  for (const dir of context.staticDirs) {
    const resolved = normalize(join(dir, file));
    // Nothing outside the static folders, whatever the path says.
    if (!resolved.startsWith(normalize(dir + sep))) break;
    try {
      const body = await readFile(resolved);
      return send(response, 200, CONTENT_TYPES[extname(resolved)] ?? 'application/octet-stream', body);
    } catch {
      // not in this folder; try the next
    }
  }
  send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
}

/** Constant-time comparison of an Authorization header with the expected bearer token (null: none needed). */
function bearerMatches(header: string | undefined, token: string | null): boolean {
  if (token === null) return true;
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1]?.trim() ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function send(response: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

/**
 * Whether a request comes from this machine: over loopback, and not forwarded for someone else.
 * A proxy on this machine makes every client look local, so a forwarding header means "not
 * local" unless the proxy is trusted (--trust-proxy) and the entry it appended is loopback too.
 * A client that reaches the port directly with a forged header is not on loopback at all.
 */
export function isLocalRequest(request: Pick<IncomingMessage, 'socket' | 'headers'>, trustProxy: boolean): boolean {
  if (!isLoopback(request.socket.remoteAddress ?? '')) return false;
  const forwarded = request.headers['x-forwarded-for'];
  if (forwarded === undefined && request.headers.forwarded === undefined) return true;
  if (!trustProxy || forwarded === undefined) return false;
  // The client the trusted proxy names: the entry it appended, as connection limits read it.
  return isLoopback(clientAddress(undefined, forwarded, true));
}

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6 (a dual-stack socket's view). */
export function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}
