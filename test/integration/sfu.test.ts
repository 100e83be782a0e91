// SFU rooms through a real Janus (started by the test from the janus on the PATH): media goes
// once to Janus and back, listeners mix in Node with their own volumes, recordings per speaker.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseSdp } from 'sdp-transform';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { longestSilenceMs } from '../../src/audio/analysis.js';
import { FRAME_SAMPLES } from '../../src/audio/format.js';
import { silentLogger } from '../../src/log.js';
import { JanusDriver, type SubscriberOffer } from '../../src/server/janus-driver.js';
import { RoomMap } from '../../src/server/room-map.js';
import { startJanusProcess, type JanusProcess } from '../../src/server/janus-process.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { VOXROOM_BIN, exitOf, runCli, startCli } from '../helpers/cli.js';
import { measureSilentGrowth } from '../../src/bench/sfu.js';
import { LOAD_TEST_CONNECTION_LIMITS } from '../../src/server/connection-gate.js';
import { freePort } from '../../src/server/free-port.js';
import { expectAbsent, expectHears, lastSeconds, makePeer, sleep, toneLevelDb, waitUntil, type TestPeer } from '../helpers/peers.js';
import { videoRoomHandles } from '../helpers/janus-admin.js';
import { expectCompleteWav, readWav16, wavTail } from '../helpers/wav.js';
import { connectClient, join as joinRoom, nextError, startTestServer, type TestClient } from '../helpers/signalling.js';
import type { JoinAck } from '../../src/protocol.js';

const TALKERS = { alice: 440, bob: 620, carol: 970 } as const;
let janus: JanusProcess;
let driver: JanusDriver;
let server: RunningServer;
let peers: TestPeer[] = [];

