// Three signalling nodes sharing rooms through one real Redis (started by the test): members on
// different nodes see each other and relay signals; racing joins through different nodes never
// both get the last seat or a name; a node that stops answering leaves no ghosts; no Redis at
// start is a clear failure. socket.io only (no media): fast, and no wrtc threads.
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Grant, JoinAck, MemberLeft, ServerToClientEvents } from '../../src/protocol.js';
import { RedisRoomStore } from '../../src/server/redis-room-store.js';
import type { StoreEvents } from '../../src/server/room-store.js';
import { RoomTokenSigner, RoomTokenVerifier } from '../../src/server/room-tokens.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { exitOf, runCli, startCli } from '../helpers/cli.js';
import { NODE_TTL_MS, joinCluster } from '../../src/server/cluster-node.js';
import { silentLogger } from '../../src/log.js';
import { LOAD_TEST_CONNECTION_LIMITS } from '../../src/server/connection-gate.js';
import { freePort, startNode, startRedis, type Service } from '../helpers/cluster.js';
import { sleep } from '../helpers/peers.js';
import { adminRequest, connectClient, join, joinOk, trackRoom, type TestClient } from '../helpers/signalling.js';

/** A store's events, none of them looked at (a test's own store, not a server's). */
const ignoredStoreEvents: StoreEvents = { away: () => undefined, gone: () => undefined, restored: () => undefined, returned: () => undefined, displaced: () => undefined, capacityOf: () => 100 };

let redis: Service;

/** A Redis connection of the test's own, for `use`; closed after it. */
async function withRedis(use: (connection: ReturnType<typeof createClient>) => Promise<void>): Promise<void> {
  const connection = createClient({ url: redis.url });
  await connection.connect();
  try {
    await use(connection);
  } finally {
    await connection.quit();
  }
}
let nodes: RunningServer[] = [];
const clients: TestClient[] = [];

async function client(node: RunningServer): Promise<TestClient> {
  const socket = await connectClient(node.url);
  clients.push(socket);
  return socket;
}

/** Waits up to 10 s for the node to be healthy with `peers` members in the cluster (written back after a Redis restart). */
async function healthyWithPeers(node: RunningServer, peers: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let health: { ok: boolean; cluster: { peers: number } } = { ok: false, cluster: { peers: 0 } };
  while (Date.now() < deadline && !(health.ok && health.cluster.peers === peers)) {
    await sleep(200);
    health = (await (await fetch(`${node.url}/healthz`)).json()) as typeof health;
  }
  expect(health).toMatchObject({ ok: true, cluster: { peers } });
}

