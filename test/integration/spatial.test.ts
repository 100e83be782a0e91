// Spatial rooms end to end: a real server with a map and real headless peers (wrtc) in this
// process. What a listener hears is measured in its stereo mix (a MemorySink), per side, and
// compared with the laws of src/audio/spatial.ts; moves are checked on raw protocol clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toneLevel } from '../../src/audio/analysis.js';
import type { MemorySink } from '../../src/audio/memory-sink.js';
import { equalPowerPan, inverseDistanceGain } from '../../src/audio/spatial.js';
import { MoveError } from '../../src/peer/signalling-client.js';
import type { MoveAck, Position } from '../../src/protocol.js';
import { RoomMap } from '../../src/server/room-map.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { allConnected, makePeer, sleep, toneLevelDb, waitUntil, type TestPeer } from '../helpers/peers.js';
import { connectClient, joinOk, startTestServer, trackRoom, type TestClient } from '../helpers/signalling.js';

const HALL = {
  width: 40,
  height: 20,
  radius: 15,
  entry: 'middle',
  spots: [
    { name: 'middle', x: 10, y: 10 },
    { name: 'front-left', x: 8, y: 8 }, // 45° to the left of someone at the middle facing up
    { name: 'front-right', x: 12, y: 8 },
    { name: 'near', x: 10, y: 9 }, // 1 m ahead
    { name: 'far-away', x: 30, y: 10 }, // 20 m: beyond the 15 m radius
    { name: 'in-booth', x: 31, y: 15 },
  ],
  zones: [
    { name: 'stage', kind: 'stage', x: 34, y: 0, width: 6, height: 4 },
    { name: 'booth', kind: 'booth', x: 30, y: 14, width: 6, height: 6 },
  ],
};

let server: RunningServer;
const peers: TestPeer[] = [];
const clients: TestClient[] = [];
beforeAll(async () => {
  server = await startTestServer({ map: RoomMap.parse(JSON.stringify({ rooms: { hall: HALL, plaza: { width: 20, height: 10, spots: [{ name: 'door', x: 0, y: 5 }] }, crowd: { width: 20, height: 10 } } }), 'test') });
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(peers.map((p) => p.peer.stop()));
  await server.close();
});

const db = (ratio: number): number => 20 * Math.log10(ratio);
/** Level of a tone on one side of the listener's stereo mix over the last 0.8 s, as a peak amplitude. */
const side = (sink: MemorySink, channel: 0 | 1, hz: number): number => toneLevel(sink.channel(channel, 0.8), hz);
/** Both sides' power together: what the distance law scales, whatever the pan. */
const power = (sink: MemorySink, hz: number): number => Math.hypot(side(sink, 0, hz), side(sink, 1, hz));
/** Moves take effect within a frame; the jitter buffer and the Opus decoder need a moment to show it. */
const settle = (): Promise<void> => sleep(1200);

