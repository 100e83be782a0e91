// Grants enforced by the SFU: Janus does not forward a member without `speak`, nor a
// server-muted one (its listeners receive no frames of it at all, not just play them at gain 0).
// A real Janus, started by the test from the janus on the PATH.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import type { Grant } from '../../src/protocol.js';
import { JanusDriver } from '../../src/server/janus-driver.js';
import { startJanusProcess, type JanusProcess } from '../../src/server/janus-process.js';
import { RoomTokenSigner, RoomTokenVerifier } from '../../src/server/room-tokens.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { heardDbfs, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';
import { startTestServer } from '../helpers/signalling.js';

const SECRET = randomBytes(32).toString('base64');
const signer = RoomTokenSigner.fromSecret(SECRET);
let janus: JanusProcess;
let driver: JanusDriver;
let server: RunningServer;
let peers: TestPeer[] = [];

beforeAll(async () => {
  janus = await startJanusProcess({ logger: silentLogger });
  driver = await JanusDriver.connect(janus.url, silentLogger);
  server = await startTestServer({ media: 'sfu', janus: driver, tokens: RoomTokenVerifier.fromSecret(SECRET) });
});
afterEach(async () => {
  await Promise.all(peers.map((p) => p.peer.stop()));
  peers = [];
});
afterAll(async () => {
  await server?.close();
  await driver?.close();
  await janus?.stop();
});

async function peer(room: string, name: string, tone: number | null, grants: Grant[]): Promise<TestPeer> {
  const token = await signer.mint({ name, scope: { room }, grants, ttlSeconds: 600 });
  const made = makePeer(server.url, room, name, tone, { token });
  peers.push(made);
  await made.peer.start();
  return made;
}
const framesFrom = (listener: TestPeer, name: string): number => listener.peer.peers().find((p) => p.name === name)?.audio?.receivedFrames ?? 0;
/** RTP packets of `name` that reached the listener (its decoder plays on without them, so frames alone say little). */
const packetsFrom = async (listener: TestPeer, name: string): Promise<number> => (await listener.peer.peersWithPackets()).find((p) => p.name === name)?.packets?.received ?? 0;

describe('grants through the SFU', () => {
  it('a member without speak is never forwarded; a server-muted one stops being forwarded, and comes back when unmuted', async () => {
    const rogue = await peer('sfu-grants', 'rogue', 440, ['listen']);
    const loud = await peer('sfu-grants', 'loud', 880, ['speak', 'listen']);
    const boss = await peer('sfu-grants', 'boss', null, ['speak', 'listen', 'admin']);
    await waitUntil(() => framesFrom(boss, 'loud') > 50, 'boss to receive loud through Janus', 20_000, () => boss.peer.peers());
    await sleep(1500);
    expect(framesFrom(boss, 'rogue')).toBe(0);
    expect(framesFrom(loud, 'rogue')).toBe(0);
    expect(heardDbfs(boss, 440)).toBeLessThan(-60);
    expect(heardDbfs(boss, 880)).toBeGreaterThan(-26);

    const loudId = boss.peer.peers().find((p) => p.name === 'loud')!.id;
    await boss.peer.serverMute(loudId, true);
    await sleep(500);
    const before = await packetsFrom(boss, 'loud');
    expect(before).toBeGreaterThan(50);
    await sleep(1000);
    // Janus relays nothing more of it (a packet or two may have been in flight).
    expect((await packetsFrom(boss, 'loud')) - before).toBeLessThan(5);
    expect(heardDbfs(boss, 880)).toBeLessThan(-60);
    expect(heardDbfs(rogue, 880)).toBeLessThan(-60);

    await boss.peer.serverMute(loudId, false);
    await waitUntil(() => heardDbfs(boss, 880) > -26, 'loud to be heard again', 10_000);
  });

  it('a member without listen is never subscribed: nothing of the room reaches it, while it is heard', async () => {
    const deaf = await peer('sfu-deaf', 'deaf', 440, ['speak']);
    const loud = await peer('sfu-deaf', 'loud', 880, ['speak', 'listen']);
    await waitUntil(() => framesFrom(loud, 'deaf') > 50, 'loud to receive the deaf member through Janus', 20_000, () => loud.peer.peers());
    await sleep(1500);
    expect(heardDbfs(loud, 440)).toBeGreaterThan(-26);
    expect(framesFrom(deaf, 'loud')).toBe(0);
    expect(await packetsFrom(deaf, 'loud')).toBe(0);
    expect(heardDbfs(deaf, 880)).toBeLessThan(-60);
  });
});