beforeAll(async () => {
  janus = await startJanusProcess({ logger: silentLogger });
  driver = await JanusDriver.connect(janus.url, silentLogger);
  server = await startTestServer({ media: 'sfu', janus: driver });
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

/** Every talker heard by `listener` (a stream from Janus, connected, audio flowing). */
function hearsAll(listener: TestPeer, names: string[]): boolean {
  const heard = listener.peer.peers().filter((p) => names.includes(p.name) && p.connection === 'connected' && (p.audio?.receivedFrames ?? 0) > 20);
  return heard.length === names.length;
}

describe('SFU rooms (Janus)', () => {
  it('three talkers and two listen-only peers: everyone hears every talker at the sent level and never itself, through two connections to Janus', async () => {
    const recordDir = mkdtempSync(join(tmpdir(), 'voxroom-sfu-'));
    const talkers = Object.entries(TALKERS).map(([name, tone]) => makePeer(server.url, 'stage', name, tone, name === 'alice' ? { recordDir } : {}));
    const listeners = ['l1', 'l2'].map((name) => makePeer(server.url, 'stage', name, null, { listenOnly: true }));
    peers.push(...talkers, ...listeners);
    for (const p of [...talkers, ...listeners]) await p.peer.start();
    const names = Object.keys(TALKERS);
    for (const p of [...talkers, ...listeners]) {
      await waitUntil(() => hearsAll(p, names.filter((n) => n !== p.name)), `${p.name} hears every talker`, 20_000, () => p.peer.peers());
    }
    await sleep(1500);
    for (const p of [...talkers, ...listeners]) {
      const heard = lastSeconds(p.sink, 1);
      for (const [name, tone] of Object.entries(TALKERS)) {
        if (name === p.name) expectAbsent(heard, tone);
        else expectHears(heard, tone);
      }
      // No mesh: a talker holds a publisher and a subscriber connection, a listener only the latter.
      expect(p.peer.status()).toMatchObject({ media: 'sfu', links: p.name.startsWith('l') ? 1 : 2 });
    }
    // Janus's own Admin API: a publisher handle per talker, a subscriber per peer, each
    // subscriber carrying the other talkers.
    const handles = await videoRoomHandles(janus);
    console.log(`Janus admin API: ${JSON.stringify(handles)}`);
    expect(handles.filter((h) => h.type === 'publisher')).toHaveLength(3);
    expect(handles.filter((h) => h.type === 'subscriber').map((h) => h.activeStreams).sort()).toEqual([2, 2, 2, 3, 3]);
    // voxroom's driver says the same per member: a publisher for each talker, none for a listener.
    for (const p of [...talkers, ...listeners]) {
      const handles = driver.handlesOf(p.peer.identity!.id);
      expect(handles?.subscriber, `${p.name}'s subscriber handle`).not.toBeNull();
      expect(handles?.publisher === null, `${p.name} publishes`).toBe(p.name.startsWith('l'));
    }
    // Per-speaker recordings on the shared timeline: one tone each.
    await talkers[0]!.peer.stop();
    for (const [name, tone] of Object.entries(TALKERS)) {
      if (name === 'alice') continue;
      const { samples } = readWav16(join(recordDir, `${name}.wav`));
      // The second before alice began to leave: the moment of leaving (streams cut mid-frame) is
      // not what this checks, and once spread a click's energy across the spectrum.
      const tail = samples.subarray(samples.length - 60_000, samples.length - 12_000);
      expectHears(tail, tone);
      for (const [other, otherTone] of Object.entries(TALKERS)) if (other !== name) expectAbsent(tail, otherTone);
    }
  });

  it('a listener\'s volume 0 removes one talker from its mix only; a talker who leaves is dropped and the rest go on', async () => {
    const talkers = Object.entries(TALKERS).map(([name, tone]) => makePeer(server.url, 'volumes', name, tone));
    const listener = makePeer(server.url, 'volumes', 'ear', null, { listenOnly: true });
    const other = makePeer(server.url, 'volumes', 'ear2', null, { listenOnly: true });
    peers.push(...talkers, listener, other);
    for (const p of [...talkers, listener, other]) await p.peer.start();
    await waitUntil(() => hearsAll(listener, Object.keys(TALKERS)) && hearsAll(other, Object.keys(TALKERS)), 'the listeners hear every talker', 20_000);
    listener.peer.setVolume('bob', 0);
    await sleep(1200);
    const heard = lastSeconds(listener.sink, 1);
    expectHears(heard, TALKERS.alice);
    expectHears(heard, TALKERS.carol);
    expectAbsent(heard, TALKERS.bob, -50);
    expectHears(lastSeconds(other.sink, 1), TALKERS.bob);
    // carol leaves: Janus renegotiates the listeners by itself; alice and bob still arrive.
    await talkers[2]!.peer.stop();
    await waitUntil(() => !listener.peer.peers().some((p) => p.name === 'carol'), 'carol gone from the list');
    await sleep(1500);
    const after = lastSeconds(other.sink, 1);
    expectHears(after, TALKERS.alice);
    expectHears(after, TALKERS.bob);
    expectAbsent(after, TALKERS.carol);
  });

  it('a newcomer hears those already talking, and they hear the newcomer', async () => {
    const alice = makePeer(server.url, 'late', 'alice', TALKERS.alice);
    const bob = makePeer(server.url, 'late', 'bob', TALKERS.bob);
    peers.push(alice, bob);
    await alice.peer.start();
    await sleep(1000);
    await bob.peer.start();
    await waitUntil(() => hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'both hear each other', 20_000);
    await sleep(1000);
    expectHears(lastSeconds(alice.sink, 0.8), TALKERS.bob);
    expectHears(lastSeconds(bob.sink, 0.8), TALKERS.alice);
  });

  it('a talker whose signalling connection drops resumes in place: same id and Janus handles, and no gap in what the others hear', async () => {
    const alice = makePeer(server.url, 'blip', 'alice', TALKERS.alice);
    const bob = makePeer(server.url, 'blip', 'bob', TALKERS.bob);
    const ear = makePeer(server.url, 'blip', 'ear', null, { listenOnly: true });
    peers.push(alice, bob, ear);
    for (const p of [alice, bob, ear]) await p.peer.start();
    await waitUntil(() => hearsAll(ear, ['alice', 'bob']) && hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'everyone hears the talkers', 20_000);
    await sleep(1000);
    const id = alice.peer.identity!.id;
    const handles = driver.handlesOf(id);
    const resumed = new Promise<boolean>((resolve) => alice.peer.once('joined', ({ resumed: back }) => resolve(back)));
    // The transport closes under the client, as on a network blip; socket.io reconnects.
    (alice.peer as unknown as { signalling: { socket: { io: { engine: { close(): void } } } } }).signalling.socket.io.engine.close();
    expect(await resumed).toBe(true);
    await sleep(2000);
    expect(alice.peer.identity!.id).toBe(id);
    expect(driver.handlesOf(id)).toEqual(handles);
    // Over the blip and the 2 s after it, what the listener and bob hear of alice never stopped.
    const gap = (listener: TestPeer): number => longestSilenceMs(framesOf(lastSeconds(listener.sink, 3)));
    expect(gap(ear)).toBeLessThanOrEqual(20);
    expect(gap(bob)).toBeLessThanOrEqual(20);
    expectHears(lastSeconds(ear.sink, 1), TALKERS.alice);
    expectHears(lastSeconds(alice.sink, 1), TALKERS.bob);
  });
});

describe('speaking in SFU rooms', () => {
  it('comes from Janus\'s talking events: a talker is speaking for everyone, and stops when muted', async () => {
    const talker = makePeer(server.url, 'talk', 'talker', TALKERS.alice);
    const ear = makePeer(server.url, 'talk', 'ear', null, { listenOnly: true });
    peers.push(talker, ear);
    await ear.peer.start();
    await talker.peer.start();
    const speakingFor = (): boolean | undefined => ear.peer.peers().find((p) => p.name === 'talker')?.state.speaking;
    const started = Date.now();
    await waitUntil(() => speakingFor() === true, 'the talker speaking', 10_000, () => ear.peer.peers());
    console.log(`speaking from Janus: ${Date.now() - started} ms after the talker started`);
    talker.peer.muted = true;
    const mutedAt = Date.now();
    await waitUntil(() => speakingFor() === false, 'speaking to end after the mute', 10_000, () => ear.peer.peers());
    console.log(`speaking ended ${Date.now() - mutedAt} ms after the mute`);
    expect(ear.peer.peers().find((p) => p.name === 'talker')?.state.muted).toBe(true);
  });
});

describe('voxroom load', () => {
  it('runs speakers and listeners in one process, prints progress each second and a verdict, and exits 0 when all heard', async () => {
    const result = await runCli(['load', 'loadtest', '--server', server.url, '--speakers', '2', '--listeners', '6', '--duration', '3', '--json'], { timeoutMs: 40_000 });
    expect(result.code, result.stderr).toBe(0);
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; connected: number; peers: number; speakersHeardMin: number; gapPercent: number; verdict?: string });
    expect(events.filter((e) => e.event === 'progress').length).toBeGreaterThanOrEqual(3);
    const summary = events.find((e) => e.event === 'summary')!;
    expect(summary).toMatchObject({ peers: 8, connected: 8, speakersHeardMin: 2, verdict: 'every listener heard every speaker' });
    // A listener expecting a speaker that never comes fails the run.
    const lonely = await runCli(['load', 'empty', '--server', server.url, '--speakers', '0', '--listeners', '2', '--expect-speakers', '1', '--duration', '2'], { timeoutMs: 30_000 });
    expect(lonely.code).toBe(1);
    expect(lonely.stdout).toMatch(/some listener did not hear every speaker/);
    // …and says which listener fell short, and what it sees.
    expect(lonely.stdout).toMatch(/short: listener-\d+ hears 0 of 0 speakers in its member list/);
  });
});

