// Access control with room tokens: a real server on loopback, real socket.io clients, real tokens.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { JoinError, SignallingClient } from '../../src/peer/signalling-client.js';
import { VoicePeer } from '../../src/peer/voice-peer.js';
import { NullSink, SilenceSource } from '../../src/audio/backend.js';
import type { Grant } from '../../src/protocol.js';
import { RoomTokenSigner, RoomTokenVerifier, TOKEN_CLOCK_LEEWAY_SECONDS, type RoomScope, type TokenVerifier } from '../../src/server/room-tokens.js';
import type { RunningServer, SignallingServerOptions } from '../../src/server/signalling-server.js';
import { silentLogger } from '../../src/log.js';
import { connectClient, join, joinOk, names, startTestServer, trackRoom, type TestClient } from '../helpers/signalling.js';

const SECRET = randomBytes(32).toString('base64');
const signer = RoomTokenSigner.fromSecret(SECRET);
const TURN = { urls: ['stun:stun.example.org:3478', 'turn:turn.example.org:3478'], turnAuth: { kind: 'secret' as const, secret: 'turn-secret', ttlSeconds: 3600 } };

const servers: RunningServer[] = [];
const clients: TestClient[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.disconnect();
  for (const close of closers.splice(0)) await close();
  for (const server of servers.splice(0)) await server.close();
});

async function tokenServer(options: Partial<SignallingServerOptions> = {}): Promise<RunningServer> {
  const server = await startTestServer({ tokens: RoomTokenVerifier.fromSecret(SECRET), ice: TURN, ...options });
  servers.push(server);
  return server;
}
async function client(server: RunningServer): Promise<TestClient> {
  const socket = await connectClient(server.url);
  clients.push(socket);
  return socket;
}
function mint(name: string, options: { scope?: RoomScope; grants?: Grant[]; ttlSeconds?: number; nowMs?: number; with?: RoomTokenSigner } = {}): Promise<string> {
  return (options.with ?? signer).mint({ name, scope: options.scope ?? { room: 'lobby' }, grants: options.grants ?? ['speak', 'listen'], ttlSeconds: options.ttlSeconds ?? 600 }, options.nowMs);
}
/** Every event a socket receives, to show that a refusal caused nothing else. */
function recordEvents(socket: TestClient): Array<[string, unknown]> {
  const events: Array<[string, unknown]> = [];
  socket.onAny((event: string, payload: unknown) => events.push([event, payload]));
  return events;
}
const settle = (ms = 200): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const peerCount = async (server: RunningServer): Promise<number> => ((await (await fetch(`${server.url}/healthz`)).json()) as { peers: number }).peers;

