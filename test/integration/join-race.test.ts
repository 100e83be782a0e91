// Issue 17: every pair connects, every time. The root cause (room events handled before the
// join ack they follow), a server that delays and reorders signalling, the safety net for lost
// offers, and real processes joining at the same moment.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import type { ClientToServerEvents, Member, ServerToClientEvents } from '../../src/protocol.js';
import { SignallingClient } from '../../src/peer/signalling-client.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { runStressRound, startStressServer, summarize, type StressRound } from '../../src/bench/join-stress.js';
import { VOXROOM_BIN } from '../helpers/cli.js';
import { startTestServer } from '../helpers/signalling.js';
import { allConnected, expectHears, lastSeconds, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';

let server: RunningServer | null = null;
let peers: TestPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.map((p) => p.peer.stop()));
  peers = [];
  await server?.close();
  server = null;
});

describe('join ordering', () => {
  it('a room event and a signal that arrive in the same network read as the join ack are not lost', async () => {
    // A server that answers the join and, in the same tick, announces a member and relays its
    // offer: the client reads all three packets at once and socket.io dispatches them in one go.
    const http = createServer();
    const io = new Server<ClientToServerEvents, ServerToClientEvents>(http);
    const intruder: Member = { id: 'zz', name: 'late', state: { muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] } };
    io.on('connection', (socket) => {
      socket.on('join', (_request, ack) => {
        ack?.({ ok: true, self: { id: 'aa', name: 'me', state: { muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] } }, peers: [], map: null, media: 'mesh', iceServers: [], resume: 'token', resumed: false, resumeGraceMs: 15_000, mediaKept: false, renamed: false });
        socket.emit('member-joined', { room: 'r', member: intruder });
        socket.emit('signal', { from: 'zz', data: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host' } } });
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const client = new SignallingClient(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, 'r', 'me', silentLogger);
    const seen: string[] = [];
    client.on('joined', () => seen.push('joined'));
    client.on('member-joined', ({ member }) => seen.push(`member-joined ${member.name}`));
    client.on('signal', ({ from }) => seen.push(`signal from ${from}`));
    await client.join();
    await sleep(100);
    await client.close();
    await new Promise((resolve) => io.close(resolve));
    expect(seen).toEqual(['joined', 'member-joined late', 'signal from zz']);
  });
});

describe('negotiation under faults', () => {
  const tones = [350, 470, 590, 710, 830, 950];

  it('six peers join at once through a server that delays and reorders signalling up to 200 ms: every pair connects and is heard', async () => {
    server = await startTestServer({ faults: { maxDelayMs: 200 } });
    const six = tones.map((tone, i) => makePeer(server!.url, 'slow', `p${i + 1}`, tone));
    peers.push(...six);
    await Promise.all(six.map((p) => p.peer.start()));
    const explain = () => six.map((p) => ({ name: p.name, peers: p.peer.peers().map((x) => [x.name, x.connection]) }));
    for (const p of six) await waitUntil(() => allConnected(p.peer, 5), `${p.name} connected to all five`, 30_000, explain);
    await sleep(1200);
    for (const [i, listener] of six.entries()) {
      const heard = lastSeconds(listener.sink, 0.8);
      for (const [j, tone] of tones.entries()) if (j !== i) expectHears(heard, tone);
    }
    console.log(`delayed signalling: ${six.reduce((sum, p) => sum + p.peer.retries, 0)} safety-net retries among 15 pairs`);
  });

  it('a lost offer: the newcomer offers again after 5 s, the pair connects, and the wait shows as never-started', async () => {
    server = await startTestServer({ faults: { dropOffers: 1 } });
    const alice = makePeer(server.url, 'lossy', 'alice', 440);
    const bob = makePeer(server.url, 'lossy', 'bob', 620);
    peers.push(alice, bob);
    const retries: Array<{ peer: string; attempt: number; by: string }> = [];
    bob.peer.on('retry', (info) => retries.push(info));
    alice.peer.on('retry', (info) => retries.push(info));
    await alice.peer.start();
    await bob.peer.start();
    await sleep(1000);
    // alice never got bob's offer: she knows bob, but no connection was ever started.
    expect(alice.peer.peers()).toMatchObject([{ name: 'bob', connection: 'never-started' }]);
    await waitUntil(() => allConnected(alice.peer, 1) && allConnected(bob.peer, 1), 'the pair connected after the retry', 15_000);
    expect(retries).toEqual([expect.objectContaining({ peer: 'alice', attempt: 1, by: 'newcomer' })]);
    await sleep(800);
    expectHears(lastSeconds(alice.sink, 0.6), 620);
    expectHears(lastSeconds(bob.sink, 0.6), 440);
  });

  it('two lost offers: after the newcomer\'s retry is lost too, only the impolite peer offers, and the pair connects', async () => {
    server = await startTestServer({ faults: { dropOffers: 2 } });
    const alice = makePeer(server.url, 'lossier', 'alice', 440);
    const bob = makePeer(server.url, 'lossier', 'bob', 620);
    peers.push(alice, bob);
    const retries: Array<{ peer: string; attempt: number; by: string }> = [];
    for (const p of [alice, bob]) p.peer.on('retry', (info) => retries.push({ ...info, peer: `${p.name}→${info.peer}` }));
    await alice.peer.start();
    await bob.peer.start();
    await waitUntil(() => allConnected(alice.peer, 1) && allConnected(bob.peer, 1), 'the pair connected after the impolite retry', 25_000);
    const impolite = alice.peer.identity!.id > bob.peer.identity!.id ? 'alice' : 'bob';
    expect(retries[0]).toMatchObject({ peer: 'bob→alice', attempt: 1, by: 'newcomer' });
    expect(retries[1]).toMatchObject({ peer: impolite === 'alice' ? 'alice→bob' : 'bob→alice', attempt: 2, by: 'impolite' });
    expect(retries).toHaveLength(2);
  });
});

describe('real processes joining at the same moment', () => {
  it('every peer hears every other in every round: six at once, one joining while another leaves, two rooms at once, and through delayed signalling', async () => {
    const results: StressRound[] = [];
    const plain = await startStressServer(VOXROOM_BIN);
    try {
      const options = { bin: VOXROOM_BIN, serverUrl: plain.url, log: (line: string) => console.log(line) };
      for (let round = 0; round < 3; round++) results.push(await runStressRound(options, round, 'simultaneous'));
      results.push(await runStressRound(options, 3, 'join-while-leave'));
      results.push(await runStressRound(options, 4, 'two-rooms'));
    } finally {
      await plain.stop();
    }
    const slow = await startStressServer(VOXROOM_BIN, 200);
    try {
      const options = { bin: VOXROOM_BIN, serverUrl: slow.url, log: (line: string) => console.log(line) };
      for (let round = 5; round < 7; round++) results.push(await runStressRound(options, round, 'simultaneous'));
    } finally {
      await slow.stop();
    }
    const summary = summarize(results);
    console.log(`join stress: ${JSON.stringify(summary)}`);
    expect(results.flatMap((r) => r.silentPairs.map((pair) => `round ${r.round} (${r.scenario}): ${pair}`))).toEqual([]);
    expect(summary.rounds).toBe(7);
  }, 240_000);
});
