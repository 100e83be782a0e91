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
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NullSink, SilenceSource } from '../audio/backend.js';
import { FRAME_MS, SAMPLE_RATE } from '../audio/format.js';
import { decodeWav } from '../audio/wav-file-source.js';
import { wavHeader } from '../audio/wav-writer.js';
import { startSignallingServer, type SignallingServerOptions } from '../server/signalling-server.js';
import { VoicePeer } from '../peer/voice-peer.js';
import type { PtimeMs } from '../peer/ptime-policy.js';
import { ClickSource, FrameLog, LoggingSink, clickDelaysMs } from '../audio/click-timing.js';
import { clickTemplate, findClicks } from '../audio/clicks.js';
import { median, round, sleep, summarizeDelays, type DelaySummary } from './stats.js';

const CLICK_PERIOD_FRAMES = 30; // one click every 300 ms
/** Opus's algorithmic delay at 48 kHz: the decoded signal comes out this much later. */
export const OPUS_LOOKAHEAD_MS = 6.5;
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

/** How a device-path run is set up: `ptime` 'auto' is the default flags (10 ms packets for two members). */
export interface DevicePathSetup {
  latency: 'normal' | 'low';
  ptime: PtimeMs | 'auto';
  /**
   * Both peers use a microphone and speakers, as a person does, so `voxroom join`'s default echo
   * cancellation sits in both the capture and the playback path (A's speakers and B's
   * microphone are extra null sinks nobody listens to).
   */
  echoCancel: boolean;
}

/**
 * `seconds` of clicks, two a second, the first two left out: 25 s gives 47 clicks, enough for a
 * p95 that is not simply the largest delay. At the end, before the peers leave, each stage of
 * the path is read from what reports it (deviceStages).
 */
export async function measureDevicePathLatency(bin: string, setup: DevicePathSetup, seconds = 25): Promise<LatencyFigures> {
  const { latency, ptime, echoCancel } = setup;
  const dir = mkdtempSync(join(tmpdir(), 'voxroom-bench-'));
  const sinkName = `bench_loop_${process.pid}`;
  const nullSink = (name: string): string => execFileSync('pactl', ['load-module', 'module-null-sink', `sink_name=${name}`, 'rate=48000', 'channels=1'], { encoding: 'utf8' }).trim();
  const modules = [nullSink(sinkName), ...(echoCancel ? [nullSink(`${sinkName}_a_spk`), nullSink(`${sinkName}_b_mic`)] : [])];
  const server = await startSignallingServer({ port: 0 });
  const env = { ...process.env, PULSE_SOURCE: `${sinkName}.monitor`, PULSE_SINK: sinkName };
  const common = ['--server', server.url, '--latency', latency, ...(ptime === 'auto' ? [] : ['--ptime', String(ptime)]), '--json'];
  const mouthDevices = echoCancel ? { args: ['--output', 'default'], env: { ...env, PULSE_SINK: `${sinkName}_a_spk` } } : { args: ['--output', 'null'], env };
  const earDevices = echoCancel ? { args: ['--input', 'default'], env: { ...env, PULSE_SOURCE: `${sinkName}_b_mic.monitor` } } : { args: ['--input', 'silence'], env };
  const mouth = new JsonProcess(bin, ['join', 'devlat', '--name', 'A', '--input', 'default', ...mouthDevices.args, ...common], mouthDevices.env);
  const ear = new JsonProcess(bin, ['join', 'devlat', '--name', 'B', ...earDevices.args, '--output', 'default', '--volume', 'A=30', ...common], earDevices.env);
  const clicksFile = join(dir, 'clicks.wav');
  const recordingFile = join(dir, 'loop.wav');
  let reports: StageReports | null = null;
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
    reports = await readStageReports(mouth, ear).catch(() => null);
    await sleep(500);
    recorder.kill('SIGINT');
    await new Promise((resolve) => recorder.once('exit', resolve));
  } finally {
    await Promise.all([mouth.stop(), ear.stop()]);
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
  const summary = summarizeDelays(measured);
  return reports && Number.isFinite(summary.medianMs) ? { ...summary, stages: deviceStages(reports, summary.medianMs) } : summary;
}

