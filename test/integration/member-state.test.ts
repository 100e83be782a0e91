// The member state as headless peers see it: mute and speaking travel through the server to
// every roommate, in the library API and in the CLI's --json events and `peers` table.
import { afterEach, describe, expect, it } from 'vitest';
import { dbfs, rms } from '../../src/audio/analysis.js';
import { renderSpeech } from '../../src/audio/external-decoders.js';
import { SAMPLE_RATE } from '../../src/audio/format.js';
import { SampleSource } from '../../src/audio/sample-source.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { startCli, exitOf } from '../helpers/cli.js';
import { startTestServer } from '../helpers/signalling.js';
import { steadyNoise } from '../helpers/noise.js';
import { allConnected, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';

let server: RunningServer | null = null;
let peers: TestPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.map((p) => p.peer.stop()));
  peers = [];
  await server?.close();
  server = null;
});

describe('member state', () => {
  it('a talker shows as speaking, a silent peer does not, and a mute reaches the room and ends speaking', async () => {
    server = await startTestServer();
    const talker = makePeer(server.url, 'state', 'talker', 440);
    const quiet = makePeer(server.url, 'state', 'quiet', null);
    peers.push(talker, quiet);
    const updates: string[] = [];
    quiet.peer.on('peer-updated', (member) => updates.push(`${member.name} muted=${member.state.muted} speaking=${member.state.speaking}`));
    await talker.peer.start();
    await quiet.peer.start();
    await waitUntil(() => allConnected(quiet.peer, 1), 'connected');
    await waitUntil(() => quiet.peer.peers()[0]?.state.speaking === true, 'the talker speaking', 5000);
    expect(talker.peer.peers()[0]!.state).toEqual({ muted: false, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen'] });
    talker.peer.muted = true;
    await waitUntil(() => quiet.peer.peers()[0]?.state.muted === true, 'the mute', 3000);
    // Muted means silence is sent: speaking ends after its 400 ms hangover.
    await waitUntil(() => quiet.peer.peers()[0]?.state.speaking === false, 'speaking to end', 3000);
    // The talker may already be speaking when the quiet peer joins (then the join carries it, not
    // an update); after that: the mute, then the end of speaking, and nothing else.
    expect(updates.filter((u) => u !== 'talker muted=false speaking=true')).toEqual(['talker muted=true speaking=true', 'talker muted=true speaking=false']);
    expect(talker.peer.status().audio.speaking).toBe(false);
  });

  it('the CLI prints peer-updated events with --json and shows the state in its peers table', async () => {
    server = await startTestServer();
    const cli = await startCli(['join', 'cli-state', '--server', server.url, '--name', 'me', '--input', 'silence', '--output', 'null', '--json'], /"event":"joined"/);
    const bot = makePeer(server.url, 'cli-state', 'bot', 440);
    peers.push(bot);
    await bot.peer.start();
    await waitUntil(() => /"event":"peer-updated"[^\n]*"name":"bot"[^\n]*"speaking":true/.test(cli.output().stdout), 'bot speaking', 8000, () => cli.output());
    bot.peer.muted = true;
    await waitUntil(() => /"event":"peer-updated"[^\n]*"muted":true/.test(cli.output().stdout), 'the mute event', 5000);
    cli.child.stdin.write('peers\n');
    await waitUntil(() => /"event":"peers"/.test(cli.output().stdout), 'the peers answer', 5000);
    const peersLine = cli.output().stdout.split('\n').find((line) => line.includes('"event":"peers"'))!;
    const listed = JSON.parse(peersLine) as { peers: Array<{ name: string; connection: string; state: { muted: boolean } }> };
    expect(listed.peers).toEqual([expect.objectContaining({ name: 'bot', connection: 'connected', state: expect.objectContaining({ muted: true }) })]);
    cli.child.stdin.end('quit\n');
    expect((await exitOf(cli.child)).code).toBe(0);
  });
});

describe('speaking against noise, through the room', () => {
  it('steady noise alone never shows as speaking; speech 10 dB over it does, and ends with it', async () => {
    server = await startTestServer();
    // 3 s of a fan's pink noise, a sentence 10 dB over it, 3 s of the noise again.
    const speech = await renderSpeech('Steady noise never counts as speaking, but a voice over it does, for the whole sentence.');
    const speechDbfs = dbfs(rms(speech));
    const noiseS = 3;
    const samples = steadyNoise('pink', speechDbfs - 10, 2 * noiseS + speech.length / SAMPLE_RATE, 5);
    const speechFrom = noiseS * SAMPLE_RATE;
    for (let i = 0; i < speech.length; i++) samples[speechFrom + i] = Math.max(-32768, Math.min(32767, samples[speechFrom + i]! + speech[i]!));
    const speechEndS = noiseS + speech.length / SAMPLE_RATE;
    const noisy = makePeer(server.url, 'noise', 'noisy', new SampleSource('noise, speech, noise', samples, false));
    const ear = makePeer(server.url, 'noise', 'ear', null);
    peers.push(noisy, ear);
    await ear.peer.start();
    const changes: Array<{ atS: number; speaking: boolean }> = [];
    let startedAt = 0;
    ear.peer.on('peer-updated', (member) => {
      if (member.name === 'noisy' && changes.at(-1)?.speaking !== member.state.speaking) changes.push({ atS: (Date.now() - startedAt) / 1000, speaking: member.state.speaking });
    });
    startedAt = Date.now();
    await noisy.peer.start();
    await sleep((speechEndS + noiseS) * 1000);
    console.log(`speaking at the listener (speech from ${noiseS} to ${speechEndS.toFixed(2)} s): ${JSON.stringify(changes)}`);
    // The source starts playing no sooner than start(): nothing before the sentence, so the first
    // change is speaking during it, and it ends within the hangover and the trip after it.
    expect(changes.length).toBeGreaterThanOrEqual(2);
    expect(changes[0]!.speaking).toBe(true);
    expect(changes[0]!.atS).toBeGreaterThanOrEqual(noiseS);
    expect(changes[0]!.atS).toBeLessThan(noiseS + 1);
    const last = changes.at(-1)!;
    expect(last.speaking).toBe(false);
    expect(last.atS).toBeGreaterThan(speechEndS - 0.5);
    expect(last.atS).toBeLessThan(speechEndS + 1.5);
    // Within the sentence, speaking holds for most of it (short gaps between phrases may end it).
    let speakingS = 0;
    for (let i = 0; i < changes.length; i++) if (changes[i]!.speaking) speakingS += (changes[i + 1]?.atS ?? speechEndS) - changes[i]!.atS;
    expect(speakingS / (speechEndS - noiseS)).toBeGreaterThan(0.8);
  }, 30_000);
});
