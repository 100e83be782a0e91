// Mouth-to-ear latency.
//
// File path: two peers in this process; A sends a click train, B's mix is timed. Each click's
// send time is when A's engine read its frame (it goes to wrtc in the same tick); its arrival is
// found in B's decoded stream (entering the jitter buffer) and in B's output, by
// cross-correlation, giving the stages encode+network+decode and jitter buffer+mix.
//
// Device path: two `voxroom join` processes on PulseAudio. A captures from sink "loop" (its
// monitor), B plays A at 30 % into the same sink. A click played into "loop" is recorded there,
// then again one mouth-to-ear latency later as B's playback of it: one recording, one clock,
// so the delay between a click and its first echo is the whole device path A → B.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AudioSink, AudioSource } from '../audio/backend.js';
import { FRAME_SAMPLES, SAMPLE_RATE, type Frame } from '../audio/format.js';
import { decodeWav } from '../audio/wav-file-source.js';
import { wavHeader } from '../audio/wav-writer.js';
import { startSignallingServer } from '../server/signalling-server.js';
import { VoicePeer } from '../peer/voice-peer.js';
import { clickTemplate, findClicks } from './clicks.js';
import { median, percentile, round, sleep } from './stats.js';

const CLICK_PERIOD_FRAMES = 30; // one click every 300 ms

export interface LatencyFigures {
  clicks: number;
  medianMs: number;
  p95Ms: number;
  stages?: Record<string, number>;
}

/** Sends a click at the start of every CLICK_PERIOD_FRAMES-th frame and notes when. */
class ClickSource implements AudioSource {
  readonly label = 'clicks';
  readonly sentAt: number[] = [];
  private frame = 0;
  private readonly click = clickTemplate();
  read(): Frame {
    const out = new Int16Array(FRAME_SAMPLES);
    if (this.frame++ % CLICK_PERIOD_FRAMES === 0) {
      out.set(Int16Array.from(this.click, Math.round));
      this.sentAt.push(performance.now());
    }
    return out;
  }
  async close(): Promise<void> {}
}

/** Keeps frames with the time each was written (the "ear" for a file/null output). */
class TimedSink implements AudioSink {
  readonly label = 'timed';
  readonly frames: Frame[] = [];
  readonly times: number[] = [];
  write(frame: Frame): void {
    this.frames.push(frame.slice());
    this.times.push(performance.now());
  }
  async close(): Promise<void> {}
}

/** Arrival times (ms) of clicks in a stream of frames stamped with the time each arrived. */
function clickTimes(frames: Frame[], times: number[]): number[] {
  const signal = new Float32Array(frames.length * FRAME_SAMPLES);
  frames.forEach((frame, i) => signal.set(frame, i * FRAME_SAMPLES));
  return findClicks(signal, clickTemplate(), 0.6).map((position) => {
    const frame = Math.floor(position / FRAME_SAMPLES);
    // A frame's time is when it was complete; its first sample was heard 10 ms earlier.
    return times[frame]! - 10 + ((position % FRAME_SAMPLES) / SAMPLE_RATE) * 1000;
  });
}

/** For each sent click, the first arrival after it (within 500 ms). */
function delays(sent: number[], arrived: number[]): number[] {
  const out: number[] = [];
  for (const t of sent) {
    const hit = arrived.find((a) => a > t && a - t < 500);
    if (hit !== undefined) out.push(hit - t);
  }
  return out;
}

export async function measureFilePathLatency(seconds = 12, ptimeMs = 10): Promise<LatencyFigures> {
  const server = await startSignallingServer({ port: 0 });
  const source = new ClickSource();
  const sink = new TimedSink();
  const decoded: { frames: Frame[]; times: number[] } = { frames: [], times: [] };
  const sender = new VoicePeer({ serverUrl: server.url, room: 'latency', name: 'mouth', source, sink: new TimedSink(), ptimeMs });
  const receiver = new VoicePeer({
    serverUrl: server.url,
    room: 'latency',
    name: 'ear',
    source: new ClickSource(),
    sink,
    ptimeMs,
    onRemoteFrame: (_name, frame) => {
      decoded.frames.push(frame);
      decoded.times.push(performance.now());
    },
  });
  try {
    await receiver.start();
    await sender.start();
    await sleep(seconds * 1000);
  } finally {
    await sender.stop();
    await receiver.stop();
    await server.close();
  }
  const warm = source.sentAt.slice(5); // skip the first clicks while the connection settles
  const total = delays(warm, clickTimes(sink.frames, sink.times));
  // Decoded frames are stamped when they arrive complete, like output frames.
  const network = delays(warm, clickTimes(decoded.frames, decoded.times));
  return {
    clicks: total.length,
    medianMs: round(median(total)),
    p95Ms: round(percentile(total, 95)),
    stages: {
      'encode + network + decode (to jitter buffer)': round(median(network)),
      'jitter buffer + mix': round(median(total) - median(network)),
    },
  };
}

