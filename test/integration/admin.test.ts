// Admin actions (kick, server-mute): a real token server on loopback, real socket.io clients.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { AdminError, SignallingClient, type JoinError } from '../../src/peer/signalling-client.js';
import type { AdminAck, Grant, MemberLeft, ProtocolError } from '../../src/protocol.js';
import { RoomTokenSigner, RoomTokenVerifier } from '../../src/server/room-tokens.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { exitOf, startCli } from '../helpers/cli.js';
import { adminRequest, connectClient, join, joinOk, names, startTestServer, trackRoom, type TestClient } from '../helpers/signalling.js';

const SECRET = randomBytes(32).toString('base64');
const signer = RoomTokenSigner.fromSecret(SECRET);
const servers: RunningServer[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.disconnect();
  for (const server of servers.splice(0)) await server.close();
});

async function tokenServer(): Promise<RunningServer> {
  const server = await startTestServer({ tokens: RoomTokenVerifier.fromSecret(SECRET) });
  servers.push(server);
  return server;
}
async function member(server: RunningServer, name: string, grants: Grant[] = ['speak', 'listen']): Promise<{ socket: TestClient; id: string; resume: string }> {
  const socket = await connectClient(server.url);
  clients.push(socket);
  const token = await signer.mint({ name, scope: { room: 'lobby' }, grants, ttlSeconds: 600 });
  const ack = await joinOk(socket, 'lobby', name, { token });
  return { socket, id: ack.self.id, resume: ack.resume };
}
const refusal = (ack: AdminAck): ProtocolError | null => (ack.ok ? null : ack.error);