function nextEvent<E extends keyof ServerToClientEvents>(socket: TestClient, event: E, ms = 3000): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    const on = socket.once.bind(socket) as (event: string, listener: (payload: Parameters<ServerToClientEvents[E]>[0]) => void) => void;
    on(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

beforeAll(async () => {
  redis = await startRedis();
  nodes = await Promise.all([0, 1, 2].map(() => startNode(redis.url, { maxPeersPerRoom: 3, resumeGraceMs: 1500 })));
});

afterAll(async () => {
  for (const socket of clients) socket.disconnect();
  await Promise.all(nodes.map((node) => node.close()));
  await redis.stop();
});

describe('a cluster of three nodes and one Redis', () => {
  it('members on different nodes see each other join, change state, relay signals and leave', async () => {
    const [a, b, c] = await Promise.all(nodes.map((node) => client(node)));
    const alice = await joinOk(a!, 'cross', 'alice');
    const bobJoined = nextEvent(a!, 'member-joined');
    const bob = await joinOk(b!, 'cross', 'bob');
    expect(bob.peers.map((p) => p.name)).toEqual(['alice']);
    expect((await bobJoined).member.name).toBe('bob');
    const carolView = trackRoom(c!);
    await joinOk(c!, 'cross', 'carol');
    await trackRoom(a!).waitFor((view) => view.peers.length === 3);
    expect(carolView.latest()!.peers.map((p) => p.name).sort()).toEqual(['alice', 'bob', 'carol']);

    // A signal from node 0 to node 1, and back.
    const toBob = nextEvent(b!, 'signal');
    const ack = await new Promise((resolve) => a!.emit('signal', { to: bob.self.id, data: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } } }, resolve));
    expect(ack).toEqual({ ok: true });
    expect(await toBob).toMatchObject({ from: alice.self.id, data: { candidate: { sdpMid: '0' } } });

    const muted = nextEvent(c!, 'member-updated');
    a!.emit('update-state', { muted: true });
    expect(await muted).toMatchObject({ id: alice.self.id, state: { muted: true } });

    const health = (await (await fetch(`${nodes[2]!.url}/healthz`)).json()) as { ok: boolean; peers: number; cluster: { peers: number; nodes: number; redis: string } };
    expect(health).toMatchObject({ ok: true, peers: 1, cluster: { nodes: 3, redis: 'up' } });
    expect(health.cluster.peers).toBeGreaterThanOrEqual(3);
    // /metrics says the same: the node's own figures and the cluster's.
    const metrics = await (await fetch(`${nodes[2]!.url}/metrics`)).text();
    const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(gauge('voxroom_peers')).toBe(1);
    expect(gauge('voxroom_cluster_nodes')).toBe(3);
    expect(gauge('voxroom_cluster_peers')).toBe(health.cluster.peers);
    expect(gauge('voxroom_cluster_rooms')).toBeGreaterThanOrEqual(1);
    expect(gauge('voxroom_redis_up')).toBe(1);

    const bobLeft = nextEvent(c!, 'member-left');
    b!.emit('leave');
    expect(await bobLeft).toMatchObject({ id: bob.self.id, reason: 'left' });
  });

  it('a burst of 40 000 signals from members on one node reaches their roommates on another, every one in order', async () => {
    // Nodes in processes of their own, as deployed: in this process the test's clients would
    // slow the senders down enough for the readers to keep up. 160 pairs, 250 signals each:
    // within each socket's event burst allowance (LIMITS.eventBurst).
    const pairs = 160;
    const perSender = 250;
    const limits = ['--max-connections-per-ip', String(LOAD_TEST_CONNECTION_LIMITS.perAddress), '--max-connections', String(LOAD_TEST_CONNECTION_LIMITS.total)];
    // Redis forgets its scripts when it restarts: the burst starts without them, as after one.
    const inspector = createClient({ url: redis.url });
    await inspector.connect();
    await inspector.scriptFlush();
    const [from, to] = await Promise.all([0, 1].map(() => startCli(['serve', '--port', '0', '--redis', redis.url, ...limits], /listening on (http:\/\/\S+)/)));
    try {
      const connectTo = async (url: string): Promise<TestClient> => {
        const socket = await connectClient(url);
        clients.push(socket);
        return socket;
      };
      const senders = await Promise.all(Array.from({ length: pairs }, () => connectTo(from!.match[1]!)));
      const receivers = await Promise.all(Array.from({ length: pairs }, () => connectTo(to!.match[1]!)));
      await Promise.all(senders.map((socket, i) => joinOk(socket, `burst-${i}`, 'sender')));
      const targets = await Promise.all(receivers.map(async (socket, i) => (await joinOk(socket, `burst-${i}`, 'receiver')).self.id));
      const received = receivers.map(() => [] as string[]);
      receivers.forEach((socket, i) => socket.on('signal', (event) => received[i]!.push(('candidate' in event.data && event.data.candidate.sdpMid) || '')));
      senders.forEach((socket, i) => {
        for (let k = 0; k < perSender; k++) socket.emit('signal', { to: targets[i]!, data: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: String(k), sdpMLineIndex: 0 } } });
      });
      const deadline = Date.now() + 20_000;
      while (received.some((list) => list.length < perSender) && Date.now() < deadline) await sleep(20);
      expect(received.reduce((sum, list) => sum + list.length, 0)).toBe(pairs * perSender);
      const inOrder = Array.from({ length: perSender }, (_, k) => String(k));
      for (const list of received) expect(list).toEqual(inOrder);
      // Every signal went through the receiving node's inbox in Redis, and what it read is
      // deleted: it keeps at most its last entry.
      const inboxes = await inspector.keys(`voxroom:node:*-${to!.child.pid}-*:inbox`);
      expect(inboxes).toHaveLength(1);
      const info = (await inspector.sendCommand(['XINFO', 'STREAM', inboxes[0]!])) as unknown[];
      expect(Number(info[info.indexOf('entries-added') + 1])).toBe(pairs * perSender);
      await expect.poll(() => inspector.xLen(inboxes[0]!)).toBeLessThanOrEqual(1);
      for (const socket of [...senders, ...receivers]) socket.disconnect();
    } finally {
      inspector.destroy();
      for (const node of [from!, to!]) node.child.kill('SIGTERM');
      await Promise.all([exitOf(from!.child), exitOf(to!.child)]);
    }
  }, 60_000);

  it('racing joins through three nodes: exactly one gets the last seat, and exactly one the name, in each of 50 rounds', async () => {
    const racers = 9;
    const seatWinners: number[] = [];
    const nameWinners: number[] = [];
    for (let round = 0; round < 50; round++) {
      // The seat: the room holds 3, two are in; nine race for the third.
      const seatRoom = `seat-${round}`;
      const holders = await Promise.all([0, 1].map((i) => client(nodes[i]!)));
      for (const [i, holder] of holders.entries()) await joinOk(holder, seatRoom, `holder-${i}`);
      const seatRacers = await Promise.all(Array.from({ length: racers }, (_, i) => client(nodes[i % 3]!)));
      const seatAcks: JoinAck[] = await Promise.all(seatRacers.map((socket, i) => join(socket, seatRoom, `racer-${i}`)));
      seatWinners.push(seatAcks.filter((ack) => ack.ok).length);
      for (const ack of seatAcks) if (!ack.ok) expect(ack.error.code).toBe('room-full');

      // The name: nine join an empty room (of three seats) as "same": one gets the name, two
      // more a suffixed one, the rest find the room full.
      const nameRacers = await Promise.all(Array.from({ length: racers }, (_, i) => client(nodes[i % 3]!)));
      const nameAcks = await Promise.all(nameRacers.map((socket) => join(socket, `name-${round}`, 'same')));
      const given = nameAcks.flatMap((ack) => (ack.ok ? [ack.self.name] : []));
      expect(given).toHaveLength(3);
      expect(new Set(given).size).toBe(given.length);
      nameWinners.push(given.filter((name) => name === 'same').length);
      for (const socket of [...holders, ...seatRacers, ...nameRacers]) socket.disconnect();
    }
    expect(seatWinners).toEqual(Array(50).fill(1));
    expect(nameWinners).toEqual(Array(50).fill(1));
  });

  it('a peer killed with -9 on one node is away at once for its roommate on another, and gone when the grace runs out', async () => {
    const watcher = await client(nodes[0]!);
    await joinOk(watcher, 'peer-ghosts', 'watcher');
    const timeline: Array<{ event: string; atMs: number }> = [];
    let killedAt = 0;
    watcher.on('member-updated', ({ state }) => state.away && timeline.push({ event: 'away', atMs: Date.now() - killedAt }));
    watcher.on('member-left', () => timeline.push({ event: 'left', atMs: Date.now() - killedAt }));
    // A real peer process on the second node (these nodes' grace: 1.5 s).
    const victim = await startCli(['join', 'peer-ghosts', '-s', nodes[1]!.url, '-n', 'victim', '-i', 'tone:440', '-o', 'null'], /joined as victim/);
    await trackRoom(watcher).waitFor((v) => v.peers.length === 2);
    killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await exitOf(victim.child);
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !timeline.some((e) => e.event === 'left')) await sleep(50);
    expect(timeline.map((e) => e.event)).toEqual(['away', 'left']);
    expect(timeline[0]!.atMs).toBeLessThan(1_000);
    expect(timeline[1]!.atMs - timeline[0]!.atMs).toBeGreaterThanOrEqual(1_500 - 100);
    expect(timeline[1]!.atMs - timeline[0]!.atMs).toBeLessThan(1_500 + 1_000);
  });

  it('a node taken for dead while it still runs (a stall past its heartbeat) carries its members again: back for their roommates, never gone', async () => {
    const stalled = await startNode(redis.url, { maxPeersPerRoom: 3, resumeGraceMs: 2000 });
    const connection = createClient({ url: redis.url });
    await connection.connect();
    try {
      const watcher = await client(nodes[0]!);
      await joinOk(watcher, 'stalled', 'watcher');
      const member = (await joinOk(await client(stalled), 'stalled', 'member')).self;
      const seen: Array<{ away: boolean; serverMuted: boolean } | 'left'> = [];
      watcher.on('member-updated', ({ id, state }) => id === member.id && seen.push({ away: state.away, serverMuted: state.serverMuted }));
      watcher.on('member-left', ({ id }) => id === member.id && seen.push('left'));
      // What another node's sweep does to a node whose heartbeat lapsed (its key gone meanwhile;
      // the node beats again within a second, so the key is dropped right before each try).
      const { node } = (await (await fetch(`${stalled.url}/healthz`)).json()) as { node: string };
      const sweeper = new RedisRoomStore(connection, 'sweeper', 'voxroom:');
      const madeAway: string[] = [];
      sweeper.subscribe({ ...ignoredStoreEvents, away: (m) => madeAway.push(m.id) });
      for (let attempt = 0; attempt < 5 && madeAway.length === 0; attempt++) {
        await connection.del(`voxroom:node:${node}:alive`);
        await sweeper.sweep(2000, async (names) => names.map((name) => name !== node));
      }
      expect(madeAway).toEqual([member.id]);
      // While it is away, an admin elsewhere server-mutes it: it comes back muted.
      await sweeper.updateStateOf({ ...member, room: 'stalled', socketId: null, protocolVersion: 2 }, { serverMuted: true });
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && seen.length === 0) await sleep(50);
      expect(seen, 'the roommate sees it back').toEqual([{ away: false, serverMuted: true }]);
      const stored = (await sweeper.membersIn('stalled')).find((m) => m.id === member.id);
      expect(stored?.state.away).toBe(false);
      // Past the grace the sweep gave it: still there.
      await sleep(2500);
      await sweeper.sweep(2000, async (names) => names.map(() => true));
      expect((await sweeper.membersIn('stalled')).map((m) => m.id)).toContain(member.id);
      expect(seen).toEqual([{ away: false, serverMuted: true }]);
    } finally {
      await connection.quit();
      await stalled.close();
    }
  });

  it('a member Redis lost, whose name a newcomer took meanwhile, is not written back: its roommates see it leave, and its connection is closed for it to rejoin', async () => {
    await withRedis(async (connection) => {
      const watcher = await client(nodes[0]!);
      await joinOk(watcher, 'displace', 'watcher');
      const aliceSocket = await client(nodes[1]!);
      const alice = (await joinOk(aliceSocket, 'displace', 'alice')).self;
      const left = new Promise<MemberLeft>((resolve) => watcher.on('member-left', (event) => event.id === alice.id && resolve(event)));
      const closed = new Promise<string>((resolve) => aliceSocket.once('disconnect', resolve));
      // Redis loses the room (as when it restarts empty); a newcomer named alice joins first.
      for (const key of [`voxroom:room:displace`]) await connection.del(key);
      await joinOk(await client(nodes[0]!), 'displace', 'alice');
      // The first node's next heartbeat finds it was taken for dead, and writes its members back.
      const { node } = (await (await fetch(`${nodes[1]!.url}/healthz`)).json()) as { node: string };
      await connection.sRem('voxroom:nodes', node);
      expect(await Promise.race([left.then((event) => event.reason), sleep(3000).then(() => 'no member-left within 3 s')])).toBe('disconnected');
      expect(await Promise.race([closed, sleep(1000).then(() => 'still connected')])).toBe('io server disconnect');
      // (The watcher was lost with the room too; its node, not taken for dead, writes it back only when Redis returns.)
      const members = await new RedisRoomStore(connection, 'reader', 'voxroom:').membersIn('displace');
      expect(members.map((m) => m.name)).toEqual(['alice']);
      expect(members.map((m) => m.id)).not.toContain(alice.id);
    });
  });

  it('a node killed with -9 leaves no ghosts: its members are away within the heartbeat TTL, then gone after the grace', async () => {
    const node = await startCli(['serve', '--port', '0', '--redis', redis.url, '--resume-grace', '2'], /listening on (http:\/\/\S+)/);
    const watcher = await client(nodes[0]!);
    await joinOk(watcher, 'ghosts', 'watcher');
    const timeline: Array<{ event: string; id: string; atMs: number }> = [];
    let killedAt = 0;
    watcher.on('member-updated', ({ id, state }) => state.away && timeline.push({ event: 'away', id, atMs: Date.now() - killedAt }));
    watcher.on('member-left', ({ id }) => timeline.push({ event: 'left', id, atMs: Date.now() - killedAt }));
    const doomed = await connectClient(node.match[1]!);
    clients.push(doomed);
    const ghost = await joinOk(doomed, 'ghosts', 'ghost');
    await trackRoom(watcher).waitFor((v) => v.peers.length === 2);
    killedAt = Date.now();
    node.child.kill('SIGKILL');
    await exitOf(node.child);
    const deadline = Date.now() + NODE_TTL_MS + 2_000 + 4_000;
    while (Date.now() < deadline && !timeline.some((e) => e.event === 'left')) await sleep(100);
    const ofGhost = timeline.filter((e) => e.id === ghost.self.id);
    expect(ofGhost.map((e) => e.event)).toEqual(['away', 'left']);
    // Away once its heartbeat expired (plus a sweep), gone a grace later.
    expect(ofGhost[0]!.atMs).toBeLessThan(NODE_TTL_MS + 1_500);
    expect(ofGhost[1]!.atMs - ofGhost[0]!.atMs).toBeGreaterThanOrEqual(2_000 - 100);
    expect(ofGhost[1]!.atMs - ofGhost[0]!.atMs).toBeLessThan(2_000 + 1_500);
    const health = (await (await fetch(`${nodes[0]!.url}/healthz`)).json()) as { cluster: { nodes: number } };
    expect(health.cluster.nodes).toBe(3);
    // Redis holds no trace of it either: a newcomer through another node finds the watcher alone.
    const newcomer = await joinOk(await client(nodes[1]!), 'ghosts', 'newcomer');
    expect(newcomer.peers.map((p) => p.name)).toEqual(['watcher']);
    console.log(`node kill -9: ghost away after ${ofGhost[0]!.atMs} ms, gone after ${ofGhost[1]!.atMs} ms (grace 2 s)`);
  });
});