describe('spatial rooms: what a listener hears', () => {
  it('pans by bearing, falls with distance, fades out past the radius, honours stage, booth, volume and facing', async () => {
    const listener = makePeer(server.url, 'hall', 'listener', null);
    const ann = makePeer(server.url, 'hall', 'ann', 440, { at: { spot: 'front-left' } });
    const bob = makePeer(server.url, 'hall', 'bob', 970, { at: { spot: 'front-right' } });
    peers.push(listener, ann, bob);
    for (const p of [listener, ann, bob]) await p.peer.start();
    await waitUntil(() => allConnected(listener.peer, 2), 'the listener connected to both speakers', 20_000);
    expect(listener.peer.spatial).toBe(true);
    expect(listener.sink.channels).toBe(2);
    expect(listener.peer.position).toEqual({ x: 10, y: 10, facing: 0 });
    await settle();

    // 1. Ann 45° to the left, Bob 45° to the right: each side's ratio is the equal-power law's.
    const law45 = db(equalPowerPan(45).right / equalPowerPan(45).left); // 7.66 dB
    const annLeftOverRight = db(side(listener.sink, 0, 440) / side(listener.sink, 1, 440));
    const bobRightOverLeft = db(side(listener.sink, 1, 970) / side(listener.sink, 0, 970));
    console.log(`pan at ±45°: ann L/R ${annLeftOverRight.toFixed(2)} dB, bob R/L ${bobRightOverLeft.toFixed(2)} dB (law ${law45.toFixed(2)} dB)`);
    expect(Math.abs(annLeftOverRight - law45)).toBeLessThan(1);
    expect(Math.abs(bobRightOverLeft - law45)).toBeLessThan(1);
    const annAt45 = power(listener.sink, 440);

    // 2. Turning round swaps left and right.
    await listener.peer.face(180);
    await settle();
    const turned = db(side(listener.sink, 1, 440) / side(listener.sink, 0, 440));
    console.log(`facing 180°: ann R/L ${turned.toFixed(2)} dB`);
    expect(Math.abs(turned - law45)).toBeLessThan(1);
    await listener.peer.face(0);

    // 3. The listener's own volume multiplies on top of the distance law.
    listener.peer.setVolume('ann', 50);
    await settle();
    const halved = db(power(listener.sink, 440) / annAt45);
    console.log(`ann at 50 %: ${halved.toFixed(2)} dB`);
    expect(Math.abs(halved - db(0.5))).toBeLessThan(1);
    listener.peer.setVolume('ann', 100);

    // 4. Ann walks from 1 m to 4 m in front of the listener: −12 dB by the inverse law.
    await ann.peer.goto('near');
    await settle();
    const atOneMetre = power(listener.sink, 440);
    const walked = await ann.peer.moveTo(10, 6);
    expect(walked).toEqual({ x: 10, y: 6, facing: 0 });
    await settle();
    const drop = db(power(listener.sink, 440) / atOneMetre);
    const lawDrop = db(inverseDistanceGain(4) / inverseDistanceGain(1));
    console.log(`1 m → 4 m: ${drop.toFixed(2)} dB (law ${lawDrop.toFixed(2)} dB)`);
    expect(Math.abs(drop - lawDrop)).toBeLessThan(1);

    // 5. Beyond the hearing radius: silence (more than 60 dB down).
    await ann.peer.goto('far-away');
    await settle();
    const beyond = db(power(listener.sink, 440) / atOneMetre);
    console.log(`beyond the radius: ${beyond.toFixed(1)} dB`);
    expect(beyond).toBeLessThan(-60);

    // 6. On the stage (28 m away): full level, centred.
    await ann.peer.goto('stage');
    await settle();
    const onStage = db(power(listener.sink, 440) / atOneMetre);
    const stageBalance = db(side(listener.sink, 0, 440) / side(listener.sink, 1, 440));
    console.log(`on stage: ${onStage.toFixed(2)} dB against 1 m, balance ${stageBalance.toFixed(2)} dB`);
    expect(Math.abs(onStage)).toBeLessThan(1);
    expect(Math.abs(stageBalance)).toBeLessThan(1);

    // 7. A booth: Bob inside is not heard outside; the listener inside hears Bob, not the stage.
    const bobOutside = power(listener.sink, 970);
    await bob.peer.goto('booth');
    await settle();
    expect(db(power(listener.sink, 970) / bobOutside)).toBeLessThan(-60);
    await listener.peer.goto('in-booth');
    await settle();
    expect(db(power(listener.sink, 970) / bobOutside)).toBeGreaterThan(-20);
    expect(db(power(listener.sink, 440) / atOneMetre)).toBeLessThan(-60);
    // Both ways: Bob in the booth does not hear Ann on the stage either, and hears the listener's silence.
    expect(db(power(bob.sink, 440) / atOneMetre)).toBeLessThan(-60);
  });
});

describe('spatial rooms: --no-spatial', () => {
  it('a listener who opts out hears a room with a map as one without: mono, everyone at full level wherever they stand', async () => {
    // The crowd room: 20 × 10 m, entry at the centre. The talker stands 9.5 m to the right.
    const flat = makePeer(server.url, 'crowd', 'flat', null, { spatial: false });
    const placed = makePeer(server.url, 'crowd', 'placed', null);
    const talker = makePeer(server.url, 'crowd', 'talker', 620, { at: { x: 19.5, y: 5 } });
    peers.push(flat, placed, talker);
    for (const p of [flat, placed, talker]) await p.peer.start();
    await waitUntil(() => allConnected(flat.peer, 2) && allConnected(placed.peer, 2), 'both listeners connected', 20_000);
    await settle();
    expect(flat.peer.spatial).toBe(false);
    expect(flat.sink.channels).toBe(1);
    expect(placed.sink.channels).toBe(2);
    const flatLevel = toneLevel(flat.sink.samples(0.8), 620);
    const placedDrop = db(power(placed.sink, 620) / flatLevel);
    const law = db(inverseDistanceGain(9.5));
    const flatDb = toneLevelDb(flat.sink.samples(0.8), 620);
    console.log(`--no-spatial: talker 9.5 m away at ${flatDb.toFixed(2)} dB of the sent level; a placed listener ${placedDrop.toFixed(2)} dB under that (law ${law.toFixed(2)} dB)`);
    expect(Math.abs(flatDb)).toBeLessThan(1);
    expect(Math.abs(placedDrop - law)).toBeLessThan(1);
    // Out of the crowd room before its moves test.
    await Promise.all([flat, placed, talker].map((p) => p.peer.stop()));
  });
});

