// The sound server's audio processing (echo cancellation, noise suppression) measured as a
// person meets it. Echo: B is on a laptop, whose speakers play into its microphone (a
// PulseAudio loopback from B's speaker sink into B's microphone sink, 30 ms late, at full
// level: a harsh echo path). A talks (espeak-ng speech from a file) and records what comes back
// from B. Without cancellation A hears itself; with it, A should not, and B's own voice should
// still reach A when both talk at once (a canceller that mutes B during double talk fails).
// Noise: B's microphone hears speech with steady white noise 10 dB under it, and A records B
// with and without --denoise. Used by test/integration/echo.test.ts and `npm run bench`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { dbfs, hannWindow, rms, toneAmplitude } from '../audio/analysis.js';
import { renderSpeech } from '../audio/external-decoders.js';
import { SAMPLE_RATE } from '../audio/format.js';
import { wavToSamples } from '../audio/wav-file-source.js';
import { wavHeader } from '../audio/wav-writer.js';
import { startSignallingServer } from '../server/signalling-server.js';
import { sleep } from './stats.js';

export interface EchoFigures {
  echoCancel: boolean;
  /** A's own voice as it comes back from B while only A talks (after 3 s of convergence), dBFS. */
  echoDbfs: number;
  /** B's voice at A while A is silent, dBFS. */
  nearAloneDbfs: number;
  /** B's voice at A while A talks too, dBFS (the residual echo included). */
  nearDoubleTalkDbfs: number;
  /** Cancellers still loaded on B's devices once B had left (0: B unloaded its own). */
  cancellersLeft: number;
}

const A_TEXT = 'Voice rooms need echo cancellation, so that people never hear their own voice coming back. This sentence goes on for a while, to give the filter time to learn the room.';
const B_TEXT = 'This is bob, talking at the same moment.';
/** A talks 0–8 s and from 12.5 s; B's sentence starts at about 8.6 s and again 5 s later. */
const A_SILENT_FROM_S = 8;
const A_TALKS_AGAIN_S = 12.5;
const B_STARTS_S = 8.6;
const B_REPEAT_S = 5;
const RUN_S = 20;

function writeWav(path: string, samples: Int16Array): void {
  writeFileSync(path, Buffer.concat([wavHeader(samples.byteLength), Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)]));
}

/** `speech` repeated to fill [from, to) seconds of `into`. */
function fill(into: Int16Array, speech: Int16Array, fromS: number, toS: number): void {
  for (let at = Math.round(fromS * SAMPLE_RATE); at < Math.round(toS * SAMPLE_RATE); at += speech.length) into.set(speech.subarray(0, Math.min(speech.length, Math.round(toS * SAMPLE_RATE) - at)), at);
}

function pactl(...args: string[]): string {
  return execFileSync('pactl', args, { encoding: 'utf8' }).trim();
}

/**
 * Cancellers sitting on this rig's devices, counted before the devices go: the sound server
 * unloads a canceller whose devices are removed, which would hide one B left behind.
 */