describe('voxroom join in an SFU room', () => {
  it('a CLI peer with --json: joins through Janus, hears and is heard, takes a volume, records per speaker, and reports media and speaking', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'voxroom-sfu-cli-'));
    const mixPath = join(scratch, 'mix.wav');
    const recordDir = join(scratch, 'rec');
    const alice = makePeer(server.url, 'cli-sfu', 'alice', TALKERS.alice);
    const bob = makePeer(server.url, 'cli-sfu', 'bob', TALKERS.bob);
    peers.push(alice, bob);
    for (const p of [alice, bob]) await p.peer.start();
    const cli = await startCli(['join', 'cli-sfu', '--server', server.url, '--name', 'cli', '--input', `tone:${TALKERS.carol}`, '--output', `file:${mixPath}`, '--record-dir', recordDir, '--json'], /"event":"joined"/);
    const events = (): Record<string, unknown>[] => cli.output().stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const ofType = (type: string): Record<string, unknown>[] => events().filter((e) => e.event === type);
    try {
      await waitUntil(() => ofType('connection-state').some((e) => e.state === 'connected'), 'the CLI peer connected to Janus', 20_000, () => cli.output());
      await waitUntil(() => hearsAll(alice, ['bob', 'cli']), 'alice hears bob and the CLI peer', 20_000, () => alice.peer.peers());
      cli.child.stdin.write('volume bob 0\n');
      await waitUntil(() => ofType('volume').length === 1, 'the volume event', 5000, () => cli.output());
      await sleep(1500);
      cli.child.stdin.write('peers\nstatus\n');
      await waitUntil(() => ofType('status').length === 1, 'the status event', 5000, () => cli.output());
      expectHears(lastSeconds(alice.sink, 1), TALKERS.carol);
      cli.child.stdin.write('quit\n');
      expect(await exitOf(cli.child)).toEqual({ code: 0, signal: null });
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGTERM');
    }
    // The room was an SFU room from the start: a publisher and a subscriber connection, no mesh.
    expect(ofType('status')[0]).toMatchObject({ room: 'cli-sfu', media: 'sfu', links: 2 });
    expect(ofType('joined')[0]).toMatchObject({ self: { name: 'cli' } });
    const listed = ofType('peers')[0]?.peers as { name: string; connection: string; audio: { volumePercent: number } }[];
    expect(listed.map((p) => [p.name, p.connection, p.audio.volumePercent]).sort()).toEqual([['alice', 'connected', 100], ['bob', 'connected', 0]]);
    // Speaking comes from Janus's talking events into the member state: alice and bob were
    // talking when the CLI peer joined (the list it got says so) and still are.
    const speaking = (state: unknown): boolean => (state as { speaking?: boolean }).speaking === true;
    const joinedPeers = ofType('joined')[0]?.peers as { name: string; state: unknown }[];
    const lastState = (name: string): unknown => ofType('peer-updated').filter((e) => e.name === name).at(-1)?.state ?? joinedPeers.find((p) => p.name === name)?.state;
    expect(['alice', 'bob'].map((name) => speaking(lastState(name)))).toEqual([true, true]);
    expect(ofType('ended')[0]).toMatchObject({ reason: 'quit' });
    // The mix: alice at full volume, bob at 0, never its own tone; one recording per speaker.
    expectCompleteWav(mixPath);
    const mixed = wavTail(mixPath, 1);
    expectHears(mixed, TALKERS.alice);
    expectAbsent(mixed, TALKERS.bob, -50);
    expectAbsent(mixed, TALKERS.carol);
    for (const [name, tone] of [['alice', TALKERS.alice], ['bob', TALKERS.bob]] as const) {
      const recording = join(recordDir, `${name}.wav`);
      expectCompleteWav(recording);
      expectHears(wavTail(recording, 1), tone);
    }
  }, 60_000);
});