describe('a resume claim restored by the join script', () => {
  it('a grace timer left on the node a member first went away from does not end its later away spell, begun on another node', async () => {
    await withRedis(async (connection) => {
      const prefix = `graces-${randomBytes(4).toString('hex')}:`;
      const first = new RedisRoomStore(connection, 'node-first', prefix);
      const second = new RedisRoomStore(connection, 'node-second', prefix);
      const joined = await first.join('s1', 'lobby', 'alice', {});
      if (!joined.ok) throw new Error('alice could not join');
      const alice = joined.member;
      await first.markAway('s1', 50); // the first node's grace timer would fire at 50 ms
      const back = await second.join('s2', 'lobby', 'alice', { resume: { room: 'lobby', id: alice.id, name: 'alice' } });
      expect(back).toMatchObject({ ok: true, resumed: 'rebound' });
      await second.markAway('s2', 400); // away again, now from the second node: 400 ms of grace
      await sleep(100);
      expect(await first.removeAway(alice), 'the first node ended the second spell early').toBeNull();
      expect((await second.membersIn('lobby')).map((m) => [m.id, m.state.away])).toEqual([[alice.id, true]]);
      await sleep(400);
      expect(await first.removeAway(alice)).toMatchObject({ id: alice.id });
      expect(await second.membersIn('lobby')).toEqual([]);
    });
  });

  it('a member Redis lost is not written back over a newcomer that took its name or the last seat meanwhile: it is displaced, to rejoin as a newcomer would', async () => {
    await withRedis(async (connection) => {
      const prefix = `displaced-${randomBytes(4).toString('hex')}:`;
      const first = new RedisRoomStore(connection, 'node-first', prefix);
      const second = new RedisRoomStore(connection, 'node-second', prefix);
      const displaced: string[] = [];
      first.subscribe({ ...ignoredStoreEvents, displaced: (member, socketId) => displaced.push(`${member.name} on ${socketId}`), capacityOf: () => 2 });
      second.subscribe(ignoredStoreEvents);
      for (const [socketId, name] of [['s1', 'alice'], ['s2', 'carol']] as const) expect(await first.join(socketId, 'lobby', name, { capacity: 2 })).toMatchObject({ ok: true });
      // Redis forgets everything (restarted empty); before the first node writes its members
      // back, a newcomer named alice joins through the second, and then the room fills.
      for (const key of await connection.keys(`${prefix}*`)) await connection.del(key);
      expect(await second.join('s3', 'lobby', 'alice', { capacity: 2 })).toMatchObject({ ok: true, member: { name: 'alice' } });
      await first.restoreLocalMembers();
      expect(displaced).toEqual(['alice on s1']);
      expect((await second.membersIn('lobby')).map((m) => m.name).sort()).toEqual(['alice', 'carol']);
      // Full now: carol's seat was given back first; a member of a full room is displaced too.
      for (const key of await connection.keys(`${prefix}*`)) await connection.del(key);
      expect(await second.join('s4', 'lobby', 'dave', { capacity: 2 })).toMatchObject({ ok: true });
      expect(await second.join('s5', 'lobby', 'erin', { capacity: 2 })).toMatchObject({ ok: true });
      displaced.length = 0;
      await first.restoreLocalMembers();
      expect(displaced.sort()).toEqual(['alice on s1', 'carol on s2']);
      expect((await second.membersIn('lobby')).map((m) => m.name).sort()).toEqual(['dave', 'erin']);
    });
  });

  it('takes back its old id and name together, or, when a newcomer took the name meanwhile, joins anew, renamed', async () => {
    await withRedis(async (connection) => {
      // A room Redis no longer knows (restarted empty, say): claims restore, unless the name went.
      const store = new RedisRoomStore(connection, 'node-claims', `claims-${randomBytes(4).toString('hex')}:`);
      const newcomer = await store.join('s1', 'lobby', 'alice', {});
      expect(newcomer).toMatchObject({ ok: true, resumed: null, member: { name: 'alice' } });
      const returning = await store.join('s2', 'lobby', 'alice', { resume: { room: 'lobby', id: 'old-alice', name: 'alice' } });
      expect(returning).toMatchObject({ ok: true, resumed: null, renamed: true, member: { name: 'alice-2' } });
      expect(returning.ok && returning.member.id).not.toBe('old-alice');
      const bob = await store.join('s3', 'lobby', 'bob', { resume: { room: 'lobby', id: 'old-bob', name: 'bob' } });
      expect(bob).toMatchObject({ ok: true, resumed: 'restored', renamed: false, member: { id: 'old-bob', name: 'bob' } });
    });
  });
});