function cancellersOn(tag: string): number {
  return pactl('list', 'short', 'modules')
    .split('\n')
    .filter((line) => line.includes('module-echo-cancel') && line.includes(tag)).length;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/** Resolves when a JSON line of the child's stdout has this event. */
function eventOf(child: ChildProcess, event: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" event within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes(`"event":"${event}"`)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

const levelOf = (samples: Int16Array, fromS: number, toS: number): number => dbfs(rms(samples, Math.round(fromS * SAMPLE_RATE), Math.min(samples.length, Math.round(toS * SAMPLE_RATE))));

/**
 * The rig the measurements share: a server, A (recording what it hears), B on the rig's
 * devices, and a file played into B's microphone `playAfterS` after A joined, or once B has
 * joined if that is later (a slow start must not cut into what is measured). Resolves when A
 * leaves, with B's stream as A recorded it, when the file started in it (seconds after A
 * joined, where A's recording of B starts), and the cancellers B left on the devices.
 */
async function runRig(rig: { bin: string; room: string; tag: string; devices: string[]; aArgs: string[]; bArgs: string[]; bEnv: NodeJS.ProcessEnv; play: string; playAfterS: number; dir: string }): Promise<{ heard: Int16Array; playedAtS: number; cancellersLeft: number }> {
  const children: ChildProcess[] = [];
  let cancellersLeft = 0;
  let playedAtS = rig.playAfterS;
  let server: Awaited<ReturnType<typeof startSignallingServer>> | null = null;
  try {
    server = await startSignallingServer({ port: 0 });
    const a = spawn(process.execPath, [rig.bin, 'join', rig.room, '--server', server.url, '--name', 'alice', '--record-dir', join(rig.dir, 'heard'), '--json', ...rig.aArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(a);
    await eventOf(a, 'joined');
    const joinedAt = performance.now();
    const b = spawn(process.execPath, [rig.bin, 'join', rig.room, '--server', server.url, '--name', 'bob', '--json', ...rig.bArgs], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...rig.bEnv } });
    children.push(b);
    const bJoined = eventOf(b, 'joined');
    await sleep(rig.playAfterS * 1000 - (performance.now() - joinedAt));
    await bJoined;
    playedAtS = (performance.now() - joinedAt) / 1000;
    children.push(spawn('paplay', ['--latency-msec=10', '-d', `${rig.tag}_mic`, rig.play], { stdio: 'ignore' }));
    await exited(a);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGINT');
    await Promise.all(children.map(exited));
    cancellersLeft = cancellersOn(rig.tag);
    await server?.close();
    for (const id of [...rig.devices].reverse()) pactl('unload-module', id);
  }
  return { heard: await wavToSamples(readFileSync(join(rig.dir, 'heard', 'bob.wav')), 'bob.wav'), playedAtS, cancellersLeft };
}

export async function measureEcho(bin: string, echoCancel: boolean): Promise<EchoFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-echo-'));
  const tag = `vx_echo${process.pid}`;
  const aSpeech = await renderSpeech(A_TEXT);
  const bSpeech = await renderSpeech(B_TEXT, { voice: 'en+f3' });
  const aFile = new Int16Array(RUN_S * SAMPLE_RATE);
  fill(aFile, aSpeech, 0, A_SILENT_FROM_S);
  fill(aFile, aSpeech, A_TALKS_AGAIN_S, RUN_S);
  writeWav(join(dir, 'a.wav'), aFile);
  const bFile = new Int16Array(Math.round((B_REPEAT_S + bSpeech.length / SAMPLE_RATE + 0.5) * SAMPLE_RATE));
  bFile.set(bSpeech, 0);
  bFile.set(bSpeech, B_REPEAT_S * SAMPLE_RATE);
  writeWav(join(dir, 'b.wav'), bFile);

  const modules = [
    pactl('load-module', 'module-null-sink', `sink_name=${tag}_mic`, 'rate=48000', 'channels=1'),
    pactl('load-module', 'module-null-sink', `sink_name=${tag}_spk`, 'rate=48000', 'channels=1'),
  ];
  // The laptop: what B's speakers play reaches B's microphone.
  modules.push(pactl('load-module', 'module-loopback', `source=${tag}_spk.monitor`, `sink=${tag}_mic`, 'latency_msec=30'));
  const { heard: samples, cancellersLeft } = await runRig({
    bin,
    room: 'echo',
    tag,
    devices: modules,
    dir,
    aArgs: ['--input', `file:${join(dir, 'a.wav')}`, '--output', 'null'],
    bArgs: ['--input', 'default', '--output', 'default', ...(echoCancel ? [] : ['--no-echo-cancel'])],
    bEnv: { PULSE_SOURCE: `${tag}_mic.monitor`, PULSE_SINK: `${tag}_spk` },
    play: join(dir, 'b.wav'),
    playAfterS: B_STARTS_S,
  });
  // Where B's first sentence begins: the first 10 ms after A fell silent that is clearly loud.
  const frame = SAMPLE_RATE / 100;
  let onset = Math.round((A_SILENT_FROM_S + 0.2) * SAMPLE_RATE);
  while (onset + frame < samples.length && dbfs(rms(samples, onset, onset + frame)) < -40) onset += frame;
  const onsetS = onset / SAMPLE_RATE;
  const sentenceS = bSpeech.length / SAMPLE_RATE;
  return {
    echoCancel,
    echoDbfs: round1(levelOf(samples, 5, A_SILENT_FROM_S - 0.3)),
    nearAloneDbfs: round1(levelOf(samples, onsetS, onsetS + sentenceS)),
    nearDoubleTalkDbfs: round1(levelOf(samples, onsetS + B_REPEAT_S, onsetS + B_REPEAT_S + sentenceS)),
    cancellersLeft,
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

export interface NoiseFigures {
  denoise: boolean;
  /** The noise alone, in B's pauses (after 2.5 s for the suppressor to learn it), dBFS. */
  pauseDbfs: number;
  /** The same in each pause, in order: before the first sentence, between them, after the last. */
  pausesDbfs: number[];
  /** Speech and noise together, while B talks, dBFS. */
  speechDbfs: number;
  /**
   * The noise while B talks, read above 11.5 kHz where espeak-ng's speech (22.05 kHz) has
   * nothing: a band level in dB, to compare with and without --denoise only.
   */
  noiseInSpeechDb: number;
  /** Cancellers still loaded on B's microphone once B had left (0: B unloaded its own). */
  cancellersLeft: number;
}

const NOISE_SNR_DB = 10;
/**
 * The played file: noise throughout; the sentence twice, the first after NOISE_LEAD_S of noise
 * alone, each followed by NOISE_PAUSE_S of noise alone (where the suppressor is measured).
 */
const NOISE_LEAD_S = 4;
const NOISE_PAUSE_S = 4;
/** The file starts playing this long after A joined (later if B joined later: runRig's playedAtS). */
const PLAY_AFTER_S = 2;

/** Level of the band [fromHz, toHz] over [fromS, toS), from Goertzel bins 100 Hz apart on 100 ms blocks. */
function bandDb(samples: Int16Array, fromS: number, toS: number, fromHz: number, toHz: number): number {
  const block = SAMPLE_RATE / 10;
  const window = hannWindow(block);
  let power = 0;
  let blocks = 0;
  for (let at = Math.round(fromS * SAMPLE_RATE); at + block <= Math.min(samples.length, toS * SAMPLE_RATE); at += block) {
    const view = samples.subarray(at, at + block);
    for (let hz = fromHz; hz <= toHz; hz += 100) power += toneAmplitude(view, hz, SAMPLE_RATE, window) ** 2;
    blocks++;
  }
  return round1(10 * Math.log10(power / Math.max(1, blocks) + 1e-12));
}

/** Steady Gaussian white noise (a fixed seed: every run hears the same noise). */
function whiteNoise(length: number, rmsLevel: number): Float64Array {
  // xorshift32 in 32-bit integer arithmetic (a multiplicative generator in doubles loses its
  // low bits past 2^53 and can turn periodic, that is tonal).
  let state = 0x9e3779b9;
  const uniform = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 1) / 4294967297;
  };
  const noise = new Float64Array(length);
  for (let i = 0; i < length; i++) noise[i] = rmsLevel * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return noise;
}

/**
 * B's microphone alone (a null sink's monitor) plays `file` (in `dir`, `fileS` long) from
 * PLAY_AFTER_S on (or once B joined), B joins with `bFlags`, and A records what arrives from B.
 */
function playIntoMicrophone(bin: string, room: string, tag: string, dir: string, file: string, fileS: number, bFlags: string[]): ReturnType<typeof runRig> {
  return runRig({
    bin,
    room,
    tag,
    devices: [pactl('load-module', 'module-null-sink', `sink_name=${tag}_mic`, 'rate=48000', 'channels=1')],
    dir,
    // (3 s more, for a file that starts late because B was slow to join.)
    aArgs: ['--input', 'silence', '--output', 'null', '--duration', String(fileS + PLAY_AFTER_S + 4)],
    bArgs: ['--input', 'default', '--output', 'null', ...bFlags],
    bEnv: { PULSE_SOURCE: `${tag}_mic.monitor` },
    play: join(dir, file),
    playAfterS: PLAY_AFTER_S,
  });
}

export async function measureNoiseSuppression(bin: string, denoise: boolean): Promise<NoiseFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-noise-'));
  const tag = `vx_noise${process.pid}`;
  const speech = await renderSpeech(B_TEXT + ' ' + B_TEXT);
  // The speech's level while it sounds (its pauses between words left out), and noise under it.
  const voiced = speech.filter((x) => Math.abs(x) > 300);
  const speechRms = rms(voiced);
  const sentenceS = speech.length / SAMPLE_RATE;
  const sentencesAtS = [NOISE_LEAD_S, NOISE_LEAD_S + sentenceS + NOISE_PAUSE_S];
  const fileS = Math.ceil(sentencesAtS[1]! + sentenceS + NOISE_PAUSE_S);
  const noise = whiteNoise(fileS * SAMPLE_RATE, speechRms / 10 ** (NOISE_SNR_DB / 20));
  for (const atS of sentencesAtS) speech.forEach((x, i) => (noise[Math.round(atS * SAMPLE_RATE) + i] += x));
  writeWav(join(dir, 'noisy.wav'), Int16Array.from(noise, (x) => Math.max(-32768, Math.min(32767, Math.round(x)))));

  const { heard: samples, playedAtS, cancellersLeft } = await playIntoMicrophone(bin, 'noise', tag, dir, 'noisy.wav', fileS, denoise ? ['--denoise'] : []);
  const at = (fileAtS: number): number => fileAtS + playedAtS;
  // Pauses: before the first sentence, between them, after the last; 0.3 s clear of speech.
  const pauses: Array<[number, number]> = [
    [at(2.5), at(sentencesAtS[0]! - 0.3)],
    [at(sentencesAtS[0]! + sentenceS + 0.3), at(sentencesAtS[1]! - 0.3)],
    [at(sentencesAtS[1]! + sentenceS + 0.3), at(fileS - 0.3)],
  ];
  const talking: Array<[number, number]> = sentencesAtS.map((s) => [at(s + 0.3), at(s + sentenceS - 0.3)]);
  const meanDb = (spans: Array<[number, number]>, level: (from: number, to: number) => number): number => round1(10 * Math.log10(spans.reduce((sum, [from, to]) => sum + 10 ** (level(from, to) / 10), 0) / spans.length));
  return {
    denoise,
    pauseDbfs: meanDb(pauses, (from, to) => levelOf(samples, from, to)),
    pausesDbfs: pauses.map(([from, to]) => round1(levelOf(samples, from, to))),
    speechDbfs: meanDb(talking, (from, to) => levelOf(samples, from, to)),
    noiseInSpeechDb: meanDb(talking, (from, to) => bandDb(samples, from, to, 11_500, 14_000)),
    cancellersLeft,
  };
}