describe('a server that requires room tokens', () => {
  it('refuses a join without a token, and nothing else happens', async () => {
    const server = await tokenServer();
    const alice = await client(server);
    await joinOk(alice, 'lobby', 'alice', { token: await mint('alice') });
    const seenByAlice = recordEvents(alice);
    const stranger = await client(server);
    const seenByStranger = recordEvents(stranger);
    const refused = await join(stranger, 'lobby', 'alice');
    expect(refused).toEqual({ ok: false, error: { code: 'token-required', message: expect.stringMatching(/room "lobby" needs a room token.*voxroom token.*--token, \$VOXROOM_TOKEN or #token=/) } });
    await settle();
    expect(seenByAlice).toEqual([]);
    expect(seenByStranger).toEqual([]);
    expect(await peerCount(server)).toBe(1);
    // The socket is not punished: with a token it joins.
    expect((await joinOk(stranger, 'lobby', 'whoever', { token: await mint('bob') })).self.name).toBe('bob');
  });

  it('refuses forged tokens: another secret, a changed payload, no signature, garbage', async () => {
    const server = await tokenServer();
    const alice = await client(server);
    await joinOk(alice, 'lobby', 'alice', { token: await mint('alice') });
    const seenByAlice = recordEvents(alice);
    const mallory = await client(server);
    const otherSecret = RoomTokenSigner.fromSecret(randomBytes(32).toString('base64'));
    const [header, , signature] = (await mint('mallory', { grants: ['listen'] })).split('.');
    const promoted = Buffer.from(JSON.stringify({ sub: 'mallory', room: 'lobby', grants: ['speak', 'listen', 'admin'], aud: 'voxroom', exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${promoted}.`;
    const attempts: Array<[string, RegExp]> = [
      [await mint('mallory', { with: otherSecret }), /signature does not match this server's secret/],
      [`${header}.${promoted}.${signature}`, /signature does not match/],
      [unsigned, /signed with "none", and this server accepts HS256 only/],
      ['garbage', /not a well-formed signed token.*copied whole/],
    ];
    for (const [token, message] of attempts) {
      await settle(1000); // the join bucket: 1 per second after a burst of 5
      expect(await join(mallory, 'lobby', 'mallory', { token })).toEqual({ ok: false, error: { code: 'token-invalid', message: expect.stringMatching(message) } });
    }
    expect(seenByAlice).toEqual([]);
    expect(await peerCount(server)).toBe(1);
  });

  it('refuses a token expired beyond the 30 s leeway, and accepts one expired within it', async () => {
    const server = await tokenServer();
    const late = await client(server);
    const expiredLongAgo = await mint('late', { ttlSeconds: 60, nowMs: Date.now() - (60 + TOKEN_CLOCK_LEEWAY_SECONDS + 10) * 1000 });
    expect(await join(late, 'lobby', 'late', { token: expiredLongAgo })).toEqual({ ok: false, error: { code: 'token-expired', message: expect.stringMatching(/expired at .* \(4\d s ago, beyond the 30 s clock leeway\); ask for a new one/) } });
    const justExpired = await mint('late', { ttlSeconds: 60, nowMs: Date.now() - (60 + TOKEN_CLOCK_LEEWAY_SECONDS - 10) * 1000 });
    expect((await joinOk(late, 'lobby', 'late', { token: justExpired })).self.name).toBe('late');
  });

  it('refuses a token for another room; a room_prefix token admits to every room with the prefix', async () => {
    const server = await tokenServer();
    const wanderer = await client(server);
    expect(await join(wanderer, 'kitchen', 'w', { token: await mint('w') })).toEqual({ ok: false, error: { code: 'token-wrong-room', message: 'the room token is for room "lobby", not room "kitchen"; join that room, or ask for a token for this one' } });
    const team = await mint('w', { scope: { roomPrefix: 'team-' } });
    expect((await joinOk(wanderer, 'team-red', 'w', { token: team })).self.name).toBe('w');
    expect((await joinOk(wanderer, 'team-blue', 'w', { token: team })).self.name).toBe('w');
    expect(await join(wanderer, 'teams', 'w', { token: team })).toMatchObject({ ok: false, error: { code: 'token-wrong-room', message: expect.stringMatching(/rooms starting with "team-", not room "teams"/) } });
    expect(await peerCount(server)).toBe(1);
  });

  it('names the member after its token whatever name it asks for, and shows its grants to everyone', async () => {
    const server = await tokenServer();
    const alice = await client(server);
    const aliceRoom = trackRoom(alice);
    const aliceAck = await joinOk(alice, 'lobby', 'mallory', { token: await mint('alice', { grants: ['speak', 'listen', 'admin'] }) });
    expect(aliceAck.self).toMatchObject({ name: 'alice', state: { muted: false, speaking: false, grants: ['speak', 'listen', 'admin'] } });
    expect(aliceAck.renamed).toBe(false);
    const bob = await client(server);
    const bobAck = await joinOk(bob, 'lobby', 'alice', { token: await mint('bob', { grants: ['listen'] }) });
    expect(bobAck.self.name).toBe('bob');
    expect(bobAck.peers).toEqual([{ id: aliceAck.self.id, name: 'alice', state: { muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen', 'admin'] } }]);
    await aliceRoom.waitFor((view) => view.peers.some((p) => p.name === 'bob' && p.state?.grants.join() === 'listen'));
    // Grants come from the token only: a member cannot give itself more.
    expect(await bob.emitWithAck('update-state', { grants: ['speak', 'listen', 'admin'] } as never)).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    await settle();
    expect(aliceRoom.latest()?.peers.find((p) => p.name === 'bob')?.state?.grants).toEqual(['listen']);
  });

  it('a second session under the same name replaces the first: it is told and removed, roommates see it', async () => {
    const server = await tokenServer();
    const first = await client(server);
    const firstAck = await joinOk(first, 'lobby', 'alice', { token: await mint('alice') });
    const bob = await client(server);
    await joinOk(bob, 'lobby', 'bob', { token: await mint('bob') });
    const seenByBob = recordEvents(bob);
    const bobRoom = trackRoom(bob);
    const told = new Promise<{ room: string; message: string }>((resolve) => first.once('session-replaced', resolve));
    const gone = new Promise<string>((resolve) => first.once('disconnect', resolve));

    const second = await client(server);
    const secondAck = await joinOk(second, 'lobby', 'alice', { token: await mint('alice') });
    expect(secondAck.self.name).toBe('alice');
    expect(secondAck.renamed).toBe(false);
    expect(secondAck.peers.map((p) => p.name)).toEqual(['bob']);
    expect(await told).toEqual({ room: 'lobby', message: expect.stringMatching(/another session joined room "lobby" as "alice".*this one has left the room/) });
    expect(await gone).toBe('io server disconnect');
    await bobRoom.waitFor((view) => names(view).join() === 'alice,bob' && view.peers.some((p) => p.id === secondAck.self.id));
    expect(seenByBob).toEqual([
      ['member-left', { room: 'lobby', id: firstAck.self.id, reason: 'replaced' }],
      ['member-joined', { room: 'lobby', member: secondAck.self }],
    ]);
    expect(await peerCount(server)).toBe(2);
  });

  it('refuses protocol v1 clients, which cannot send a token', async () => {
    const server = await tokenServer();
    const old = await client(server);
    expect(await join(old, 'lobby', 'old', { v: 1, token: await mint('old') })).toEqual({ ok: false, error: { code: 'version-mismatch', message: 'this server admits only members with a room token, which protocol v1 clients cannot send; update voxroom' } });
  });

  it('sends ICE servers (TURN credentials) only in the ack of an admitted join', async () => {
    const server = await tokenServer();
    const outsider = await client(server);
    const seen = recordEvents(outsider);
    const refusals = [await join(outsider, 'lobby', 'x'), await join(outsider, 'lobby', 'x', { token: 'garbage' }), await join(outsider, 'kitchen', 'x', { token: await mint('x') })];
    await settle();
    for (const refusal of refusals) expect(Object.keys(refusal).sort()).toEqual(['error', 'ok']);
    expect(JSON.stringify([refusals, seen])).not.toMatch(/turn:|credential|username/);
    const admitted = await joinOk(outsider, 'lobby', 'x', { token: await mint('x') });
    expect(admitted.iceServers).toEqual([{ urls: ['stun:stun.example.org:3478'] }, { urls: ['turn:turn.example.org:3478'], username: expect.stringMatching(/^\d+:x$/), credential: expect.any(String) }]);
  });

  it('pushes fresh TURN credentials to members at half their lifetime, and to nobody else', async () => {
    const server = await tokenServer({ ice: { ...TURN, turnAuth: { ...TURN.turnAuth, ttlSeconds: 2 } } });
    const [member, leaver, outsider] = [await client(server), await client(server), await client(server)];
    const pushed = new Map<TestClient, Array<{ at: number; username: string | undefined }>>([member, leaver, outsider].map((socket) => [socket, []]));
    for (const [socket, log] of pushed) socket.on('ice-servers', ({ iceServers }) => log.push({ at: Date.now(), username: iceServers.find((server) => server.username)?.username }));
    const admitted = await joinOk(member, 'lobby', 'member', { token: await mint('member') });
    const joinedAt = Date.now();
    await joinOk(leaver, 'lobby', 'leaver', { token: await mint('leaver') });
    await join(outsider, 'lobby', 'outsider', { token: 'garbage' });
    await settle(1300);
    await new Promise((resolve) => leaver.emit('leave', resolve));
    const leftAt = Date.now();
    await settle(2200);
    const received = pushed.get(member)!;
    // Every second (half of 2 s), with a later expiry each time than the ack's.
    expect(received.length, JSON.stringify(received)).toBeGreaterThanOrEqual(3);
    expect(received[0]!.at - joinedAt).toBeGreaterThan(800);
    expect(received[0]!.at - joinedAt).toBeLessThan(1500);
    const expiryOf = (username: string | undefined): number => Number(username?.split(':')[0]);
    const ackExpiry = expiryOf(admitted.iceServers.find((server) => server.username)?.username);
    expect(expiryOf(received.at(-1)!.username)).toBeGreaterThan(ackExpiry);
    expect(received.every(({ username }) => /^\d+:member$/.test(username ?? ''))).toBe(true);
    // The leaver got some while in the room, none after leaving; the refused socket never any.
    expect(pushed.get(leaver)!.length).toBeGreaterThanOrEqual(1);
    expect(pushed.get(leaver)!.filter(({ at }) => at > leftAt)).toEqual([]);
    expect(pushed.get(outsider)).toEqual([]);
  });

  it('admits nobody for a socket that left while its token was checked', async () => {
    // A verifier that takes its time, so that the socket is surely gone when it answers.
    const real = RoomTokenVerifier.fromSecret(SECRET);
    const slow: TokenVerifier = { verify: async (token, room) => (await settle(300), real.verify(token, room)) };
    const server = await tokenServer({ tokens: slow });
    const alice = await client(server);
    await joinOk(alice, 'lobby', 'alice', { token: await mint('alice') });
    const seenByAlice = recordEvents(alice);
    const hasty = await client(server);
    hasty.emit('join', { room: 'lobby', name: 'hasty', v: 2, token: await mint('hasty') });
    await settle(50);
    hasty.disconnect();
    await settle(500);
    expect(await peerCount(server)).toBe(1);
    expect(seenByAlice).toEqual([]);
  });
});

describe('tokens minted elsewhere: public keys', () => {
  for (const [type, options, algorithm] of [
    ['ed25519', {}, 'EdDSA'],
    ['ec', { namedCurve: 'P-256' }, 'ES256'],
  ] as const) {
    it(`verifies ${algorithm} tokens with the public key, and refuses tokens from other keys`, async () => {
      const pair = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
      const minter = RoomTokenSigner.fromPrivateKeyPem(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      const server = await tokenServer({ tokens: RoomTokenVerifier.fromPublicKeyPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()) });
      const member = await client(server);
      expect(await join(member, 'lobby', 'x', { token: await mint('carol') })).toMatchObject({ ok: false, error: { code: 'token-invalid', message: expect.stringMatching(new RegExp(`signed with "HS256", and this server accepts ${algorithm} only`)) } });
      const stranger = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
      const forger = RoomTokenSigner.fromPrivateKeyPem(stranger.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      expect(await join(member, 'lobby', 'x', { token: await mint('carol', { with: forger }) })).toMatchObject({ ok: false, error: { code: 'token-invalid', message: expect.stringMatching(/signature does not match this server's public key/) } });
      const ack = await joinOk(member, 'lobby', 'x', { token: await mint('carol', { with: minter, grants: ['listen'] }) });
      expect(ack.self).toMatchObject({ name: 'carol', state: { grants: ['listen'] } });
    });
  }
});

describe('an open server (no token key)', () => {
  it('admits anyone under the name asked for, ignores tokens, and warns at start that it is open', async () => {
    const lines: string[] = [];
    const server = await startTestServer({ logger: createLogger({ level: 'warn', json: false, write: (line) => lines.push(line) }) });
    servers.push(server);
    expect(lines.join('')).toMatch(/warn: this server is open: anyone who can reach it can join any room under any name; require room tokens with --token-secret-file or --token-public-key/);
    const guest = await client(server);
    const ack = await joinOk(guest, 'lobby', 'guest', { token: 'not even a token' });
    expect(ack.self).toMatchObject({ name: 'guest', state: { grants: ['speak', 'listen'] } });
    const old = await client(server);
    expect((await join(old, 'lobby', 'old', { v: 1 })).ok).toBe(true);
    const quiet: string[] = [];
    // (With its metrics protected too: open metrics have their own warning.)
    servers.push(await startTestServer({ tokens: RoomTokenVerifier.fromSecret(SECRET), metrics: { token: 'metrics-token' }, logger: createLogger({ level: 'warn', json: false, write: (line) => quiet.push(line) }) }));
    expect(quiet).toEqual([]);
  });
});

describe('the library peer with a token', () => {
  it('SignallingClient: joins under the token\'s name; when another session takes the name it is refused for good, and does not take it back', async () => {
    const server = await tokenServer();
    const token = await mint('alice');
    const first = new SignallingClient(server.url, 'lobby', 'whatever', silentLogger, { token });
    closers.push(() => first.close());
    expect((await first.join()).self.name).toBe('alice');
    const refused = new Promise<JoinError>((resolve) => first.once('refused', resolve));
    const second = new SignallingClient(server.url, 'lobby', 'alice', silentLogger, { token });
    closers.push(() => second.close());
    const secondJoin = await second.join();
    const error = await refused;
    expect(error).toBeInstanceOf(JoinError);
    expect(error.code).toBe('session-replaced');
    // The first one would reconnect after a server disconnect within 1 s; it must not.
    await settle(2000);
    expect(second.self?.id).toBe(secondJoin.self.id);
    expect(await peerCount(server)).toBe(1);
  });

  it('SignallingClient: a rejoin whose token has expired meanwhile ends the session with the refusal', async () => {
    const real = RoomTokenVerifier.fromSecret(SECRET);
    let clockMs = Date.now();
    const movableClock: TokenVerifier = { verify: (token, room) => real.verify(token, room, clockMs) };
    const server = await tokenServer({ tokens: movableClock });
    const peer = new SignallingClient(server.url, 'lobby', 'bot', silentLogger, { token: await mint('bot', { ttlSeconds: 60 }) });
    closers.push(() => peer.close());
    await peer.join();
    const refused = new Promise<JoinError>((resolve) => peer.once('refused', resolve));
    clockMs += 3600_000;
    // A lost connection: the transport closes, socket.io reconnects and the client rejoins.
    (peer as unknown as { socket: { io: { engine: { close(): void } } } }).socket.io.engine.close();
    const error = await refused;
    expect(error.code).toBe('token-expired');
    expect(error.message).toMatch(/expired at .* ask for a new one/);
  });

  it('VoicePeer: a refused token rejects start() with a JoinError that says what to do', async () => {
    const server = await tokenServer();
    const peer = new VoicePeer({ serverUrl: server.url, room: 'kitchen', name: 'bot', source: new SilenceSource(), sink: new NullSink(), token: await mint('bot') });
    const failure = await peer.start().then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(JoinError);
    expect(failure).toMatchObject({ code: 'token-wrong-room', message: expect.stringMatching(/for room "lobby", not room "kitchen"/) });
    expect(await peerCount(server)).toBe(0);
  });
});
