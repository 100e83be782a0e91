// The audio engine's parts, each on its own: remote-peer registry, recorder, pacer, speaking
// detection; and the mesh safety net's pinned rules.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AudioSink } from '../../src/audio/backend.js';
import { FRAME_SAMPLES, SAMPLE_RATE } from '../../src/audio/format.js';
import { TickPacer } from '../../src/audio/pacer.js';
import { TimelineRecorder } from '../../src/audio/recorder.js';
import { RemoteAudioRegistry } from '../../src/audio/remote-audio.js';
import { SpeakingDetector } from '../../src/audio/speaking-detector.js';
import { decideRetry, retryDelayMs } from '../../src/peer/retry-policy.js';
import { SwitchReadiness, isAudible } from '../../src/peer/switch-readiness.js';
import { readWav16 } from '../helpers/wav.js';

const constant = (value: number): Int16Array => new Int16Array(FRAME_SAMPLES).fill(value);
const chunk = (value: number) => ({ samples: constant(value), sampleRate: SAMPLE_RATE, channelCount: 1 });

describe('RemoteAudioRegistry', () => {
  it('buffers each peer apart and hands the mix its frames with the peer\'s gain', () => {
    const remotes = new RemoteAudioRegistry({ bob: 50 });
    expect(remotes.attach('alice')).toBe(true);
    expect(remotes.attach('bob')).toBe(true);
    expect(remotes.attach('alice')).toBe(false);
    for (let i = 0; i < 3; i++) {
      remotes.push('alice', chunk(1000));
      remotes.push('bob', chunk(2000));
    }
    // The buffer starts two frames deep: nothing plays until it holds them.
    const { frames, inputs } = remotes.pull();
    expect(frames.map((f) => f.name)).toEqual(['alice', 'bob']);
    expect(inputs).toHaveLength(2);
    expect(inputs[0]!.frame[0]).toBe(1000);
    expect(inputs[1]!.gain.value).toBe(0.5);
    expect(remotes.status('alice')).toMatchObject({ name: 'alice', volumePercent: 100, receivedFrames: 3 });
  });

  it('keeps a volume set before the peer comes, and forgets a departed peer unless kept', () => {
    const remotes = new RemoteAudioRegistry();
    remotes.setVolume('carol', 20);
    remotes.attach('carol');
    expect(remotes.status('carol')?.volumePercent).toBe(20);
    remotes.detach('carol', false);
    expect(remotes.status('carol')).toBeNull();
    expect(remotes.volumeOf('carol')).toBe(20);
    remotes.attach('dave');
    remotes.detach('dave', true);
    expect(remotes.pull().frames.map((f) => f.name)).toEqual(['dave']);
    // A detached peer's late audio is not taken.
    remotes.push('dave', chunk(5));
    expect(remotes.status('dave')?.receivedFrames).toBe(0);
  });
});

describe('RemoteAudioRegistry: a room of many, few of whom speak', () => {
  it('pulls only the peers that have sent audio when nobody needs an entry per member, with volumes set while they were quiet', () => {
    const remotes = new RemoteAudioRegistry();
    for (let i = 0; i < 100; i++) remotes.attach(`listener${i}`);
    remotes.attach('speaker');
    remotes.setVolume('speaker', 50);
    expect(remotes.pull(false).frames).toEqual([]);
    for (let i = 0; i < 3; i++) remotes.push('speaker', chunk(1000));
    const { frames, inputs } = remotes.pull(false);
    expect(frames.map((f) => f.name)).toEqual(['speaker']);
    // The first frame plays at the volume set while the speaker was quiet, not ramping from 100 %.
    const gain = inputs[0]!.gain;
    gain.advance(); // as the mixer does
    expect([gain.from, gain.to]).toEqual([0.5, 0.5]);
    // A recorder or an observer gets an entry for every member.
    expect(remotes.pull(true).frames).toHaveLength(101);
    // An underrun of a peer that has spoken still counts: it stays in the tick.
    for (let i = 0; i < 4; i++) remotes.pull(false);
    expect(remotes.status('speaker')!.missedFrames).toBeGreaterThan(0);
    remotes.detach('speaker', false);
    expect(remotes.pull(false).frames).toEqual([]);
  });
});