describe('Redis unreachable at start', () => {
  it('voxroom serve --redis names the problem and exits non-zero', async () => {
    const port = await freePort();
    const run = await runCli(['serve', '--port', '0', '--redis', `redis://127.0.0.1:${port}`], { timeoutMs: 15_000 });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ .*start redis-server there/);
    // The same from $VOXROOM_REDIS, the flag's default.
    const fromEnv = await runCli(['serve', '--port', '0'], { timeoutMs: 15_000, env: { VOXROOM_REDIS: `redis://127.0.0.1:${port}` } });
    expect(fromEnv.code).not.toBe(0);
    expect(fromEnv.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ .*check --redis \/ \$VOXROOM_REDIS/);
  });
});

describe('a room\'s Janus, recorded in Redis', () => {
  it('stands for every node once recorded, is replaced only in place of a lost one, is never kept for an empty room, outlives a namesake taking a seat, and goes with the last member', async () => {
    const node = await joinCluster(redis.url, silentLogger, 'placement-test:');
    try {
      const store = node.store;
      const seat = (socketId: string, name: string) => store.join(socketId, 'stage', name, { protocolVersion: 2, capacity: 10, grants: ['speak', 'listen'], ownsName: true });
      // No member: nothing is recorded (nobody would delete it).
      expect(await store.placeOnJanus('stage', 'ws://a', null)).toEqual({ janus: 'ws://a', replaced: false });
      expect(await store.placeOnJanus('stage', 'ws://b', null)).toEqual({ janus: 'ws://b', replaced: false });
      expect((await seat('s1', 'alice')).ok).toBe(true);
      expect(await store.placeOnJanus('stage', 'ws://a', null)).toEqual({ janus: 'ws://a', replaced: false });
      // Another node's own choice does not move it; replacing a Janus that is not the recorded one does not either.
      expect(await store.placeOnJanus('stage', 'ws://b', null)).toEqual({ janus: 'ws://a', replaced: false });
      expect(await store.placeOnJanus('stage', 'ws://b', 'ws://c')).toEqual({ janus: 'ws://a', replaced: false });
      // In place of the recorded (lost) one: replaced, and every node reads the new one.
      expect(await store.placeOnJanus('stage', 'ws://b', 'ws://a')).toEqual({ janus: 'ws://b', replaced: true });
      expect(await store.placeOnJanus('stage', 'ws://a', null)).toEqual({ janus: 'ws://b', replaced: false });
      // alice's own name taken by a new session: the room is empty for a moment inside the join, and keeps its record.
      const replacedBy = await seat('s2', 'alice');
      expect(replacedBy.ok && replacedBy.replaced?.id).toBeTruthy();
      expect(await store.placeOnJanus('stage', 'ws://a', null)).toEqual({ janus: 'ws://b', replaced: false });
      // The last member leaves: the record goes with it.
      expect(await store.leave('s2')).not.toBeNull();
      expect((await seat('s3', 'carol')).ok).toBe(true);
      expect(await store.placeOnJanus('stage', 'ws://a', null)).toEqual({ janus: 'ws://a', replaced: false });
      await store.leave('s3');
    } finally {
      await node.close();
    }
  });
});