describe('spatial rooms: moves', () => {
  const client = async (): Promise<TestClient> => {
    const socket = await connectClient(server.url);
    clients.push(socket);
    return socket;
  };
  const move = (socket: TestClient, request: Parameters<TestClient['emitWithAck']>[1]): Promise<MoveAck> => socket.timeout(3000).emitWithAck('move', request as never);

  it('refuses or shortens moves with clear codes', async () => {
    const ann = await client();
    const joined = await joinOk(ann, 'plaza', 'ann');
    expect(joined.self.state.position).toEqual({ x: 10, y: 5, facing: 0 }); // no entry: the centre
    await sleep(250);
    const far = await move(ann, { x: 19, y: 5 });
    expect(far).toMatchObject({ ok: true, shortened: true, position: { x: 11, y: 5 } }); // 5 m/s × 0.2 s
    expect(await move(ann, { x: 25, y: 5 })).toMatchObject({ ok: false, error: { code: 'outside-room', message: expect.stringMatching(/outside the 20×10 m room/) } });
    expect(await move(ann, { spot: 'roof' })).toMatchObject({ ok: false, error: { code: 'unknown-spot', message: expect.stringMatching(/its spots: door/) } });
    expect(await move(ann, { spot: 'door' })).toMatchObject({ ok: true, shortened: false, position: { x: 0, y: 5 } });
    expect(await move(ann, { facing: 450 })).toMatchObject({ ok: true, position: { x: 0, y: 5, facing: 90 } });
    expect(await move(ann, { x: 1 })).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    // More than 20 in a second: the rest are refused.
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => move(ann, { facing: i })));
    expect(burst.filter((a) => !a.ok).every((a) => !a.ok && a.error.code === 'too-many-moves')).toBe(true);
    expect(burst.filter((a) => a.ok).length).toBeLessThanOrEqual(20);
    // No map, nowhere to move; and no place to enter at.
    const bob = await client();
    await joinOk(bob, 'mapless', 'bob');
    expect(await move(bob, { x: 1, y: 1 })).toMatchObject({ ok: false, error: { code: 'not-spatial' } });
    const cat = await client();
    const refused = await cat.timeout(3000).emitWithAck('join', { room: 'mapless', name: 'cat', v: 2, at: { spot: 'door' } });
    expect(refused).toMatchObject({ ok: false, error: { code: 'not-spatial' } });
    const dan = await client();
    expect(await dan.timeout(3000).emitWithAck('join', { room: 'plaza', name: 'dan', v: 2, at: { x: 3, y: 40 } })).toMatchObject({ ok: false, error: { code: 'outside-room' } });
    // A headless peer sees a refusal as a MoveError with the code.
    const eve = makePeer(server.url, 'plaza', 'eve', null, { at: { x: 2, y: 2 } });
    peers.push(eve);
    await eve.peer.start();
    expect(eve.peer.position).toEqual({ x: 2, y: 2, facing: 0 });
    await expect(eve.peer.goto('attic')).rejects.toMatchObject({ name: 'MoveError', code: 'unknown-spot' });
    await expect(eve.peer.moveTo(-1, 2)).rejects.toBeInstanceOf(MoveError);
  });

  it('after many concurrent moves every client sees the same positions, the server’s', async () => {
    const sockets = await Promise.all(Array.from({ length: 6 }, () => client()));
    const views = sockets.map((socket) => trackRoom(socket));
    for (const [i, socket] of sockets.entries()) await joinOk(socket, 'crowd', `walker${i}`);
    const last = new Map<number, Position>();
    // Each walks a random path, 40 moves about 30 ms apart (some refused as too frequent).
    await Promise.all(
      sockets.map(async (socket, i) => {
        for (let k = 0; k < 40; k++) {
          const answer = await move(socket, k % 7 === 0 ? { facing: Math.random() * 360 } : { x: Math.random() * 20, y: Math.random() * 10 });
          if (answer.ok) last.set(i, answer.position);
          await sleep(30);
        }
      }),
    );
    await sleep(300);
    const positionsOf = (i: number): string => JSON.stringify((views[i]!.latest()?.peers ?? []).map((p) => [p.name, p.state?.position]).sort());
    const reference = positionsOf(0);
    for (let i = 1; i < sockets.length; i++) expect(positionsOf(i)).toBe(reference);
    // And it is where each one's last accepted move put it.
    const seen = new Map((views[0]!.latest()?.peers ?? []).map((p) => [p.name, p.state?.position]));
    for (const [i, position] of last) expect(seen.get(`walker${i}`)).toEqual(position);
  });
});