export interface GainControlFigures {
  agc: boolean;
  /** B's speech as A hears it, per sentence in order (the later ones after the control adapted), dBFS. */
  sentencesDbfs: number[];
  /** Cancellers still loaded on B's microphone once B had left (0: B unloaded its own). */
  cancellersLeft: number;
}

/** A quiet microphone: the speech's level while it sounds, in dBFS RMS. */
const QUIET_SPEECH_DBFS = -40;
/** In the played file: the sentence at these seconds, silence between. */
const QUIET_SENTENCES_AT_S = [1, 5, 9];
const QUIET_FILE_S = 13;

/**
 * `--agc` on a quiet microphone: B's microphone hears espeak-ng speech at −40 dBFS; A records B
 * without and with WebRTC's gain control (in the sound server, as `--denoise`).
 */
export async function measureGainControl(bin: string, agc: boolean): Promise<GainControlFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-agc-'));
  const tag = `vx_agc${process.pid}`;
  const speech = await renderSpeech(B_TEXT);
  const voicedRms = rms(speech.filter((x) => Math.abs(x) > 300));
  const scale = (32768 * 10 ** (QUIET_SPEECH_DBFS / 20)) / voicedRms;
  const file = new Int16Array(QUIET_FILE_S * SAMPLE_RATE);
  for (const atS of QUIET_SENTENCES_AT_S) speech.forEach((x, i) => (file[atS * SAMPLE_RATE + i] = Math.round(x * scale)));
  writeWav(join(dir, 'quiet.wav'), file);
  const sentenceS = speech.length / SAMPLE_RATE;
  const { heard: samples, playedAtS, cancellersLeft } = await playIntoMicrophone(bin, 'agc', tag, dir, 'quiet.wav', QUIET_FILE_S, agc ? ['--agc'] : []);
  // Each sentence as A heard it, its level while it sounds (the onset found in A's recording).
  const sentencesDbfs = QUIET_SENTENCES_AT_S.map((atS) => {
    const from = atS + playedAtS - 0.5;
    const span = samples.subarray(Math.round(from * SAMPLE_RATE), Math.round((from + sentenceS + 1) * SAMPLE_RATE));
    const loudest = span.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
    const voiced = span.filter((x) => Math.abs(x) > loudest / 10);
    return round1(dbfs(rms(voiced)));
  });
  return { agc, sentencesDbfs, cancellersLeft };
}