describe('a member\'s Janus session, recorded in Redis', () => {
  it('is written by the node that carries the member (or while it is away), never by another node, is read back checked, and goes with the member', async () => {
    const prefix = `handoff-test-${randomBytes(4).toString('hex')}:`;
    const [carrier, other] = [await joinCluster(redis.url, silentLogger, prefix), await joinCluster(redis.url, silentLogger, prefix)];
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      const joined = await carrier.store.join('s1', 'stage', 'alice', { protocolVersion: 2, capacity: 10, grants: ['speak', 'listen'], ownsName: true });
      if (!joined.ok) throw new Error('alice could not join');
      const id = joined.member.id;
      // Janus's ids take up to 16 digits: kept exact (cjson would round them).
      const handoff = { janus: 'ws://127.0.0.1:8188', session: 8_765_432_109_876_543, publisher: 1_234_567_890_123_457, feed: 42, generation: 1_700_000_000_000, subscriber: null, slots: [['0', 7] as [string, number]] };
      await carrier.store.saveJanusHandoff('stage', id, handoff);
      expect(await other.store.janusHandoff('stage', id)).toEqual(handoff);
      // A node that does not carry alice writes nothing over the record.
      await other.store.saveJanusHandoff('stage', id, { ...handoff, session: 1 });
      expect(await carrier.store.janusHandoff('stage', id)).toEqual(handoff);
      // Away (nobody carries her): the node still driving her handles may write.
      await carrier.store.markAway('s1', 500);
      await carrier.store.saveJanusHandoff('stage', id, { ...handoff, subscriber: 99 });
      expect((await other.store.janusHandoff('stage', id))?.subscriber).toBe(99);
      // A record another node's bug or version spoiled is not used.
      await raw.hSet(`${prefix}janus-sessions`, `stage\n${id}`, JSON.stringify({ ...handoff, session: 'x' }));
      expect(await other.store.janusHandoff('stage', id)).toBeNull();
      // No record for someone who is not a member.
      await carrier.store.saveJanusHandoff('stage', 'nobody', handoff);
      expect(await carrier.store.janusHandoff('stage', 'nobody')).toBeNull();
      // Gone with the member, once its grace is over.
      await carrier.store.saveJanusHandoff('stage', id, handoff);
      await sleep(500);
      const member = await carrier.store.removeAway({ ...joined.member, socketId: null });
      expect(member?.id).toBe(id);
      expect(await raw.hLen(`${prefix}janus-sessions`)).toBe(0);
    } finally {
      await raw.quit();
      await carrier.close();
      await other.close();
    }
  });
});

