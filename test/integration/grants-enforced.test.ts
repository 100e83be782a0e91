// Grants are enforced where the media is: in a mesh every voxroom client drops the audio of a
// member without `speak`, or server-muted, whatever that member sends. Real wrtc peers, one
// process. The VoicePeer does not silence itself for a missing grant, so a plain peer with a
// listen-only token is exactly the "patched peer that ignores its grant".
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Grant } from '../../src/protocol.js';
import { RoomTokenSigner, RoomTokenVerifier } from '../../src/server/room-tokens.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { allConnected, heardDbfs, makePeer, sleep, toneLevelDb, waitUntil, type TestPeer } from '../helpers/peers.js';
import { startTestServer } from '../helpers/signalling.js';
import { readWav16 } from '../helpers/wav.js';

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

async function peer(room: string, name: string, tone: number | null, grants: Grant[], recordDir?: string): Promise<TestPeer> {
  const token = await signer.mint({ name, scope: { room }, grants, ttlSeconds: 600 });
  const made = makePeer(server!.url, room, name, tone, { token, ...(recordDir ? { recordDir } : {}) });
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
    const recordDir = mkdtempSync(join(tmpdir(), 'voxroom-grants-'));
    const listener = await peer('grants', 'listener', null, ['speak', 'listen'], recordDir);
    const room = [rogue, talker, listener];
    await waitUntil(() => everyoneConnected(room), 'the mesh to connect', 20_000);
    await sleep(1500);
    // Its own client says it speaks (its tone is loud); the room never shows it speaking.
    expect(rogue.peer.status().audio.speaking).toBe(true);
    expect(listener.peer.peers().find((p) => p.name === 'rogue')?.state.speaking).toBe(false);
    // The rogue's audio arrives (its link is up and carries frames) but is played at gain 0.
    expect(listener.peer.peers().find((p) => p.name === 'rogue')?.audio?.receivedFrames).toBeGreaterThan(50);
    for (const roommate of [talker, listener]) expect(heardDbfs(roommate, ROGUE_HZ), `${roommate.name} hearing the rogue`).toBeLessThan(-60);
    // The control: a member with speak is heard at its −20 dBFS.
    expect(heardDbfs(listener, CONTROL_HZ)).toBeGreaterThan(-26);
    // The rogue itself hears the others: listen is enough for that.
    expect(heardDbfs(rogue, CONTROL_HZ)).toBeGreaterThan(-26);
    // Nor does it reach a recording: the listener's file of the rogue holds silence, its file of
    // the talker the talker's tone.
    await listener.peer.stop();
    const rogueFile = readWav16(join(recordDir, 'rogue.wav')).samples;
    const talkerFile = readWav16(join(recordDir, 'talker.wav')).samples;
    expect(rogueFile.length).toBeGreaterThan(48_000);
    expect(Math.max(...rogueFile.map(Math.abs)), "the listener's recording of the rogue").toBe(0);
    expect(toneLevelDb(talkerFile.subarray(talkerFile.length - 48_000), CONTROL_HZ)).toBeGreaterThan(-3);
  });

  it('a member without the listen grant hears nobody: its roommates send it nothing, while it is heard and they hear each other', async () => {
    server = await startTestServer({ tokens: RoomTokenVerifier.fromSecret(SECRET) });
    // One joins first (its roommates offer to it), one last (it offers, they answer): both ways
    // of setting up a connection send it nothing.
    const deaf = await peer('deaf', 'deaf', ROGUE_HZ, ['speak']);
    const talker = await peer('deaf', 'talker', CONTROL_HZ, ['speak', 'listen']);
    const listener = await peer('deaf', 'listener', null, ['speak', 'listen']);
    const lateDeaf = await peer('deaf', 'late-deaf', null, ['speak']);
    const linksUp = (p: TestPeer): boolean => p.peer.peers().length === 3 && p.peer.peers().every((r) => r.connection === 'connected');
    await waitUntil(() => [deaf, talker, listener, lateDeaf].every(linksUp), 'the mesh to connect', 20_000, () => deaf.peer.peers());
    await sleep(1500);
    // The links are up, but nothing of the room arrives at a deaf member: no RTP packets at all,
    // while the others' links carry theirs.
    for (const member of [deaf, lateDeaf]) {
      for (const roommate of await member.peer.peersWithPackets()) {
        // Deaf members send each other nothing either; anyone else would have sent plenty by now.
        expect(roommate.packets?.received, `packets from ${roommate.name} at ${member.name}`).toBe(0);
      }
    }
    expect(heardDbfs(lateDeaf, CONTROL_HZ)).toBeLessThan(-60);
    expect((await listener.peer.peersWithPackets()).find((p) => p.name === 'talker')?.packets?.received).toBeGreaterThan(50);
    expect(heardDbfs(deaf, CONTROL_HZ)).toBeLessThan(-60);
    // It still speaks to the room, and the others hear each other.
    expect(heardDbfs(listener, ROGUE_HZ)).toBeGreaterThan(-26);
    expect(heardDbfs(listener, CONTROL_HZ)).toBeGreaterThan(-26);
    expect(heardDbfs(talker, ROGUE_HZ)).toBeGreaterThan(-26);
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