describe('protocol v1 clients and SFU rooms', () => {
  it('a v1 client is let go when its room moves to Janus, and refused by a room that is or would become an SFU room', async () => {
    const auto = await startTestServer({ media: 'auto', janus: driver, autoMedia: { meshMax: 2, meshReturnAt: 1, meshReturnAfterMs: 60_000 } });
    const sockets: TestClient[] = [];
    const v1 = async (room: string, name: string): Promise<{ socket: TestClient; ack: JoinAck }> => {
      const socket = await connectClient(auto.url);
      sockets.push(socket);
      return { socket, ack: await joinRoom(socket, room, name, { v: 1 }) };
    };
    const ann = makePeer(auto.url, 'mixed', 'ann', null, { listenOnly: true });
    const bob = makePeer(auto.url, 'mixed', 'bob', TALKERS.bob);
    peers.push(ann, bob);
    try {
      const old = await v1('mixed', 'old');
      expect(old.ack.ok).toBe(true);
      await ann.peer.start();
      await waitUntil(() => ann.peer.peers().some((p) => p.name === 'old'), 'ann sees the v1 member');
      expect(ann.peer.status().media).toBe('mesh');
      // bob makes three, past --mesh-max 2: the room moves to Janus, and the v1 member is let go.
      const dismissed = nextError(old.socket, 10_000);
      await bob.peer.start();
      expect(await dismissed).toEqual({ code: 'version-mismatch', message: 'room "mixed" now carries audio through the SFU, which protocol v1 clients cannot use; update voxroom' });
      await waitUntil(() => !ann.peer.peers().some((p) => p.name === 'old'), 'the v1 member gone from ann\'s list', 5000, () => ann.peer.peers());
      await waitUntil(() => ann.peer.status().media === 'sfu' && hearsAll(ann, ['bob']), 'ann hears bob through Janus', 20_000, () => ann.peer.status());
      // Now an SFU room: a v1 client is refused, with the reason.
      const late = await v1('mixed', 'late');
      expect(late.ack).toEqual({ ok: false, error: { code: 'version-mismatch', message: 'room "mixed" carries audio through the SFU, which protocol v1 clients cannot use; update voxroom' } });
      // A two-member mesh room that a v1 client's join would move to Janus: refused as well, and the room stays a mesh.
      const pair = ['c', 'd'].map((name) => makePeer(auto.url, 'pair', name, null, { listenOnly: true }));
      peers.push(...pair);
      for (const p of pair) await p.peer.start();
      const third = await v1('pair', 'third');
      expect(third.ack).toMatchObject({ ok: false, error: { code: 'version-mismatch' } });
      // (A move to Janus would reach the members a moment later.)
      await sleep(1000);
      expect(pair.map((p) => p.peer.status().media)).toEqual(['mesh', 'mesh']);
      expect(pair[0]!.peer.peers().map((p) => p.name)).toEqual(['d']);
    } finally {
      for (const socket of sockets) socket.disconnect();
      await Promise.all(peers.map((p) => p.peer.stop()));
      await auto.close();
    }
  }, 60_000);
});

