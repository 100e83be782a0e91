// `voxroom serve` and the top-level CLI, run as child processes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectClient, joinOk } from '../helpers/signalling.js';
import { exitOf, runCli, startCli } from '../helpers/cli.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const scratch = mkdtempSync(join(tmpdir(), 'voxroom-cli-'));

describe('voxroom CLI', () => {
  it('prints help and version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/serve/);
    expect(help.stdout).toMatch(/join/);
    const serveHelp = await runCli(['serve', '--help']);
    expect(serveHelp.stdout).toMatch(/--max-peers/);
    const versionRun = await runCli(['--version']);
    expect(versionRun.stdout.trim()).toBe(version);
  });

  it('rejects unknown commands and flags with a message and exit code 2', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const badFlag = await runCli(['serve', '--colour', 'red']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/unknown option '--colour'/);
    const badPort = await runCli(['serve', '--port', '99999']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/out of range/);
    const badIce = await runCli(['serve', '--ice-server', 'http://nope']);
    expect(badIce.code).toBe(2);
    expect(badIce.stderr).toMatch(/not a STUN\/TURN URL/);
    const halfTls = await runCli(['serve', '--tls-cert', 'x.pem']);
    expect(halfTls.code).toBe(2);
    expect(halfTls.stderr).toMatch(/--tls-cert and --tls-key go together/);
  });

  it('refuses a missing or broken map file before listening', async () => {
    const missing = await runCli(['serve', '--port', '0', '--map', join(scratch, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read map file .*ENOENT/);
    const broken = join(scratch, 'broken.json');
    writeFileSync(broken, '{"default": {"width": 0, "height": 3}}');
    const invalid = await runCli(['serve', '--port', '0', '--map', broken]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/map file .* is invalid: default.width/);
  });

  it('says so when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const result = await runCli(['serve', '--port', String(port)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`port ${port} is already in use`));
    // With --json the same failure is an error event on stdout as well.
    const json = await runCli(['serve', '--port', String(port), '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'error', code: 'failure', exitCode: 1, fatal: true, message: expect.stringMatching(new RegExp(`port ${port} is already in use`)) });
    blocker.close();
  });

  it('--json: a usage error at start-up is an error event on stdout too', async () => {
    const result = await runCli(['serve', '--port', '0', '--tls-cert', join(scratch, 'cert.pem'), '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout.trim())).toMatchObject({ event: 'error', code: 'usage', exitCode: 2, fatal: true, message: expect.stringMatching(/--tls-cert and --tls-key go together/) });
  });

  it('serves, prints its URL, takes PORT from the environment, and exits 0 on SIGINT and SIGTERM', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const { child, match } = await startCli(['serve', '--json'], /\{"event":"listening","url":"(http:\/\/127\.0\.0\.1:(\d+))","media":"mesh"\}/, { PORT: '0' });
      const url = match[1]!;
      const socket = await connectClient(url);
      await joinOk(socket, 'lobby', 'alice');
      const notice = new Promise((resolve) => socket.once('server-shutdown', resolve));
      child.kill(signal);
      await notice;
      expect(await exitOf(child)).toEqual({ code: 0, signal: null });
      socket.disconnect();
    }
  });

  it('serves HTTPS and WSS with a self-signed certificate', async () => {
    const key = join(scratch, 'key.pem');
    const cert = join(scratch, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const { child, match } = await startCli(['serve', '--port', '0', '--tls-cert', cert, '--tls-key', key], /listening on (https:\/\/127\.0\.0\.1:\d+)/);
    try {
      const { io } = await import('socket.io-client');
      const socket = io(match[1]!, { transports: ['websocket'], reconnection: false, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      socket.disconnect();
    } finally {
      child.kill('SIGINT');
      expect((await exitOf(child)).code).toBe(0);
    }
  });
});
