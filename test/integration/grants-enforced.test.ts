// Grants are enforced where the media is: in a mesh every voxroom client drops the audio of a
// member without `speak`, or server-muted, whatever that member sends. Real wrtc peers, one
// process. The VoicePeer does not silence itself for a missing grant, so a plain peer with a
// listen-only token is exactly the "patched peer that ignores its grant".
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Grant } from '../../src/protocol.js';
import { RoomTokenSigner, RoomTokenVerifier } from '../../src/server/room-tokens.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { allConnected, heardDbfs, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';
import { startTestServer } from '../helpers/signalling.js';

const SECRET = randomBytes(32).toString('base64');
const signer = RoomTokenSigner.fromSecret(SECRET);
const ROGUE_HZ = 440;
const CONTROL_HZ = 880;

let server: RunningServer | null = null;
let peers: TestPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.map((p) => p.peer.stop()));
  peers = [];
  await server?.close();
  server = null;
});

async function peer(room: string, name: string, tone: number | null, grants: Grant[]): Promise<TestPeer> {
  const token = await signer.mint({ name, scope: { room }, grants, ttlSeconds: 600 });
  const made = makePeer(server!.url, room, name, tone, { token });
  peers.push(made);
  await made.peer.start();
  return made;
}
const everyoneConnected = (group: TestPeer[]): boolean => group.every((p) => allConnected(p.peer, group.length - 1));

describe('grants in a mesh', () => {
  it('a member without the speak grant sends a tone, and every roommate hears it below −60 dBFS', async () => {
    server = await startTestServer({ tokens: RoomTokenVerifier.fromSecret(SECRET) });
    const rogue = await peer('grants', 'rogue', ROGUE_HZ, ['listen']);
    const talker = await peer('grants', 'talker', CONTROL_HZ, ['speak', 'listen']);
    const listener = await peer('grants', 'listener', null, ['speak', 'listen']);
    const room = [rogue, talker, listener];
    await waitUntil(() => everyoneConnected(room), 'the mesh to connect', 20_000);
    await sleep(1500);
    // The rogue's audio arrives (its link is up and carries frames) but is played at gain 0.
    expect(listener.peer.peers().find((p) => p.name === 'rogue')?.audio?.receivedFrames).toBeGreaterThan(50);
    for (const roommate of [talker, listener]) expect(heardDbfs(roommate, ROGUE_HZ), `${roommate.name} hearing the rogue`).toBeLessThan(-60);
    // The control: a member with speak is heard at its −20 dBFS.
    expect(heardDbfs(listener, CONTROL_HZ)).toBeGreaterThan(-26);
    // The rogue itself hears the others: listen is enough for that.
    expect(heardDbfs(rogue, CONTROL_HZ)).toBeGreaterThan(-26);
  });

  it('a server-muted member is below −60 dBFS for every roommate until an admin unmutes it', async () => {
    server = await startTestServer({ tokens: RoomTokenVerifier.fromSecret(SECRET) });
    const loud = await peer('muting', 'loud', ROGUE_HZ, ['speak', 'listen']);
    const boss = await peer('muting', 'boss', null, ['speak', 'listen', 'admin']);
    const listener = await peer('muting', 'listener', null, ['speak', 'listen']);
    const room = [loud, boss, listener];
    await waitUntil(() => everyoneConnected(room), 'the mesh to connect', 20_000);
    await sleep(1000);
    expect(heardDbfs(listener, ROGUE_HZ)).toBeGreaterThan(-26);

    const loudId = listener.peer.peers().find((p) => p.name === 'loud')!.id;
    await boss.peer.serverMute(loudId, true);
    await waitUntil(() => listener.peer.peers().find((p) => p.name === 'loud')?.state.serverMuted === true, 'the server-mute to reach the listener', 3000);
    await sleep(1200);
    for (const roommate of [boss, listener]) expect(heardDbfs(roommate, ROGUE_HZ), `${roommate.name} hearing the muted member`).toBeLessThan(-60);

    await boss.peer.serverMute(loudId, false);
    await waitUntil(() => listener.peer.peers().find((p) => p.name === 'loud')?.state.serverMuted === false, 'the unmute', 3000);
    await sleep(1200);
    for (const roommate of [boss, listener]) expect(heardDbfs(roommate, ROGUE_HZ), `${roommate.name} hearing it again`).toBeGreaterThan(-26);
  });
});