describe('voxroom serve --janus', () => {
  it('says what to install when janus is missing, uses the mesh while a Janus does not answer, and refuses --media sfu without a Janus', async () => {
    const missing = await runCli(['serve', '--port', '0', '--janus', 'auto'], { env: { PATH: '/nonexistent' } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/"janus" was not found; install Janus \(Debian\/Ubuntu: sudo apt-get install janus\)/);
    // A Janus that does not answer yet: the server starts, says so, and uses the mesh meanwhile.
    const unreachable = await startCli(['serve', '--port', '0', '--janus', 'ws://127.0.0.1:1'], /listening on (http:\/\/\S+)/);
    try {
      await waitUntil(() => /cannot reach Janus at ws:\/\/127\.0\.0\.1:1 .*its rooms use the mesh until it answers/.test(unreachable.output().stderr), 'the warning', 5000, () => unreachable.output());
      const alone = makePeer(unreachable.match[1]!, 'fallback', 'alone', 440);
      peers.push(alone);
      await alone.peer.start();
      expect(alone.peer.status().media).toBe('mesh');
    } finally {
      unreachable.child.kill('SIGTERM');
      await exitOf(unreachable.child);
    }
    const noJanus = await runCli(['serve', '--port', '0', '--media', 'sfu']);
    expect(noJanus.code).toBe(2);
    expect(noJanus.stderr).toMatch(/--media sfu needs a Janus/);
  });
});

describe('a Janus that does not answer when the server starts', () => {
  it('its rooms use the mesh meanwhile, and move to it, make-before-break, once it answers', async () => {
    const port = await freePort();
    const serve = await startCli(['serve', '--port', '0', '--janus', `ws://127.0.0.1:${port}`, '--media', 'sfu'], /listening on (http:\/\/\S+)/);
    let late: JanusProcess | null = null;
    try {
      const alice = makePeer(serve.match[1]!, 'waiting', 'alice', TALKERS.alice);
      const bob = makePeer(serve.match[1]!, 'waiting', 'bob', TALKERS.bob);
      peers.push(alice, bob);
      for (const p of [alice, bob]) await p.peer.start();
      await waitUntil(() => hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'alice and bob hear each other on the mesh', 20_000);
      expect(alice.peer.status()).toMatchObject({ media: 'mesh', links: 1 });
      // Janus comes up on the address the server was given: it connects, and the room moves there.
      const beforeMove = alice.sink.frames.length;
      late = await startJanusProcess({ logger: silentLogger, wsPort: port });
      await waitUntil(() => [alice, bob].every((p) => p.peer.status().media === 'sfu' && p.peer.status().links === 2) && hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'both through Janus, mesh links closed', 30_000, () => [alice.peer.status(), bob.peer.status(), serve.output().stderr]);
      await sleep(1000);
      // The bound for a switch: no silence over 100 ms in a mix.
      expect(longestSilenceMs(alice.sink.frames.slice(beforeMove))).toBeLessThanOrEqual(100);
      expectHears(lastSeconds(alice.sink, 0.8), TALKERS.bob);
      expectHears(lastSeconds(bob.sink, 0.8), TALKERS.alice);
      expect(serve.output().stderr).toMatch(/cannot reach Janus at ws:\/\/127\.0\.0\.1:\d+/);
    } finally {
      serve.child.kill('SIGTERM');
      await exitOf(serve.child);
      await late?.stop();
    }
  }, 90_000);
});

/** A Janus of the test's own, to kill mid-call: it comes back (a new process) only once allowed. */
async function killableJanus(): Promise<{ pid: () => number; firstDriver: JanusDriver; reconnectJanus: () => Promise<JanusDriver>; allowReturn: () => void; stop: () => Promise<void> }> {
  let current = await startJanusProcess({ logger: silentLogger });
  let returnAllowed = false;
  return {
    pid: () => current.pid,
    firstDriver: await JanusDriver.connect(current.url, silentLogger),
    reconnectJanus: async () => {
      if (!returnAllowed) throw new Error('not yet');
      current = await startJanusProcess({ logger: silentLogger });
      return JanusDriver.connect(current.url, silentLogger);
    },
    allowReturn: () => {
      returnAllowed = true;
    },
    stop: () => current.stop(),
  };
}

describe('Janus lost and back', () => {
  it('SFU rooms fall back to the mesh when Janus is killed mid-call, and return to Janus when it is back', async () => {
    const own = await killableJanus();
    const flaky = await startTestServer({ media: 'sfu', janus: own.firstDriver, reconnectJanus: own.reconnectJanus });
    const alice = makePeer(flaky.url, 'flaky', 'alice', TALKERS.alice);
    const bob = makePeer(flaky.url, 'flaky', 'bob', TALKERS.bob);
    peers.push(alice, bob);
    const changes: string[] = [];
    alice.peer.on('media-changed', ({ media, reason }) => changes.push(`${media}: ${reason}`));
    try {
      await alice.peer.start();
      await bob.peer.start();
      await waitUntil(() => hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'both hear each other through Janus', 20_000);
      expect(alice.peer.status().media).toBe('sfu');

      const framesBeforeKill = alice.sink.frames.length;
      process.kill(own.pid(), 'SIGKILL');
      await waitUntil(() => alice.peer.status().media === 'mesh' && bob.peer.status().media === 'mesh', 'both fall back to the mesh', 10_000);
      await waitUntil(() => alice.peer.status().links === 1 && alice.peer.peers()[0]?.connection === 'connected', 'a mesh link', 15_000, () => [alice.peer.peers(), bob.peer.peers()]);
      await sleep(1500);
      // The longest stretch alice's mix was silent around the loss: the audio interruption.
      const gapMs = longestSilenceMs(alice.sink.frames.slice(Math.max(0, framesBeforeKill - 10)));
      console.log(`Janus killed: the longest silence in alice's mix around the fallback was ${gapMs} ms`);
      expect(gapMs).toBeLessThan(3000);
      expectHears(lastSeconds(alice.sink, 0.8), TALKERS.bob);
      expectHears(lastSeconds(bob.sink, 0.8), TALKERS.alice);
      expect(changes[0]).toMatch(/^mesh: the media server is unavailable/);

      const framesBeforeReturn = alice.sink.frames.length;
      own.allowReturn();
      const returnedAt = Date.now();
      await waitUntil(() => alice.peer.status().media === 'sfu' && bob.peer.status().media === 'sfu', 'both back on Janus', 20_000);
      await waitUntil(() => hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'both hear each other through Janus again', 20_000, () => [alice.peer.peers(), bob.peer.peers()]);
      await sleep(1500);
      const returnGapMs = longestSilenceMs(alice.sink.frames.slice(framesBeforeReturn));
      console.log(`Janus back: both on it again ${Date.now() - returnedAt - 1500} ms after it was allowed to return; the longest silence in alice's mix around the switch was ${returnGapMs} ms`);
      // Make-before-break: the mesh plays until Janus carries everyone.
      expect(returnGapMs).toBeLessThan(100);
      expectHears(lastSeconds(alice.sink, 0.8), TALKERS.bob);
      expect(changes[1]).toBe('sfu: the media server is back');
      expect(alice.peer.status().links).toBe(2);
    } finally {
      await alice.peer.stop();
      await bob.peer.stop();
      await flaky.close();
      await own.stop();
    }
  }, 90_000);
});

describe('a room too large for the mesh when Janus is lost', () => {
  it('is told media-unavailable and goes silent (no mesh links), then comes back through Janus when it returns', async () => {
    const own = await killableJanus();
    // A mesh holds at most 12 (the default --max-peers): one talker and 12 listeners are 13.
    const big = await startTestServer({ media: 'sfu', janus: own.firstDriver, reconnectJanus: own.reconnectJanus });
    const alice = makePeer(big.url, 'big', 'alice', TALKERS.alice);
    const listeners = Array.from({ length: 12 }, (_, i) => makePeer(big.url, 'big', `l${i + 1}`, null, { listenOnly: true }));
    const everyone = [alice, ...listeners];
    peers.push(...everyone);
    const problems: string[] = [];
    const changes: string[] = [];
    listeners[0]!.peer.on('problem', ({ message }) => problems.push(message));
    listeners[0]!.peer.on('media-changed', ({ media, reason }) => changes.push(`${media}: ${reason}`));
    try {
      for (const p of everyone) await p.peer.start();
      for (const l of listeners) await waitUntil(() => hearsAll(l, ['alice']), `${l.name} hears alice through Janus`, 20_000);

      process.kill(own.pid(), 'SIGKILL');
      await waitUntil(() => problems.some((m) => m.includes('media-unavailable')), 'media-unavailable', 10_000, () => problems);
      expect(problems.find((m) => m.includes('media-unavailable'))).toMatch(/13 members are too many for a direct mesh \(at most 12\); waiting for it to come back/);
      // No fallback: the room stays an SFU room, nobody opens mesh links (a listener holds at
      // most its dead subscriber connection), and the audio stops.
      await sleep(1500);
      for (const l of listeners) {
        expect(l.peer.status().media).toBe('sfu');
        expect(l.peer.status().links).toBeLessThanOrEqual(1);
        expectAbsent(lastSeconds(l.sink, 0.8), TALKERS.alice);
      }
      expect(changes).toEqual([]);

      own.allowReturn();
      // (The mix, not the connection state: the dead subscriber connection may still read connected.)
      const hearsAliceNow = (l: TestPeer): boolean => toneLevelDb(lastSeconds(l.sink, 0.3), TALKERS.alice) > -6;
      for (const l of listeners) await waitUntil(() => hearsAliceNow(l), `${l.name} hears alice through Janus again`, 30_000, () => l.peer.peers());
      await sleep(1000);
      for (const l of listeners) {
        expectHears(lastSeconds(l.sink, 0.8), TALKERS.alice);
        expect(l.peer.status()).toMatchObject({ media: 'sfu', links: 1 });
      }
      expect(changes).toEqual(['sfu: the media server is back']);
    } finally {
      await Promise.all(everyone.map((p) => p.peer.stop()));
      await big.close();
      await own.stop();
    }
  }, 120_000);
});

describe('a room map\'s media setting', () => {
  it('puts its room through Janus on a mesh server, and leaves the other rooms on the mesh', async () => {
    const mapDriver = await JanusDriver.connect(janus.url, silentLogger);
    const map = RoomMap.parse(JSON.stringify({ rooms: { hall: { width: 10, height: 10, media: 'sfu' } } }), 'test map');
    const mapped = await startTestServer({ media: 'mesh', janus: mapDriver, map });
    const inHall = [makePeer(mapped.url, 'hall', 'alice', TALKERS.alice, { spatial: false }), makePeer(mapped.url, 'hall', 'bob', TALKERS.bob, { spatial: false })];
    const inLobby = [makePeer(mapped.url, 'lobby', 'carol', TALKERS.carol), makePeer(mapped.url, 'lobby', 'dave', null)];
    const everyone = [...inHall, ...inLobby];
    peers.push(...everyone);
    try {
      for (const p of everyone) await p.peer.start();
      await waitUntil(() => hearsAll(inHall[0]!, ['bob']) && hearsAll(inHall[1]!, ['alice']) && hearsAll(inLobby[1]!, ['carol']), 'each room hears its talkers', 20_000);
      await sleep(1000);
      for (const p of inHall) expect(p.peer.status()).toMatchObject({ media: 'sfu', links: 2 });
      expect(mapDriver.handlesOf(inHall[0]!.peer.identity!.id)?.publisher).not.toBeNull();
      for (const p of inLobby) expect(p.peer.status()).toMatchObject({ media: 'mesh', links: 1 });
      expect(mapDriver.handlesOf(inLobby[0]!.peer.identity!.id)).toBeFalsy();
      expectHears(lastSeconds(inHall[0]!.sink, 0.8), TALKERS.bob);
      expectHears(lastSeconds(inLobby[1]!.sink, 0.8), TALKERS.carol);
    } finally {
      await Promise.all(everyone.map((p) => p.peer.stop()));
      await mapped.close();
      await mapDriver.close();
    }
  }, 60_000);
});

describe('voxroom serve --janus auto', () => {
  it('starts its own Janus, starts it again when it dies, and its rooms come back to it', async () => {
    const serve = await startCli(['serve', '--port', '0', '--janus', 'auto', '--media', 'sfu', '--verbose'], /listening on (http:\/\/\S+)/);
    const url = serve.match[1]!;
    let restarted = 0;
    const alice = makePeer(url, 'own', 'alice', TALKERS.alice);
    const bob = makePeer(url, 'own', 'bob', TALKERS.bob);
    peers.push(alice, bob);
    try {
      await alice.peer.start();
      await bob.peer.start();
      await waitUntil(() => hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'both hear each other through its Janus', 20_000);
      const janusPid = Number(execFileSync('pgrep', ['-P', String(serve.child.pid), 'janus']).toString().trim().split('\n')[0]);
      expect(janusPid).toBeGreaterThan(0);
      process.kill(janusPid, 'SIGKILL');
      await waitUntil(() => alice.peer.status().media === 'mesh', 'the fallback to the mesh', 10_000);
      await waitUntil(() => alice.peer.status().media === 'sfu' && bob.peer.status().media === 'sfu', 'back on a restarted Janus', 30_000, () => serve.output().stderr.slice(-2000));
      await waitUntil(() => hearsAll(alice, ['bob']) && hearsAll(bob, ['alice']), 'both hear each other through it again', 20_000);
      expect(serve.output().stderr).toMatch(/Janus exited; starting it again/);
      restarted = Number(execFileSync('pgrep', ['-P', String(serve.child.pid), 'janus']).toString().trim().split('\n')[0]);
      expect(restarted).not.toBe(janusPid);
    } finally {
      await Promise.all([alice.peer.stop(), bob.peer.stop()]);
      serve.child.kill('SIGTERM');
      expect((await exitOf(serve.child)).code).toBe(0);
    }
    // Its Janus went with it.
    expect(() => process.kill(restarted, 0)).toThrow(/ESRCH/);
  }, 90_000);
});

describe('--media auto', () => {
  it('a room moves to Janus when it grows past --mesh-max and back when it has stayed small, with no gap over 100 ms in a mix', async () => {
    const auto = await startTestServer({ media: 'auto', janus: driver, autoMedia: { meshMax: 3, meshReturnAt: 2, meshReturnAfterMs: 2000 } });
    const tones = [440, 620, 970, 1210];
    const four = tones.map((tone, i) => makePeer(auto.url, 'growing', `p${i + 1}`, tone));
    peers.push(...four);
    try {
      const [listener] = four;
      for (const p of four.slice(0, 3)) await p.peer.start();
      await waitUntil(() => four.slice(0, 3).every((p) => hearsAll(p, four.slice(0, 3).map((q) => q.name).filter((n) => n !== p.name))), 'three in a mesh', 20_000);
      expect(listener!.peer.status()).toMatchObject({ media: 'mesh', links: 2 });
      await sleep(500);

      // The fourth arrives: the room moves to Janus; the newcomer starts there.
      const beforeGrow = listener!.sink.frames.length;
      await four[3]!.peer.start();
      await waitUntil(() => four.every((p) => p.peer.status().media === 'sfu'), 'everyone on Janus', 20_000, () => four.map((p) => p.peer.status().media));
      await waitUntil(() => four.every((p) => hearsAll(p, four.map((q) => q.name).filter((n) => n !== p.name))), 'everyone hears everyone through Janus', 20_000);
      await sleep(1500);
      const growGap = longestSilenceMs(listener!.sink.frames.slice(beforeGrow));
      expect(listener!.peer.status().links).toBe(2); // publisher + subscriber; the mesh links are closed
      for (const [i, p] of four.entries()) {
        const heard = lastSeconds(p.sink, 0.8);
        for (const [j, tone] of tones.entries()) if (j !== i) expectHears(heard, tone);
      }

      // Two leave: two members for 2 s, then back to the mesh.
      await four[3]!.peer.stop();
      await four[2]!.peer.stop();
      const beforeShrink = listener!.sink.frames.length;
      await waitUntil(() => listener!.peer.status().media === 'mesh' && four[1]!.peer.status().media === 'mesh', 'back on the mesh', 15_000);
      await waitUntil(() => hearsAll(listener!, ['p2']) && hearsAll(four[1]!, ['p1']), 'the two hear each other peer to peer', 15_000);
      await sleep(1500);
      const shrinkGap = longestSilenceMs(listener!.sink.frames.slice(beforeShrink));
      console.log(`auto media: longest silence in a mix at mesh → SFU ${growGap} ms, at SFU → mesh ${shrinkGap} ms`);
      expect(listener!.peer.status().links).toBe(1);
      expectHears(lastSeconds(listener!.sink, 0.8), 620);
      // The bound: no gap longer than 100 ms (a CI run read exactly 100 ms at mesh → SFU).
      expect(growGap).toBeLessThanOrEqual(100);
      expect(shrinkGap).toBeLessThanOrEqual(100);
    } finally {
      await Promise.all(four.map((p) => p.peer.stop()));
      await auto.close();
    }
  }, 90_000);
});

describe('loudest-speaker routing', () => {
  it('six talkers take turns with --max-speakers 3: a listener gets at most 3 streams, and each turn is heard within 300 ms', async () => {
    const routed = await JanusDriver.connect(janus.url, silentLogger, { maxSpeakers: 3 });
    const routedServer = await startTestServer({ media: 'sfu', janus: routed });
    const tones = [350, 470, 590, 710, 830, 950];
    const talkers = tones.map((tone, i) => makePeer(routedServer.url, 'turns', `t${i + 1}`, tone));
    const listener = makePeer(routedServer.url, 'turns', 'ear', null, { listenOnly: true });
    const offers: SubscriberOffer[] = [];
    routed.on('offer', (offer) => offers.push(offer));
    try {
      for (const t of talkers) t.peer.muted = true;
      for (const t of [...talkers, listener]) await t.peer.start();
      await waitUntil(() => listener.peer.status().links === 1 && listener.peer.peers().filter((p) => p.connection === 'connected').length === 3, 'the listener receives three streams', 20_000, () => listener.peer.peers());
      // The other three are in the room, not sent to this listener: peers says so.
      expect(listener.peer.peers().filter((p) => p.connection === 'not-forwarded')).toHaveLength(3);
      await sleep(1000);
      const delays: number[] = [];
      for (const [i, talker] of talkers.entries()) {
        for (const other of talkers) other.peer.muted = other !== talker;
        const startFrame = framesWritten(listener);
        await waitUntil(() => toneNowDb(listener, tones[i]!) > -10, `t${i + 1}'s turn heard`, 5000, () => listener.peer.peers().map((p) => [p.name, p.connection]));
        // When it was heard, to the 10 ms frame of the listener's mix: the first frame carrying the tone.
        delays.push(firstFrameWithTone(listener, tones[i]!, startFrame) * 10);
        // Never more than three at once, as the listener's connection, the driver and Janus's
        // Admin API all say.
        expect(listener.peer.peers().filter((p) => p.connection === 'connected').length).toBeLessThanOrEqual(3);
        expect(routed.handlesOf(listener.peer.identity!.id)?.subscribedFeeds).toBeLessThanOrEqual(3);
        const subscribers = (await videoRoomHandles(janus)).filter((h) => h.type === 'subscriber');
        expect(Math.max(...subscribers.map((h) => h.activeStreams))).toBeLessThanOrEqual(3);
        await sleep(700);
      }
      console.log(`loudest-speaker routing: each turn heard after ${delays.join(', ')} ms`);
      for (const delay of delays) expect(delay).toBeLessThan(300);
      // Each subscriber offer's maxStreams (by which peers bound the SDP they accept) is what its
      // SDP sends on, and never over 3.
      expect(offers.length).toBeGreaterThan(0);
      for (const offer of offers) {
        const sending = parseSdp(offer.sdp).media.filter((section) => (section.direction ?? 'sendrecv') !== 'inactive').length;
        expect(offer.maxStreams).toBe(sending);
        expect(offer.maxStreams).toBeLessThanOrEqual(3);
      }
    } finally {
      await Promise.all([...talkers, listener].map((p) => p.peer.stop()));
      await routedServer.close();
      await routed.close();
    }
  }, 90_000);

  it('a listener\'s CPU with 24 silent members is within 10 % of its CPU with 4 (3 talkers, --max-speakers 3)', async () => {
    const routed = await JanusDriver.connect(janus.url, silentLogger, { maxSpeakers: 3 });
    const routedServer = await startTestServer({ media: 'sfu', janus: routed, connectionLimits: LOAD_TEST_CONNECTION_LIMITS });
    try {
      // The talkers and 4 silent members in one load process, 8 listeners in another; then 20
      // more silent members from a third, who leave again. The listeners' process CPU over 6 s
      // with 4, with 24, and with 4 again.
      const figures = await measureSilentGrowth(VOXROOM_BIN, routedServer.url, 'silent-crowd', { talkers: 3, silentBefore: 4, silentAfter: 24, listeners: 8, windowSeconds: 6, publishers: () => routed.publishersIn('silent-crowd') });
      console.log(`a listener's CPU: ${figures.cpuPercentPerListenerBefore} % of a core with 4 silent members, ${figures.cpuPercentPerListenerAfter} % with 24, ${figures.cpuPercentPerListenerBeforeAgain} % with 4 again (ratio ${figures.ratio}); gaps ${figures.gapPercent} %`);
      expect(figures.speakersHeardAtEnds).toEqual([3, 3, 3]);
      expect(figures.gapPercent).toBeLessThan(0.1);
      // Measured here, the ratio sits below 1 (0.76-0.85 in three runs): a busier machine does not
      // make a listener cost more. Without routing (every feed forwarded) the ratio read 0.75-1.04
      // in three hand runs, but gaps read 0.11-0.81 % and in two runs a listener heard only 1 or
      // 0 of the 3 talkers: that is what the two checks above catch.
      expect(figures.ratio).toBeLessThanOrEqual(1.1);
    } finally {
      await routedServer.close();
      await routed.close();
    }
  }, 150_000);
});

/** A mix as 10 ms frames. */
function framesOf(samples: Int16Array): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let at = 0; at + FRAME_SAMPLES <= samples.length; at += FRAME_SAMPLES) frames.push(samples.subarray(at, at + FRAME_SAMPLES));
  return frames;
}

