// Services the cluster benchmark and tests start for themselves: a private redis-server and an
// nginx load balancer on free loopback ports, each with its config in a temp dir, stopped by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../server/free-port.js';

async function waitForPort(port: number, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not listen on port ${port} within ${ms} ms`);
}

export interface Service {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** Stops it (SIGTERM) and waits; `kill -9` with `signal: 'SIGKILL'`. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function service(child: ChildProcess, port: number, url: string): Service {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    url,
    child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, signal);
      await exited;
    },
  };
}

/** A private redis-server (no persistence) on a free port; `port` pins one (a restart). */
export async function startRedis(port?: number): Promise<Service> {
  const listenOn = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-redis-'));
  const child = spawn('redis-server', ['--port', String(listenOn), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitForPort(listenOn, 'redis-server');
  return service(child, listenOn, `redis://127.0.0.1:${listenOn}`);
}

/** nginx balancing WebSocket connections over `upstreams` (ports), round robin, no stickiness. */
export async function startNginx(upstreams: number[]): Promise<Service> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-nginx-'));
  const config = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream voxroom { ${upstreams.map((p) => `server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join(' ')} }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://voxroom;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_connect_timeout 1s;
      proxy_read_timeout 60s;
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), config);
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  await waitForPort(port, 'nginx');
  return service(child, port, `http://127.0.0.1:${port}`);
}