describe('RemoteAudioRegistry: who may be heard', () => {
  it('mixes an inaudible peer at gain 0 whatever its volume, set before or after it comes, and restores its volume', () => {
    const remotes = new RemoteAudioRegistry({ rogue: 150 });
    remotes.setAudible('rogue', false);
    remotes.attach('rogue');
    const gainAfterTicks = (ticks: number): number => {
      let gain = NaN;
      for (let i = 0; i < ticks; i++) gain = remotes.pull().frames.find((f) => f.name === 'rogue')!.gain;
      return gain;
    };
    expect(gainAfterTicks(2)).toBe(0);
    remotes.setVolume('rogue', 200);
    expect(gainAfterTicks(2)).toBe(0);
    remotes.setAudible('rogue', true);
    expect(gainAfterTicks(2)).toBe(2);
    remotes.setAudible('rogue', false);
    expect(gainAfterTicks(2)).toBe(0);
  });
});

describe('TimelineRecorder', () => {
  it('pads a late peer with the silence before it came, and writes silence for missing frames', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-recorder-'));
    const recorder = new TimelineRecorder(dir);
    recorder.track('alice', 0);
    recorder.write([{ name: 'alice', frame: constant(100) }], 1);
    recorder.track('bob', 1);
    recorder.track('bob', 5); // once only
    recorder.write([
      { name: 'alice', frame: null },
      { name: 'bob', frame: constant(300) },
      { name: 'nobody', frame: constant(1) },
    ], 2);
    await recorder.close();
    const alice = readWav16(join(dir, 'alice.wav')).samples;
    const bob = readWav16(join(dir, 'bob.wav')).samples;
    expect(alice.length).toBe(2 * FRAME_SAMPLES);
    expect(bob.length).toBe(2 * FRAME_SAMPLES);
    expect([alice[0], alice[FRAME_SAMPLES]]).toEqual([100, 0]);
    expect([bob[0], bob[FRAME_SAMPLES]]).toEqual([0, 300]);
  });

  it('gives names that clash once made safe files of their own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-recorder-'));
    const recorder = new TimelineRecorder(dir);
    recorder.track('a/b', 0);
    recorder.track('a:b', 0);
    recorder.write([
      { name: 'a/b', frame: constant(1) },
      { name: 'a:b', frame: constant(2) },
    ], 1);
    await recorder.close();
    expect(readWav16(join(dir, 'a_b.wav')).samples[0]).toBe(1);
    expect(readWav16(join(dir, 'a_b-2.wav')).samples[0]).toBe(2);
  });

  it('says clearly when it cannot make its folder', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'voxroom-recorder-')), 'a-file');
    writeFileSync(file, '');
    expect(() => new TimelineRecorder(join(file, 'sub'))).toThrow(/cannot create the recording folder .*ENOTDIR/);
  });
});

describe('TickPacer', () => {
  it('lets a device pace the ticks, and stands in with the timer only while the device is quiet', async () => {
    let deviceTick: (() => void) | null = null;
    const sink: AudioSink = { label: 'device', write: () => undefined, close: async () => undefined, setPacer: (tick) => (deviceTick = tick) };
    let ticks = 0;
    const pacer = new TickPacer(() => ticks++);
    pacer.start(sink);
    for (let i = 0; i < 5; i++) deviceTick!();
    expect(ticks).toBe(5);
    expect(pacer.stats).toEqual({ pacedBy: 'output device', standInTicks: 0 });
    // The device stops asking: after 30 ms the timer stands in.
    await new Promise((resolve) => setTimeout(resolve, 120));
    pacer.stop();
    const stats = pacer.stats;
    expect(stats.pacedBy === 'timer' || stats.standInTicks > 0).toBe(true);
    expect(ticks).toBeGreaterThan(5);
  });

  it('ticks every 10 ms on its own timer without a paced sink', async () => {
    let ticks = 0;
    const pacer = new TickPacer(() => ticks++);
    pacer.start({ label: 'null', write: () => undefined, close: async () => undefined });
    await new Promise((resolve) => setTimeout(resolve, 205));
    pacer.stop();
    expect(ticks).toBeGreaterThanOrEqual(18);
    expect(ticks).toBeLessThanOrEqual(23);
    expect(pacer.stats.pacedBy).toBe('timer');
  });
});