export async function measureDevicePathLatency(bin: string, latency: string, seconds = 10): Promise<LatencyFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-bench-'));
  const sinkName = `bench_loop_${process.pid}`;
  const moduleId = execFileSync('pactl', ['load-module', 'module-null-sink', `sink_name=${sinkName}`, 'rate=48000', 'channels=1'], { encoding: 'utf8' }).trim();
  const server = await startSignallingServer({ port: 0 });
  const env = { ...process.env, PULSE_SOURCE: `${sinkName}.monitor`, PULSE_SINK: sinkName };
  const common = ['--server', server.url, '--latency', latency, '--ptime', '10'];
  const mouth = spawn(process.execPath, [bin, 'join', 'devlat', '--name', 'A', '--input', 'default', '--output', 'null', ...common], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  const ear = spawn(process.execPath, [bin, 'join', 'devlat', '--name', 'B', '--input', 'silence', '--output', 'default', '--volume', 'A=30', ...common], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  const clicksFile = join(dir, 'clicks.wav');
  const recordingFile = join(dir, 'loop.wav');
  try {
    await sleep(5000); // join, connect, and PulseAudio's stream start
    const period = 0.5;
    const click = clickTemplate(20_000);
    const train = new Int16Array(Math.round(seconds * SAMPLE_RATE));
    for (let t = 0.25; t < seconds - 0.3; t += period) train.set(Int16Array.from(click, Math.round), Math.round(t * SAMPLE_RATE));
    writeFileSync(clicksFile, Buffer.concat([wavHeader(train.byteLength), Buffer.from(train.buffer)]));
    const recorder = spawn('parecord', ['-d', `${sinkName}.monitor`, '--rate=48000', '--channels=1', '--format=s16le', '--file-format=wav', '--latency-msec=5', recordingFile], { stdio: 'ignore' });
    await sleep(300);
    // Asynchronously, and with a short buffer: a sync call would block this process, and a
    // player with PulseAudio's default 2 s latency makes the sink render in large bursts.
    await new Promise((resolve) => spawn('paplay', ['--latency-msec=10', '-d', sinkName, clicksFile], { stdio: 'ignore' }).once('exit', resolve));
    await sleep(500);
    recorder.kill('SIGINT');
    await new Promise((resolve) => recorder.once('exit', resolve));
  } finally {
    for (const child of [mouth, ear]) child.kill('SIGINT');
    await Promise.all([mouth, ear].map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
    await server.close();
    execFileSync('pactl', ['unload-module', moduleId]);
  }
  const { mono } = decodeWav(readFileSync(recordingFile), recordingFile);
  const signal = Float32Array.from(mono, (x) => x * 32768);
  const found = findClicks(signal, clickTemplate(), 0.6, SAMPLE_RATE / 100);
  const peak = (at: number): number => {
    let max = 0;
    for (let i = at; i < at + 96 && i < signal.length; i++) max = Math.max(max, Math.abs(signal[i]!));
    return max;
  };
  // Originals are the loud ones. B plays A at 30 %, so the first echo is about a third as loud
  // and the second (through the loop again) a tenth: the echo is the strongest candidate in
  // the window, taking the earliest one within 3 dB of it.
  const originals = found.filter((at) => peak(at) > 12_000);
  const candidates = found.filter((at) => peak(at) <= 12_000 && peak(at) >= 2_000);
  const measured: number[] = [];
  for (const at of originals.slice(2)) {
    const inWindow = candidates.filter((e) => e > at + SAMPLE_RATE * 0.01 && e < at + SAMPLE_RATE * 0.4);
    if (inWindow.length === 0) continue;
    const strongest = Math.max(...inWindow.map(peak));
    const echo = inWindow.find((e) => peak(e) >= strongest * 0.7)!;
    measured.push(((echo - at) / SAMPLE_RATE) * 1000);
  }
  return { clicks: measured.length, medianMs: round(median(measured)), p95Ms: round(percentile(measured, 95)) };
}
