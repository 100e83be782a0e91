// The signalling server with real socket.io clients on loopback.
import { LOAD_TEST_CONNECTION_LIMITS } from '../../src/server/connection-gate.js';
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS, PROTOCOL_VERSION, type RelayedSignal } from '../../src/protocol.js';
import { RoomMap } from '../../src/server/room-map.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { connectClient, join, joinOk, names, nextError, startTestServer, trackRoom, type TestClient } from '../helpers/signalling.js';

let server: RunningServer;
const clients: TestClient[] = [];
const client = async (): Promise<TestClient> => {
  const socket = await connectClient(server.url);
  clients.push(socket);
  return socket;
};

/** Short enough for tests to see an away member leave; PROTOCOL.md documents the 15 s default. */
const GRACE_MS = 300;

beforeEach(async () => {
  server = await startTestServer({ resumeGraceMs: GRACE_MS });
});
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.disconnect();
  await server.close();
});

describe('rooms', () => {
  it('keeps every member\'s list in step on join, leave and disconnect', async () => {
    const alice = await client();
    const bob = await client();
    const carol = await client();
    const aliceRoom = trackRoom(alice);
    const bobRoom = trackRoom(bob);
    const carolRoom = trackRoom(carol);

    const aliceAck = await joinOk(alice, 'lobby', 'alice');
    expect(aliceAck.peers).toEqual([]);
    expect(aliceAck.self.name).toBe('alice');
    expect(aliceAck.renamed).toBe(false);
    await aliceRoom.waitFor((u) => names(u).join() === 'alice');

    const bobAck = await joinOk(bob, 'lobby', 'bob');
    expect(bobAck.peers).toEqual([{ id: aliceAck.self.id, name: 'alice', state: { muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] } }]);
    await aliceRoom.waitFor((u) => names(u).join() === 'alice,bob');
    await bobRoom.waitFor((u) => names(u).join() === 'alice,bob');

    await joinOk(carol, 'lobby', 'carol');
    for (const room of [aliceRoom, bobRoom, carolRoom]) await room.waitFor((u) => names(u).join() === 'alice,bob,carol');

    expect(await bob.emitWithAck('leave')).toEqual({ ok: true });
    for (const room of [aliceRoom, carolRoom]) await room.waitFor((u) => names(u).join() === 'alice,carol');

    carol.disconnect();
    await aliceRoom.waitFor((u) => names(u).join() === 'alice');
    expect(aliceRoom.latest()?.room).toBe('lobby');
  });

  it('v2: one small event per change, with the reason a member left and its state', async () => {
    const alice = await client();
    const bob = await client();
    const events: Array<[string, unknown]> = [];
    for (const name of ['member-joined', 'member-left', 'member-updated', 'room-users-updated'] as const) alice.on(name, (event: unknown) => events.push([name, event]));
    const bobEvents: string[] = [];
    bob.onAny((name: string) => bobEvents.push(name));
    const aliceAck = await joinOk(alice, 'lobby', 'alice');
    const bobAck = await joinOk(bob, 'lobby', 'bob');
    expect(await bob.emitWithAck('update-state', { muted: true })).toEqual({ ok: true });
    // The same value again changes nothing and is not sent.
    expect(await bob.emitWithAck('update-state', { muted: true })).toEqual({ ok: true });
    expect(await bob.emitWithAck('update-state', { speaking: true })).toEqual({ ok: true });
    expect(await bob.emitWithAck('update-state', {})).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    expect(await bob.emitWithAck('update-state', { muted: 'yes' } as never)).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    expect(await bob.emitWithAck('update-state', { position: 1 } as never)).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    await bob.emitWithAck('leave');
    await joinOk(bob, 'lobby', 'bob');
    bob.disconnect();
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 200));
    const bobId = bobAck.self.id;
    expect(events.slice(0, 5)).toEqual([
      ['member-joined', { room: 'lobby', member: { id: bobId, name: 'bob', state: { muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] } } }],
      ['member-updated', { room: 'lobby', id: bobId, state: { muted: true, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] } }],
      ['member-updated', { room: 'lobby', id: bobId, state: { muted: true, speaking: true, away: false, serverMuted: false, grants: ['speak', 'listen'] } }],
      ['member-left', { room: 'lobby', id: bobId, reason: 'left' }],
      ['member-joined', { room: 'lobby', member: expect.objectContaining({ name: 'bob' }) }],
    ]);
    // A closed socket is away first (its media may flow on), and leaves when its grace runs out.
    expect(events[5]).toEqual(['member-updated', expect.objectContaining({ state: expect.objectContaining({ away: true }) })]);
    expect(events[6]).toEqual(['member-left', expect.objectContaining({ reason: 'disconnected' })]);
    expect(events).toHaveLength(7);
    // Nobody is told about itself joining (its ack says it), but it hears its own state changes.
    expect(bobEvents.filter((name) => name === 'member-joined')).toEqual([]);
    expect(bobEvents.filter((name) => name === 'member-updated')).toHaveLength(2);
    expect(aliceAck.self.state).toEqual({ muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] });
  });

  it('v2: a lost session is away, then resumes in place: same id, name and state; nobody sees it leave', async () => {
    const watcher = await client();
    const first = await client();
    const watcherEvents: Array<[string, unknown]> = [];
    for (const name of ['member-joined', 'member-left', 'member-updated'] as const) watcher.on(name, (event: unknown) => watcherEvents.push([name, event]));
    await joinOk(watcher, 'lobby', 'watcher');
    const before = await joinOk(first, 'lobby', 'bob');
    expect(before).toMatchObject({ resumed: false, resumeGraceMs: GRACE_MS });
    await first.emitWithAck('update-state', { muted: true });
    first.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await client();
    const after = await joinOk(second, 'lobby', 'whatever', { resume: before.resume });
    expect(after).toMatchObject({ resumed: true, mediaKept: true, self: { id: before.self.id, name: 'bob', state: { muted: true, away: false } } });
    expect(after.resume).not.toBe(before.resume);
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 100));
    const state = (away: boolean) => ({ muted: true, speaking: false, away, serverMuted: false, grants: ['speak', 'listen'] });
    expect(watcherEvents.slice(1)).toEqual([
      ['member-updated', { room: 'lobby', id: before.self.id, state: state(false) }],
      ['member-updated', { room: 'lobby', id: before.self.id, state: state(true) }],
      ['member-updated', { room: 'lobby', id: before.self.id, state: state(false) }],
    ]);
  });

  it('a member that does not come back leaves when its grace runs out; a forged resume token joins as someone new', async () => {
    const watcher = await client();
    const left: unknown[] = [];
    watcher.on('member-left', (event) => left.push(event));
    await joinOk(watcher, 'lobby', 'watcher');
    const lost = await client();
    const ack = await joinOk(lost, 'lobby', 'bob');
    lost.disconnect();
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS / 2));
    expect(left).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS));
    expect(left).toEqual([{ room: 'lobby', id: ack.self.id, reason: 'disconnected' }]);
    const [version, payload, signature] = ack.resume.split('.');
    const forged = `${version}.${payload}.${signature!.slice(0, -2)}xx`;
    const impostor = await joinOk(await client(), 'lobby', 'mallory', { resume: forged });
    expect(impostor).toMatchObject({ resumed: false, self: { name: 'mallory' } });
    expect(impostor.self.id).not.toBe(ack.self.id);
  });

  it('a restarted server with the same key takes members back under their ids and names', async () => {
    await server.close();
    const resumeKey = Buffer.alloc(32, 7);
    server = await startTestServer({ resumeGraceMs: GRACE_MS, resumeKey });
    const alice = await joinOk(await client(), 'lobby', 'alice');
    const bob = await joinOk(await client(), 'lobby', 'bob');
    const port = server.port;
    await server.close();
    server = await startTestServer({ resumeGraceMs: GRACE_MS, resumeKey, port });
    const aliceSocket = await client();
    const joined: unknown[] = [];
    aliceSocket.on('member-joined', (event) => joined.push(event));
    const aliceBack = await joinOk(aliceSocket, 'lobby', 'x', { resume: alice.resume });
    expect(aliceBack).toMatchObject({ resumed: true, mediaKept: true, renamed: false, peers: [], self: { id: alice.self.id, name: 'alice' } });
    const bobBack = await joinOk(await client(), 'lobby', 'y', { resume: bob.resume });
    expect(bobBack).toMatchObject({ resumed: true, self: { id: bob.self.id, name: 'bob' }, peers: [{ id: alice.self.id, name: 'alice' }] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(joined).toEqual([{ room: 'lobby', member: expect.objectContaining({ id: bob.self.id, name: 'bob' }) }]);
    // A server with another key does not take the token: a new member.
    await server.close();
    server = await startTestServer({ resumeGraceMs: GRACE_MS, resumeKey: Buffer.alloc(32, 8) });
    const stranger = await joinOk(await client(), 'lobby', 'alice-again', { resume: alice.resume });
    expect(stranger).toMatchObject({ resumed: false, self: { name: 'alice-again' } });
  });

  it('v1 clients keep working beside v2 ones: full lists, no state, no v2 events', async () => {
    const old = await client();
    const modern = await client();
    const oldRoom = trackRoom(old);
    const oldEvents: string[] = [];
    old.onAny((name: string) => oldEvents.push(name));
    const oldAck = await join(old, 'lobby', 'old', { v: 1 });
    expect(oldAck).toMatchObject({ ok: true, self: { name: 'old' }, peers: [] });
    expect(oldAck.ok && 'state' in oldAck.self).toBe(false);
    const modernAck = await joinOk(modern, 'lobby', 'modern');
    expect(modernAck.peers).toEqual([{ id: oldAck.ok ? oldAck.self.id : '', name: 'old', state: { muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] } }]);
    await oldRoom.waitFor((u) => names(u).join() === 'modern,old');
    expect(oldRoom.latest()!.peers.every((p) => !('state' in p))).toBe(true);
    // A v1 client may set its state too; v2 members see it, v1 members are not told.
    const modernEvents: unknown[] = [];
    modern.on('member-updated', (event) => modernEvents.push(event));
    expect(await old.emitWithAck('update-state', { muted: true })).toEqual({ ok: true });
    await modern.emitWithAck('update-state', { speaking: true });
    modern.disconnect();
    await oldRoom.waitFor((u) => names(u).join() === 'old');
    expect(modernEvents).toEqual([
      { room: 'lobby', id: oldAck.ok ? oldAck.self.id : '', state: { muted: true, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] } },
      { room: 'lobby', id: modernAck.self.id, state: { muted: false, speaking: true, away: false, serverMuted: false, grants: ['speak', 'listen'] } },
    ]);
    expect(oldEvents.filter((name) => name.startsWith('member-'))).toEqual([]);
  });

  it('keeps rooms apart and moves a socket that joins another room', async () => {
    const alice = await client();
    const bob = await client();
    const aliceRoom = trackRoom(alice);
    const bobRoom = trackRoom(bob);
    await joinOk(alice, 'red', 'alice');
    await joinOk(bob, 'blue', 'bob');
    await aliceRoom.waitFor((u) => names(u).join() === 'alice');
    await bobRoom.waitFor((u) => u.room === 'blue' && names(u).join() === 'bob');

    await joinOk(bob, 'red', 'bob');
    await aliceRoom.waitFor((u) => names(u).join() === 'alice,bob');
    const health = await (await fetch(`${server.url}/healthz`)).json();
    expect(health).toEqual({ ok: true, rooms: 1, peers: 2 });
  });

  it('suffixes a taken name and says so', async () => {
    const first = await client();
    const second = await client();
    await joinOk(first, 'lobby', 'bob');
    const ack = await joinOk(second, 'lobby', 'bob');
    expect(ack.self.name).toBe('bob-2');
    expect(ack.renamed).toBe(true);
  });

  it('refuses a join beyond --max-peers with room-full', async () => {
    await server.close();
    server = await startTestServer({ maxPeersPerRoom: 2 });
    await joinOk(await client(), 'small', 'a');
    await joinOk(await client(), 'small', 'b');
    const ack = await join(await client(), 'small', 'c');
    expect(ack).toMatchObject({ ok: false, error: { code: 'room-full' } });
  });

  it('sends the room layout from the map and the ICE servers in the ack', async () => {
    await server.close();
    const map = RoomMap.parse(JSON.stringify({ default: { width: 10, height: 8 }, rooms: { stage: { width: 30, height: 20, spots: [{ name: 'mic', x: 15, y: 2 }] } } }), 'test');
    server = await startTestServer({ map, ice: { urls: ['stun:127.0.0.1:3478', 'turn:127.0.0.1:3478'], turnAuth: { kind: 'secret', secret: 's3cret', ttlSeconds: 600 } } });
    const stage = await joinOk(await client(), 'stage', 'alice');
    expect(stage.map).toEqual({ width: 30, height: 20, spots: [{ name: 'mic', x: 15, y: 2 }] });
    const other = await joinOk(await client(), 'other', 'bob');
    expect(other.map).toEqual({ width: 10, height: 8, spots: [] });
    expect(other.iceServers[0]).toEqual({ urls: ['stun:127.0.0.1:3478'] });
    expect(other.iceServers[1]?.urls).toEqual(['turn:127.0.0.1:3478']);
    expect(other.iceServers[1]?.username).toMatch(/^\d+:bob$/);
    expect(other.iceServers[1]?.credential).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it('removes a killed client from the list', async () => {
    const alice = await client();
    const aliceRoom = trackRoom(alice);
    await joinOk(alice, 'lobby', 'alice');
    const script = `
      const { io } = await import('socket.io-client');
      const s = io(process.argv[1], { transports: ['websocket'] });
      s.emit('join', { room: 'lobby', name: 'doomed', v: ${PROTOCOL_VERSION} }, () => console.log('joined'));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, server.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await aliceRoom.waitFor((u) => names(u).join() === 'alice,doomed');
    child.kill('SIGKILL');
    await aliceRoom.waitFor((u) => names(u).join() === 'alice');
  });

  it('resumes a session whose old socket the server has not seen close: same id, and the stale socket is closed', async () => {
    const watcher = await client();
    const watcherRoom = trackRoom(watcher);
    await joinOk(watcher, 'lobby', 'watcher');
    const original = await client();
    const first = await joinOk(original, 'lobby', 'bob');
    await watcherRoom.waitFor((u) => names(u).join() === 'bob,watcher');
    // The first connection is "lost" without the server noticing yet, and the client comes back.
    const comeback = await client();
    const resumed = await joinOk(comeback, 'lobby', 'someone-else', { resume: first.resume });
    expect(resumed.self).toMatchObject({ id: first.self.id, name: 'bob' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(original.connected).toBe(false);
    expect(names(watcherRoom.latest()!)).toEqual(['bob', 'watcher']);
  });
});

describe('signal relay', () => {
  it('relays within a room only and refuses other rooms and unknown ids', async () => {
    const alice = await client();
    const bob = await client();
    const eve = await client();
    const aliceAck = await joinOk(alice, 'lobby', 'alice');
    const bobAck = await joinOk(bob, 'lobby', 'bob');
    const eveAck = await joinOk(eve, 'elsewhere', 'eve');
    const received: RelayedSignal[] = [];
    const eveReceived: RelayedSignal[] = [];
    bob.on('signal', (s) => received.push(s));
    eve.on('signal', (s) => eveReceived.push(s));

    const offer = { description: { type: 'offer' as const, sdp: 'v=0\r\n' } };
    expect(await alice.emitWithAck('signal', { to: bobAck.self.id, data: offer })).toEqual({ ok: true });
    const candidate = { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } };
    expect(await alice.emitWithAck('signal', { to: bobAck.self.id, data: candidate })).toEqual({ ok: true });
    await expect.poll(() => received.length).toBe(2);
    expect(received[0]).toEqual({ from: aliceAck.self.id, data: offer });
    expect(received[1]).toEqual({ from: aliceAck.self.id, data: candidate });

    expect(await alice.emitWithAck('signal', { to: eveAck.self.id, data: offer })).toMatchObject({ ok: false, error: { code: 'unknown-peer' } });
    expect(await alice.emitWithAck('signal', { to: 'no-such-id', data: offer })).toMatchObject({ ok: false, error: { code: 'unknown-peer' } });
    expect(await alice.emitWithAck('signal', { to: aliceAck.self.id, data: offer })).toMatchObject({ ok: false, error: { code: 'unknown-peer' } });
    const outsider = await client();
    expect(await outsider.emitWithAck('signal', { to: bobAck.self.id, data: offer })).toMatchObject({ ok: false, error: { code: 'not-in-room' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(eveReceived).toEqual([]);
    expect(received).toHaveLength(2);
  });
});

describe('bad input', () => {
  const huge = 'x'.repeat(LIMITS.maxSdpChars + 10);
  const cases: Array<{ what: string; event: string; payload: unknown; code: string }> = [
    { what: 'join without payload', event: 'join', payload: undefined, code: 'bad-request' },
    { what: 'join with a number', event: 'join', payload: 42, code: 'bad-request' },
    { what: 'join missing name', event: 'join', payload: { room: 'lobby', v: 1 }, code: 'bad-request' },
    { what: 'join with wrong types', event: 'join', payload: { room: 5, name: ['x'], v: '1' }, code: 'bad-request' },
    { what: 'join with a bad room id', event: 'join', payload: { room: '../etc', name: 'a', v: 1 }, code: 'bad-request' },
    { what: 'join with a long room id', event: 'join', payload: { room: 'r'.repeat(65), name: 'a', v: 1 }, code: 'bad-request' },
    { what: 'join with a huge name', event: 'join', payload: { room: 'lobby', name: 'n'.repeat(5000), v: 1 }, code: 'bad-request' },
    { what: 'join with a control character in the name', event: 'join', payload: { room: 'lobby', name: 'a\u0007b', v: 1 }, code: 'bad-request' },
    { what: 'join with an extra field', event: 'join', payload: { room: 'lobby', name: 'a', v: 1, admin: true }, code: 'bad-request' },
    { what: 'join with another protocol version', event: 'join', payload: { room: 'lobby', name: 'a', v: 99 }, code: 'version-mismatch' },
    { what: 'signal before joining', event: 'signal', payload: { to: 'x', data: { candidate: { candidate: '' } } }, code: 'not-in-room' },
    { what: 'signal with a bad shape', event: 'signal', payload: { to: 'x', data: { sdp: 'v=0' } }, code: 'bad-request' },
    { what: 'signal with an unknown description type', event: 'signal', payload: { to: 'x', data: { description: { type: 'boom', sdp: '' } } }, code: 'bad-request' },
    { what: 'a huge payload', event: 'signal', payload: { to: 'x', data: { description: { type: 'offer', sdp: huge } } }, code: 'payload-too-large' },
    { what: 'an unknown event', event: 'hack-the-planet', payload: { x: 1 }, code: 'unknown-event' },
    { what: 'leave outside a room', event: 'leave', payload: undefined, code: 'not-in-room' },
  ];

  for (const { what, event, payload, code } of cases) {
    it(`${what}: acked error ${code}, server keeps serving`, async () => {
      const bystander = await client();
      const bystanderRoom = trackRoom(bystander);
      await joinOk(bystander, 'calm', 'bystander');
      const attacker = await client();
      const raw = attacker as unknown as { timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> } };
      const args = payload === undefined ? [] : [payload];
      const ack = (await raw.timeout(3000).emitWithAck(event, ...args)) as { ok: boolean; error?: { code: string; message: string } };
      expect(ack.ok).toBe(false);
      expect(ack.error?.code).toBe(code);
      expect(ack.error?.message.length).toBeGreaterThan(10);
      // Without an ack callback the same mistake arrives as error-message.
      const errorArrived = nextError(attacker);
      (attacker as unknown as { emit(event: string, ...args: unknown[]): void }).emit(event, ...args);
      expect((await errorArrived).code).toBe(code);
      // The server still works for everyone.
      const newcomer = await client();
      await joinOk(newcomer, 'calm', 'newcomer');
      await bystanderRoom.waitFor((u) => names(u).join() === 'bystander,newcomer');
    });
  }

  it('closes the connection of a payload above the transport limit, and survives', async () => {
    const attacker = await client();
    const disconnected = new Promise<string>((resolve) => attacker.once('disconnect', resolve));
    (attacker as unknown as { emit(event: string, ...args: unknown[]): void }).emit('join', { room: 'x', name: 'y'.repeat(LIMITS.maxTransportBytes + 1), v: 1 });
    expect(await disconnected).toBeTruthy();
    await joinOk(await client(), 'lobby', 'fine');
  });

  it('rate-limits join spam and then disconnects a flood', async () => {
    const spammer = await client();
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => join(spammer, 'spam', `s${i}`)));
    const limited = acks.filter((a) => !a.ok && a.error.code === 'rate-limited');
    expect(acks.filter((a) => a.ok).length).toBe(LIMITS.joinBurst);
    expect(limited.length).toBe(30 - LIMITS.joinBurst);
    expect(((await (await fetch(`${server.url}/healthz`)).json()) as { peers: number }).peers).toBe(1);

    const disconnected = new Promise<string>((resolve) => spammer.once('disconnect', resolve));
    for (let i = 0; i < LIMITS.maxRefusedBeforeDisconnect + LIMITS.eventBurst + 10; i++) {
      (spammer as unknown as { emit(event: string, ...args: unknown[]): void }).emit('leave');
    }
    expect(await disconnected).toBe('io server disconnect');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/voxroom_rejected_messages_total\{code="rate-limited"\} \d+/);
  });
});

describe('scale', () => {
  it('200 clients joining 20 rooms at once end with consistent lists everywhere', async () => {
    // All from 127.0.0.1: past the default per-address limit.
    await server.close();
    server = await startTestServer({ connectionLimits: LOAD_TEST_CONNECTION_LIMITS });
    const sockets = await Promise.all(Array.from({ length: 200 }, () => client()));
    const trackers = sockets.map((s) => trackRoom(s));
    const acks = await Promise.all(sockets.map((s, i) => joinOk(s, `room-${i % 20}`, `peer-${i}`)));
    expect(acks.every((a) => a.ok)).toBe(true);
    await Promise.all(
      trackers.map((t, i) =>
        t.waitFor((u) => {
          const expected = Array.from({ length: 10 }, (_, k) => `peer-${(i % 20) + 20 * k}`).sort();
          return u.room === `room-${i % 20}` && names(u).join() === expected.join();
        }, 15_000),
      ),
    );
    const health = await (await fetch(`${server.url}/healthz`)).json();
    expect(health).toEqual({ ok: true, rooms: 20, peers: 200 });
  });
});

describe('http', () => {
  it('serves health, metrics and the web client, and nothing outside public/', async () => {
    const alice = await client();
    await joinOk(alice, 'lobby', 'alice');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^voxroom_peers 1$/m);
    expect(metrics).toMatch(/^voxroom_rooms 1$/m);
    expect(metrics).toMatch(/^voxroom_joins_total 1$/m);
    const page = await fetch(`${server.url}/r/lobby`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${server.url}/..%2fpackage.json`)).status).toBe(404);
    expect((await fetch(`${server.url}/nope.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('tells connected peers when it shuts down', async () => {
    const alice = await client();
    await joinOk(alice, 'lobby', 'alice');
    const notice = new Promise<{ message: string }>((resolve) => alice.once('server-shutdown', resolve));
    await server.close();
    expect((await notice).message).toMatch(/shutting down/);
    server = await startTestServer();
  });
});