describe('SpeakingDetector', () => {
  // A 1 kHz tone at −20 dBFS RMS, and a quiet one at about −61 dBFS.
  const sine = (rmsDbfs: number): Int16Array => Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => Math.round(32768 * Math.SQRT2 * 10 ** (rmsDbfs / 20) * Math.sin((2 * Math.PI * 1000 * i) / SAMPLE_RATE)));
  const minus20 = sine(-20);
  const quiet = sine(-61);

  it('starts after two loud frames, ignores a single click, and ends after 400 ms of quiet', () => {
    const changes: boolean[] = [];
    const detector = new SpeakingDetector((speaking) => changes.push(speaking));
    detector.update(minus20);
    detector.update(quiet);
    expect(changes).toEqual([]);
    detector.update(minus20);
    detector.update(minus20);
    expect(changes).toEqual([true]);
    // A pause between words (200 ms) does not end it.
    for (let i = 0; i < 20; i++) detector.update(quiet);
    detector.update(minus20);
    expect(changes).toEqual([true]);
    for (let i = 0; i < 39; i++) detector.update(quiet);
    expect(changes).toEqual([true]);
    detector.update(quiet);
    expect(changes).toEqual([true, false]);
    expect(detector.speaking).toBe(false);
  });
});

describe('mesh safety net rules', () => {
  it('lets only the newcomer act first, and only the impolite peer after', () => {
    expect(decideRetry(1, true, true)).toEqual({ act: true, by: 'newcomer' });
    expect(decideRetry(1, false, false)).toEqual({ act: false });
    expect(decideRetry(2, true, true)).toEqual({ act: false });
    expect(decideRetry(2, false, false)).toEqual({ act: true, by: 'impolite' });
    expect(decideRetry(5, true, false)).toEqual({ act: true, by: 'impolite' });
    // Exactly one side of any pair acts at each check.
    for (const attempt of [1, 2, 3]) {
      for (const newcomerIsPolite of [true, false]) {
        const newcomer = decideRetry(attempt, true, newcomerIsPolite).act;
        const other = decideRetry(attempt, false, !newcomerIsPolite).act;
        expect(Number(newcomer) + Number(other)).toBe(1);
      }
    }
  });

  it('checks after 5 s, then backs off to 20 s', () => {
    expect([1, 2, 3, 4, 5, 9].map(retryDelayMs)).toEqual([5000, 5000, 10_000, 20_000, 20_000, 20_000]);
  });
});

describe('SwitchReadiness (make-before-break)', () => {
  it('waits until the new path carries everyone the old one carried lately', () => {
    let now = 0;
    const readiness = new SwitchReadiness(() => now);
    readiness.heardOnOld('alice', true);
    readiness.heardOnOld('bob', true);
    for (let i = 0; i < 5; i++) readiness.heardOnNew('alice', true);
    expect(readiness.ready).toBe(false); // bob not yet on the new path
    for (let i = 0; i < 4; i++) readiness.heardOnNew('bob', true);
    expect(readiness.ready).toBe(false);
    readiness.heardOnNew('bob', true);
    expect(readiness.ready).toBe(true);
  });

  it('does not wait for someone the old path stopped carrying, but for at least one arrival', () => {
    let now = 0;
    const readiness = new SwitchReadiness(() => now);
    readiness.heardOnOld('gone', true);
    now = 600;
    expect(readiness.ready).toBe(false); // nothing on the new path yet
    for (let i = 0; i < 5; i++) readiness.heardOnNew('carol', false);
    expect(readiness.ready).toBe(true);
  });

  it('counts sound, not chunks: silence on the new path does not carry a talker; a silent roommate is not waited for', () => {
    const readiness = new SwitchReadiness(() => 0);
    readiness.heardOnOld('talker', true);
    readiness.heardOnOld('quiet', false);
    for (let i = 0; i < 50; i++) readiness.heardOnNew('talker', false);
    expect(readiness.ready).toBe(false); // the new receiver plays out zeros before packets flow
    for (let i = 0; i < 5; i++) readiness.heardOnNew('talker', true);
    expect(readiness.ready).toBe(true); // 'quiet' never sounded on the new path either
  });

  it('tells sound from silence at about −60 dBFS', () => {
    expect(isAudible(new Int16Array(480))).toBe(false);
    expect(isAudible(Int16Array.from({ length: 480 }, (_, i) => (i % 2 ? 20 : -20)))).toBe(false);
    const click = new Int16Array(480);
    click[300] = -40;
    expect(isAudible(click)).toBe(true);
  });
});