describe('SFU settings a cluster cannot share', () => {
  it('refuses what a cluster cannot share, saying what to give instead: a Janus of its own (--janus auto) and --media auto', async () => {
    const own = await runCli(['serve', '--port', '0', '--redis', redis.url, '--janus', 'auto'], { timeoutMs: 15_000 });
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(/--janus auto starts a Janus for this node alone; in a cluster \(--redis\) give every node the same --janus ws:\/\/HOST:PORT list/);
    const auto = await runCli(['serve', '--port', '0', '--redis', redis.url, '--janus', 'ws://127.0.0.1:1', '--media', 'auto'], { timeoutMs: 15_000 });
    expect(auto.code).not.toBe(0);
    expect(auto.stderr).toMatch(/--media auto does not run in a cluster \(--redis\).*use --media sfu/);
  });
});

describe('admin actions across nodes', () => {
  it('an admin on one node server-mutes a member on another (kept through a resume on a third), then kicks it: it is disconnected there and no node takes its resume', async () => {
    const secret = randomBytes(32).toString('base64');
    const signer = RoomTokenSigner.fromSecret(secret);
    const own = await Promise.all([0, 1, 2].map(() => startNode(redis.url, { tokens: RoomTokenVerifier.fromSecret(secret), resumeGraceMs: 5000 })));
    try {
      const token = (name: string, grants: Grant[] = ['speak', 'listen']): Promise<string> => signer.mint({ name, scope: { room: 'ops' }, grants, ttlSeconds: 600 });
      const [a, b] = await Promise.all([client(own[0]!), client(own[1]!)]);
      const boss = await joinOk(a!, 'ops', 'boss', { token: await token('boss', ['speak', 'listen', 'admin']) });
      const troll = await joinOk(b!, 'ops', 'troll', { token: await token('troll') });
      const bossView = trackRoom(a!);

      // Server-mute across nodes: stored in Redis, so it holds when the member resumes on node 2.
      expect(await adminRequest(a!, 'server-mute', { id: troll.self.id, muted: true })).toEqual({ ok: true });
      await bossView.waitFor((v) => v.peers.find((p) => p.id === troll.self.id)?.state?.serverMuted === true);
      b!.disconnect();
      const c = await client(own[2]!);
      const back = await joinOk(c, 'ops', 'troll', { token: await token('troll'), resume: troll.resume });
      expect(back.resumed).toBe(true);
      expect(back.self.id).toBe(troll.self.id);
      expect(back.self.state?.serverMuted).toBe(true);

      // Kick from node 0 of a member carried by node 2.
      const told = nextEvent(c, 'kicked');
      const disconnected = new Promise<string>((resolve) => c.once('disconnect', resolve));
      const left = new Promise<MemberLeft>((resolve) => a!.on('member-left', resolve));
      expect(await adminRequest(a!, 'kick', { id: troll.self.id })).toEqual({ ok: true });
      expect((await told).message).toMatch(/an admin \(boss\) removed you from room "ops"/);
      expect(await disconnected).toBe('io server disconnect');
      expect(await left).toEqual({ room: 'ops', id: troll.self.id, reason: 'kicked' });
      await bossView.waitFor((v) => v.peers.map((p) => p.name).join() === 'boss');

      // Its resume token is refused on every node, even with a valid room token.
      for (const node of own) {
        const retry = await client(node);
        const refused = await join(retry, 'ops', 'troll', { token: await token('troll'), resume: back.resume });
        expect(refused.ok ? null : refused.error.code).toBe('kicked');
        retry.disconnect();
      }
      expect(boss.self.name).toBe('boss');
    } finally {
      await Promise.all(own.map((node) => node.close()));
    }
  });
});

