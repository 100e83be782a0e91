// Mouth-to-ear latency.
//
// File path: two peers in this process; A sends a click train, B's mix is timed. Both ends are
// timed by one convention (click-timing.ts): the moment the frame holding a click is handed
// over (read from A's source, which the engine sends on in the same tick; written to B's
// sink), plus the click's offset within that frame. The decoded stream entering B's jitter
// buffer is timed the same way, which splits the path into encode+network+decode and jitter
// buffer+mix.
//
// Device path: two `voxroom join` processes on PulseAudio. A captures from sink "loop" (its
// monitor), B plays A at 30 % into the same sink. A click played into "loop" is recorded there,
// then again one mouth-to-ear latency later as B's playback of it: one recording, one clock,
// so the delay between a click and its first echo is the whole device path A → B.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NullSink, SilenceSource } from '../audio/backend.js';
import { SAMPLE_RATE } from '../audio/format.js';
import { decodeWav } from '../audio/wav-file-source.js';
import { wavHeader } from '../audio/wav-writer.js';
import { startSignallingServer, type SignallingServerOptions } from '../server/signalling-server.js';
import { VoicePeer } from '../peer/voice-peer.js';
import type { PtimeMs } from '../peer/ptime-policy.js';
import { ClickSource, FrameLog, LoggingSink, clickDelaysMs } from '../audio/click-timing.js';
import { clickTemplate, findClicks } from '../audio/clicks.js';
import { median, round, sleep, summarizeDelays, type DelaySummary } from './stats.js';

const CLICK_PERIOD_FRAMES = 30; // one click every 300 ms
/** Clicks left out at the start of a file-path run, while the connection settles. */
const SETTLING_CLICKS = 5;

export interface LatencyFigures extends DelaySummary {
  stages?: Record<string, number>;
}

/** `server`: options for the room's server, e.g. SFU rooms through a Janus (same method, same clicks). */
export async function measureFilePathLatency(seconds = 12, ptimeMs: PtimeMs = 10, serverOptions: Partial<SignallingServerOptions> = {}): Promise<LatencyFigures> {
  const server = await startSignallingServer({ port: 0, ...serverOptions });
  const mouth = new ClickSource(CLICK_PERIOD_FRAMES);
  const ear = new LoggingSink();
  const decoded = new FrameLog();
  const sender = new VoicePeer({ serverUrl: server.url, room: 'latency', name: 'mouth', source: mouth, sink: new NullSink(), ptimeMs });
  const receiver = new VoicePeer({
    serverUrl: server.url,
    room: 'latency',
    name: 'ear',
    source: new SilenceSource(),
    sink: ear,
    ptimeMs,
    onRemoteFrame: (_name, frame) => decoded.record(frame, performance.now()),
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
  const total = clickDelaysMs(mouth.log, ear.log, SETTLING_CLICKS);
  const toJitterBuffer = clickDelaysMs(mouth.log, decoded, SETTLING_CLICKS);
  return {
    ...summarizeDelays(total),
    stages: {
      'encode + network + decode (to the jitter buffer)': round(median(toJitterBuffer)),
      'jitter buffer + mix (difference of the medians)': round(median(total) - median(toJitterBuffer)),
    },
  };
}

/**
 * `seconds` of clicks, two a second, the first two left out: 25 s gives 47 clicks, enough for a
 * p95 that is not simply the largest delay.
 */
/**
 * `echoCancel`: both peers use a microphone and speakers, as a person does, so `voxroom join`'s
 * default echo cancellation sits in both the capture and the playback path (A's speakers and
 * B's microphone are extra null sinks nobody listens to).
 */
export async function measureDevicePathLatency(bin: string, latency: string, seconds = 25, echoCancel = false): Promise<LatencyFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-bench-'));
  const sinkName = `bench_loop_${process.pid}`;
  const nullSink = (name: string): string => execFileSync('pactl', ['load-module', 'module-null-sink', `sink_name=${name}`, 'rate=48000', 'channels=1'], { encoding: 'utf8' }).trim();
  const modules = [nullSink(sinkName), ...(echoCancel ? [nullSink(`${sinkName}_a_spk`), nullSink(`${sinkName}_b_mic`)] : [])];
  const server = await startSignallingServer({ port: 0 });
  const env = { ...process.env, PULSE_SOURCE: `${sinkName}.monitor`, PULSE_SINK: sinkName };
  const common = ['--server', server.url, '--latency', latency, '--ptime', '10'];
  const mouthDevices = echoCancel ? { args: ['--output', 'default'], env: { ...env, PULSE_SINK: `${sinkName}_a_spk` } } : { args: ['--output', 'null'], env };
  const earDevices = echoCancel ? { args: ['--input', 'default'], env: { ...env, PULSE_SOURCE: `${sinkName}_b_mic.monitor` } } : { args: ['--input', 'silence'], env };
  const mouth = spawn(process.execPath, [bin, 'join', 'devlat', '--name', 'A', '--input', 'default', ...mouthDevices.args, ...common], { env: mouthDevices.env, stdio: ['pipe', 'ignore', 'ignore'] });
  const ear = spawn(process.execPath, [bin, 'join', 'devlat', '--name', 'B', ...earDevices.args, '--output', 'default', '--volume', 'A=30', ...common], { env: earDevices.env, stdio: ['pipe', 'ignore', 'ignore'] });
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
    for (const id of modules.reverse()) execFileSync('pactl', ['unload-module', id]);
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
  return summarizeDelays(measured);
}