/** What the two peers and the sound server say about the path's buffers, read once the clicks are done. */
interface StageReports {
  /** A: its packet time, its capture callback. */
  ptimeMs: number;
  captureCallbackMs: number;
  /** B: NetEq's mean delay for A, voxroom's jitter buffer depth for A (frames), its output queue. */
  receiveBufferMs: number;
  jitterBufferFrames: number;
  outputQueueMs: number;
  /** PulseAudio: A's record stream and B's playback stream (buffer + device latency as pactl reports them). */
  pulseCaptureMs: number;
  pulsePlaybackMs: number;
}

async function readStageReports(mouth: JsonProcess, ear: JsonProcess): Promise<StageReports> {
  const mouthStatus = (await mouth.ask('status', 'status')) as { ptimeMs: number; audio: { input: { configuredLatencyMs: number } | null } };
  const earStatus = (await ear.ask('status', 'status')) as { audio: { output: { queuedMs: number } | null } };
  const earPeers = (await ear.ask('peers', 'peers')) as { peers: Array<{ name: string; audio: { depth: number } | null; packets?: { receiveBufferMs?: number } }> };
  const fromA = earPeers.peers.find((p) => p.name === 'A');
  const pulse = (kind: 'sink-inputs' | 'source-outputs', pid: number): number => {
    // The devices are opened by the peer's device worker, a child process of its own.
    const pids = new Set([String(pid), ...childPids(pid)]);
    const streams = JSON.parse(execFileSync('pactl', ['-f', 'json', 'list', kind], { encoding: 'utf8' })) as Array<{ properties: Record<string, string>; buffer_latency_usec: number; sink_latency_usec?: number; source_latency_usec?: number }>;
    const own = streams.filter((stream) => pids.has(stream.properties['application.process.id'] ?? ''));
    return Math.max(0, ...own.map((stream) => (stream.buffer_latency_usec + (stream.sink_latency_usec ?? stream.source_latency_usec ?? 0)) / 1000));
  };
  return {
    ptimeMs: mouthStatus.ptimeMs,
    captureCallbackMs: mouthStatus.audio.input?.configuredLatencyMs ?? 0,
    receiveBufferMs: fromA?.packets?.receiveBufferMs ?? 0,
    jitterBufferFrames: fromA?.audio?.depth ?? 0,
    outputQueueMs: earStatus.audio.output?.queuedMs ?? 0,
    pulseCaptureMs: pulse('source-outputs', mouth.pid),
    pulsePlaybackMs: pulse('sink-inputs', ear.pid),
  };
}

function childPids(pid: number): string[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

/** The device path's stages in ms, in the order a click meets them; the rest is what nothing reports. */
function deviceStages(r: StageReports, medianMs: number): Record<string, number> {
  const stages: Record<string, number> = {
    'A: PulseAudio record stream': round(r.pulseCaptureMs),
    'A: capture callback': round(r.captureCallbackMs),
    'A: Opus packet + look-ahead': round(r.ptimeMs + OPUS_LOOKAHEAD_MS),
    'B: WebRTC receive buffer (NetEq, mean)': round(r.receiveBufferMs),
    'B: voxroom jitter buffer': round(r.jitterBufferFrames * FRAME_MS),
    'B: mixing frame': FRAME_MS,
    'B: output queue': round(r.outputQueueMs),
    'B: PulseAudio playback stream': round(r.pulsePlaybackMs),
  };
  const known = Object.values(stages).reduce((sum, ms) => sum + ms, 0);
  stages['rest (scheduling, the sound server\'s canceller, what nothing reports)'] = round(medianMs - known);
  return stages;
}

/** A `voxroom join --json` child: its JSON events, and line commands asked on its stdin. */
class JsonProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<{ event: string; resolve: (value: unknown) => void }> = [];

  constructor(bin: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [bin, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.resume();
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let event: { event?: string };
      try {
        event = JSON.parse(line) as { event?: string };
      } catch {
        return;
      }
      const at = this.waiting.findIndex((w) => w.event === event.event);
      if (at >= 0) this.waiting.splice(at, 1)[0]!.resolve(event);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Sends a line command and waits for the event that answers it. */
  ask(command: string, event: string, ms = 3000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
      this.waiting.push({ event, resolve: (value) => (clearTimeout(timer), resolve(value)) });
      this.child.stdin.write(`${command}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGINT');
    await new Promise((resolve) => this.child.once('exit', resolve));
  }
}
