// Who may connect, and who may read metrics: web origins, per-address and total connection
// limits (refused in allowRequest, before any handler), /metrics behind a token or on its own port.
import { afterEach, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import type { RunningServer, SignallingServerOptions } from '../../src/server/signalling-server.js';
import { connectClient, joinOk, startTestServer, type TestClient } from '../helpers/signalling.js';

const servers: RunningServer[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.disconnect();
  for (const server of servers.splice(0)) await server.close();
});
async function server(options: Partial<SignallingServerOptions> = {}): Promise<RunningServer> {
  const started = await startTestServer(options);
  servers.push(started);
  return started;
}
/** A socket.io polling handshake as a browser (or a load balancer) would send it. */
const handshake = (url: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers });
/** Connects, or resolves with the connect_error's message. */
function tryConnect(url: string): Promise<TestClient | string> {
  const socket: TestClient = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      clients.push(socket);
      resolve(socket);
    });
    socket.once('connect_error', (error) => {
      socket.close();
      resolve(error.message);
    });
  });
}

describe('web origins', () => {
  it('admits the server\'s own pages and clients without an Origin, and refuses other origins with a 403 that says why', async () => {
    const open = await server();
    expect((await handshake(open.url)).status).toBe(200);
    expect((await handshake(open.url, { Origin: open.url })).status).toBe(200);
    const refused = await handshake(open.url, { Origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ code: 4, message: expect.stringMatching(/pages from https:\/\/evil\.example may not connect.*--allow-origin/) });
    const metrics = await (await fetch(`${open.url}/metrics`)).text();
    expect(metrics).toMatch(/voxroom_refused_connections_total\{reason="origin"\} 1/);
  });

  it('admits an allowed origin, with CORS headers for its pages', async () => {
    const allowing = await server({ allowOrigins: ['https://app.example.org'] });
    const allowed = await handshake(allowing.url, { Origin: 'https://app.example.org' });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
    expect((await handshake(allowing.url, { Origin: 'https://other.example.org' })).status).toBe(403);
  });
});

describe('connection limits', () => {
  it('refuses connections past the per-address limit, and admits again when one closes', async () => {
    const limited = await server({ connectionLimits: { perAddress: 3 } });
    const first = await connectClient(limited.url);
    clients.push(first, await connectClient(limited.url), await connectClient(limited.url));
    expect(await tryConnect(limited.url)).toBe('websocket error');
    first.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await tryConnect(limited.url);
    expect(typeof again).not.toBe('string');
    // The admitted ones work as ever.
    await joinOk(again as TestClient, 'lobby', 'still-fine');
    expect(await (await fetch(`${limited.url}/metrics`)).text()).toMatch(/voxroom_refused_connections_total\{reason="per-address"\} 1/);
  });

  it('refuses everyone past the total limit', async () => {
    const limited = await server({ connectionLimits: { total: 2 } });
    clients.push(await connectClient(limited.url), await connectClient(limited.url));
    expect((await handshake(limited.url)).status).toBe(403);
  });

  it('with --trust-proxy counts the address the load balancer appended to X-Forwarded-For', async () => {
    const proxied = await server({ connectionLimits: { perAddress: 1 }, trustProxy: true });
    expect((await handshake(proxied.url, { 'X-Forwarded-For': '203.0.113.7' })).status).toBe(200);
    // What the client put first does not count: only the last entry, the proxy's.
    expect((await handshake(proxied.url, { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' })).status).toBe(403);
    expect((await handshake(proxied.url, { 'X-Forwarded-For': '203.0.113.8' })).status).toBe(200);
    // Without trust the header is ignored: everything here comes from 127.0.0.1.
    const direct = await server({ connectionLimits: { perAddress: 1 } });
    expect((await handshake(direct.url, { 'X-Forwarded-For': '203.0.113.7' })).status).toBe(200);
    expect((await handshake(direct.url, { 'X-Forwarded-For': '203.0.113.8' })).status).toBe(403);
  });
});

describe('/metrics', () => {
  it('behind a bearer token: 401 without it or with a wrong one, the metrics with it', async () => {
    const guarded = await server({ metrics: { token: 's3cret-token' } });
    const without = await fetch(`${guarded.url}/metrics`);
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await fetch(`${guarded.url}/metrics`, { headers: { Authorization: 'Bearer s3cret-tokeN' } })).status).toBe(401);
    const withToken = await fetch(`${guarded.url}/metrics`, { headers: { Authorization: 'Bearer s3cret-token' } });
    expect(withToken.status).toBe(200);
    expect(await withToken.text()).toMatch(/voxroom_peers 0/);
    expect((await fetch(`${guarded.url}/healthz`)).status).toBe(200);
  });

  it('without a token: served to this machine only (a client a proxy forwards for gets 403)', async () => {
    // A proxy on this machine that the server does not trust: anything it forwards is not local.
    const untrusting = await server();
    expect((await fetch(`${untrusting.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${untrusting.url}/metrics`, { headers: { 'X-Forwarded-For': '127.0.0.1' } })).status).toBe(403);
    const open = await server({ trustProxy: true });
    expect((await fetch(`${open.url}/metrics`)).status).toBe(200);
    const remote = await fetch(`${open.url}/metrics`, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    expect(remote.status).toBe(403);
    expect(await remote.text()).toMatch(/served to this machine only; .*--metrics-token-file/);
    expect((await fetch(`${open.url}/metrics`, { headers: { 'X-Forwarded-For': '127.0.0.1' } })).status).toBe(200);
  });

  it('on its own loopback port: gone from the main one', async () => {
    const split = await server({ metrics: { port: 0 } });
    expect(split.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(`${split.url}/metrics`)).status).toBe(404);
    expect(await (await fetch(split.metricsUrl!)).text()).toMatch(/voxroom_rooms 0/);
  });
});