function framesWritten(peer: TestPeer): number {
  return peer.sink.droppedFrames + peer.sink.frames.length;
}

/**
 * Frames after `startFrame` (a count of frames written) until the tone is heard: the end of the
 * first 30 ms window of the mix that carries it within 10 dB of its level (30 ms resolves tones
 * 120 Hz apart; a single 10 ms frame cannot).
 */
function firstFrameWithTone(peer: TestPeer, tone: number, startFrame: number): number {
  const frames = peer.sink.frames;
  const first = Math.max(0, startFrame - peer.sink.droppedFrames);
  for (let i = first; i + 3 <= frames.length; i++) {
    const window = new Int16Array(3 * frames[i]!.length);
    for (let k = 0; k < 3; k++) window.set(frames[i + k]!, k * frames[i]!.length);
    if (toneLevelDb(window, tone) > -10) return i + 3 - first;
  }
  return Infinity;
}

/** Level of a tone in the listener's last 60 ms, relative to the −20 dBFS sent. */
function toneNowDb(listener: TestPeer, tone: number): number {
  return toneLevelDb(lastSeconds(listener.sink, 0.06), tone);
}

describe('several Janus instances', () => {
  it('each room goes to the least loaded Janus, and its members hear each other there', async () => {
    const second = await startJanusProcess({ logger: silentLogger });
    const secondDriver = await JanusDriver.connect(second.url, silentLogger);
    const firstDriver = await JanusDriver.connect(janus.url, silentLogger);
    const spread = await startTestServer({ media: 'sfu', januses: [{ driver: firstDriver }, { driver: secondDriver }] });
    const rooms = ['red', 'blue'].map((room) => [makePeer(spread.url, room, `${room}-a`, 440), makePeer(spread.url, room, `${room}-b`, 620)] as const);
    try {
      for (const [a, b] of rooms) {
        peers.push(a, b);
        await a.peer.start();
        await b.peer.start();
      }
      for (const [a, b] of rooms) await waitUntil(() => hearsAll(a, [b.name]) && hearsAll(b, [a.name]), `${a.name} and ${b.name} hear each other`, 20_000);
      // One room on each Janus: two members each.
      expect([firstDriver.memberCount, secondDriver.memberCount]).toEqual([2, 2]);
      const redOnFirst = firstDriver.handlesOf(rooms[0]![0].peer.identity!.id) !== null;
      expect(secondDriver.handlesOf(rooms[0]![0].peer.identity!.id) !== null).toBe(!redOnFirst);
      await sleep(1000);
      for (const [a, b] of rooms) {
        expectHears(lastSeconds(a.sink, 0.8), 620);
        expectHears(lastSeconds(b.sink, 0.8), 440);
      }
    } finally {
      for (const [a, b] of rooms) await Promise.all([a.peer.stop(), b.peer.stop()]);
      await spread.close();
      await firstDriver.close();
      await secondDriver.close();
      await second.stop();
    }
  }, 60_000);
});