describe('Redis lost while running', () => {
  it('a kick outlives a Redis restarted empty: the node that made it writes it back, and the resume token stays refused', async () => {
    const own = await startRedis();
    const secret = randomBytes(32).toString('base64');
    const signer = RoomTokenSigner.fromSecret(secret);
    const token = (name: string, grants: Grant[] = ['speak', 'listen']): Promise<string> => signer.mint({ name, scope: { room: 'ops' }, grants, ttlSeconds: 600 });
    const node = await startNode(own.url, { tokens: RoomTokenVerifier.fromSecret(secret), resumeGraceMs: 5_000 });
    try {
      const [a, b] = [await connectClient(node.url), await connectClient(node.url)];
      clients.push(a, b);
      await joinOk(a, 'ops', 'boss', { token: await token('boss', ['speak', 'listen', 'admin']) });
      const troll = await joinOk(b, 'ops', 'troll', { token: await token('troll') });
      const kicked = await adminRequest(a, 'kick', { id: troll.self.id });
      expect(kicked).toEqual({ ok: true });
      await own.stop();
      const back = await startRedis(own.port);
      try {
        await healthyWithPeers(node, 1);
        const retry = await connectClient(node.url);
        clients.push(retry);
        const refused = await join(retry, 'ops', 'troll', { token: await token('troll'), resume: troll.resume });
        expect(refused.ok ? null : refused.error.code).toBe('kicked');
      } finally {
        await node.close();
        await back.stop();
      }
    } finally {
      await node.close();
    }
  });

  it('joins get a retryable unavailable error, /healthz says so, and the node writes its members back when Redis returns', async () => {
    const own = await startRedis();
    const node = await startNode(own.url, { resumeGraceMs: 5_000 });
    try {
      const [a, b] = [await connectClient(node.url), await connectClient(node.url)];
      clients.push(a, b);
      const alice = await joinOk(a, 'outage', 'alice');
      const bob = await joinOk(b, 'outage', 'bob');
      await own.stop('SIGKILL');
      await sleep(300);
      const down = await fetch(`${node.url}/healthz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ ok: false, peers: 2, cluster: { redis: 'down' } });
      const late = await connectClient(node.url);
      clients.push(late);
      const refused = await join(late, 'outage', 'carol');
      expect(refused).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      // Relays among this node's own members go on without Redis.
      const toBob = nextEvent(b, 'signal');
      a.emit('signal', { to: bob.self.id, data: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' } } });
      expect((await toBob).from).toBe(alice.self.id);

      // Redis returns empty (no persistence): the node writes alice and bob back.
      const back = await startRedis(own.port);
      try {
        await healthyWithPeers(node, 2);
        const carol = await joinOk(late, 'outage', 'carol');
        expect(carol.peers.map((p) => p.name).sort()).toEqual(['alice', 'bob']);
        // The resume key went back too: a node started after the outage takes a token issued
        // before it, and alice resumes there under her id.
        const second = await startNode(own.url, { resumeGraceMs: 5_000 });
        try {
          a.disconnect();
          const again = await connectClient(second.url);
          clients.push(again);
          const resumed = await joinOk(again, 'outage', 'alice', { resume: alice.resume });
          expect(resumed.self.id).toBe(alice.self.id);
        } finally {
          await second.close();
        }
      } finally {
        await node.close();
        await back.stop();
      }
    } finally {
      await node.close();
    }
  });
});