describe('admin actions', () => {
  it('kick: the member is told, disconnected, leaves with reason kicked for everyone, and cannot resume', async () => {
    const server = await tokenServer();
    const boss = await member(server, 'boss', ['speak', 'listen', 'admin']);
    const bystander = await member(server, 'bystander');
    const troll = await member(server, 'troll');
    const bystanderRoom = trackRoom(bystander.socket);
    const left = new Promise<MemberLeft>((resolve) => bystander.socket.on('member-left', resolve));
    const told = new Promise<string>((resolve) => troll.socket.once('kicked', ({ message }) => resolve(message)));
    const disconnected = new Promise<string>((resolve) => troll.socket.once('disconnect', resolve));

    expect(await adminRequest(boss.socket, 'kick', { id: troll.id })).toEqual({ ok: true });
    expect(await told).toMatch(/an admin \(boss\) removed you from room "lobby"/);
    expect(await disconnected).toBe('io server disconnect');
    expect(await left).toEqual({ room: 'lobby', id: troll.id, reason: 'kicked' });
    await bystanderRoom.waitFor((view) => names(view).join() === 'boss,bystander');

    // Its resume token no longer takes the place back, even with a valid room token.
    const back = await connectClient(server.url);
    clients.push(back);
    const token = await signer.mint({ name: 'troll', scope: { room: 'lobby' }, grants: ['speak', 'listen'], ttlSeconds: 600 });
    const refused = await join(back, 'lobby', 'troll', { token, resume: troll.resume });
    expect(refused.ok ? null : refused.error.code).toBe('kicked');
    expect(((await (await fetch(`${server.url}/healthz`)).json()) as { peers: number }).peers).toBe(2);
  });

  it('server-mute: every member sees serverMuted, and unmute restores it', async () => {
    const server = await tokenServer();
    const boss = await member(server, 'boss', ['speak', 'listen', 'admin']);
    const loud = await member(server, 'loud');
    const views = [trackRoom(boss.socket), trackRoom(loud.socket)];
    expect(await adminRequest(boss.socket, 'server-mute', { id: loud.id, muted: true })).toEqual({ ok: true });
    for (const view of views) await view.waitFor((v) => v.peers.find((p) => p.id === loud.id)?.state?.serverMuted === true);
    // A member cannot lift it itself: serverMuted is not among the fields update-state takes.
    const selfUnmute = await new Promise<{ ok: boolean }>((resolve) => (loud.socket as unknown as { emit(event: string, ...args: unknown[]): void }).emit('update-state', { serverMuted: false }, resolve));
    expect(selfUnmute.ok).toBe(false);
    expect(await adminRequest(boss.socket, 'server-mute', { id: loud.id, muted: false })).toEqual({ ok: true });
    for (const view of views) await view.waitFor((v) => v.peers.find((p) => p.id === loud.id)?.state?.serverMuted === false);
  });

  it('the terminal client says who an admin muted and kicked, in its lines and its peers table, and tells the muted member', async () => {
    const server = await tokenServer();
    const boss = await member(server, 'boss', ['speak', 'listen', 'admin']);
    const cliToken = (name: string): Promise<string> => signer.mint({ name, scope: { room: 'lobby' }, grants: ['speak', 'listen'], ttlSeconds: 600 });
    const watcher = await startCli(['join', 'lobby', '-s', server.url, '-i', 'silence', '-o', 'null', '--token', await cliToken('watcher')], /joined as watcher/);
    const loud = await startCli(['join', 'lobby', '-s', server.url, '-i', 'tone:440', '-o', 'null', '--token', await cliToken('loud')], /joined as loud/);
    try {
      const waitFor = async (output: () => { stdout: string }, pattern: RegExp): Promise<void> => {
        const deadline = Date.now() + 5000;
        while (!pattern.test(output().stdout) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(output().stdout).toMatch(pattern);
      };
      await waitFor(watcher.output, /loud joined/);
      const loudId = (await trackRoom(boss.socket).waitFor((view) => view.peers.some((p) => p.name === 'loud'))).peers.find((p) => p.name === 'loud')!.id;
      expect(await adminRequest(boss.socket, 'server-mute', { id: loudId, muted: true })).toEqual({ ok: true });
      await waitFor(watcher.output, /loud was muted by an admin \(nobody hears it\)/);
      await waitFor(loud.output, /an admin muted you on the server: nobody in the room hears you/);
      watcher.child.stdin.write('peers\n');
      await waitFor(watcher.output, /^loud\s+\S+\s+muted by admin/m);
      expect(await adminRequest(boss.socket, 'server-mute', { id: loudId, muted: false })).toEqual({ ok: true });
      await waitFor(loud.output, /an admin lifted your server mute/);
      await waitFor(watcher.output, /loud may be heard again/);
      expect(await adminRequest(boss.socket, 'kick', { id: loudId })).toEqual({ ok: true });
      await waitFor(watcher.output, /loud was kicked by an admin/);
      expect((await exitOf(loud.child)).code).toBe(6);
      expect(loud.output().stderr).toMatch(/removed you from room "lobby"/);
    } finally {
      for (const { child } of [watcher, loud]) child.kill('SIGINT');
      await Promise.all([exitOf(watcher.child), exitOf(loud.child)]);
    }
  }, 30_000);

  it('refuses non-admins, strangers, unknown members and malformed requests with clear codes', async () => {
    const server = await tokenServer();
    const boss = await member(server, 'boss', ['speak', 'listen', 'admin']);
    const plain = await member(server, 'plain');
    const outsider = await connectClient(server.url);
    clients.push(outsider);
    expect(refusal(await adminRequest(plain.socket, 'kick', { id: boss.id }))).toEqual({ code: 'not-admin', message: expect.stringMatching(/only admins may kick a member.*admin grant/) });
    expect(refusal(await adminRequest(plain.socket, 'server-mute', { id: boss.id, muted: true }))?.code).toBe('not-admin');
    expect(refusal(await adminRequest(outsider, 'kick', { id: boss.id }))?.code).toBe('not-in-room');
    expect(refusal(await adminRequest(boss.socket, 'kick', { id: 'nobody' }))?.code).toBe('unknown-peer');
    expect(refusal(await adminRequest(boss.socket, 'kick', { id: boss.id }))?.code).toBe('unknown-peer');
    expect(refusal(await adminRequest(boss.socket, 'server-mute', { id: plain.id } as { id: string; muted: boolean }))?.code).toBe('bad-request');
    expect(refusal(await adminRequest(boss.socket, 'kick', { id: 'x'.repeat(65) }))?.code).toBe('payload-too-large');
    expect(((await (await fetch(`${server.url}/healthz`)).json()) as { peers: number }).peers).toBe(2);
  });

  it('the library client: an admin kicks with kick(); the kicked client is refused for good and does not come back', async () => {
    const server = await tokenServer();
    const token = async (name: string, grants: Grant[]): Promise<string> => signer.mint({ name, scope: { room: 'lobby' }, grants, ttlSeconds: 600 });
    const boss = new SignallingClient(server.url, 'lobby', 'boss', silentLogger, { token: await token('boss', ['speak', 'listen', 'admin']) });
    const troll = new SignallingClient(server.url, 'lobby', 'troll', silentLogger, { token: await token('troll', ['speak', 'listen']) });
    try {
      const bossId = (await boss.join()).self.id;
      const trollId = (await troll.join()).self.id;
      const refused = new Promise<JoinError>((resolve) => troll.once('refused', resolve));
      await expect(troll.kick(bossId)).rejects.toMatchObject({ code: 'not-admin' });
      await expect(troll.kick('nobody')).rejects.toBeInstanceOf(AdminError);
      await boss.kick(trollId);
      expect(await refused).toMatchObject({ code: 'kicked', message: expect.stringMatching(/removed you from room "lobby"/) });
      // It does not reconnect to try a resume (which would be refused anyway).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(((await (await fetch(`${server.url}/healthz`)).json()) as { peers: number }).peers).toBe(1);
    } finally {
      await troll.close();
      await boss.close();
    }
  });

  it('an open server has no admins: kick is refused', async () => {
    const server = await startTestServer();
    servers.push(server);
    const a = await connectClient(server.url);
    const b = await connectClient(server.url);
    clients.push(a, b);
    await joinOk(a, 'lobby', 'a');
    const bAck = await joinOk(b, 'lobby', 'b');
    expect(refusal(await adminRequest(a, 'kick', { id: bAck.self.id }))?.code).toBe('not-admin');
  });
});
