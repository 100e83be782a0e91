// The audio engine: one 10 ms tick reads the capture source (sent to every peer; a live source
// pushes instead, sent as it comes), pulls a frame from each remote peer's jitter buffer,
// records it, mixes with per-peer gain and plays the mix.
// Knows nothing of WebRTC: remote audio comes in through push(), outgoing audio leaves through
// the onCapturedFrame callback, so it can be driven and tested without a network.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AudioSink, AudioSource } from './backend.js';
import { FrameClock } from './clock.js';
import { silentFrame, type Frame } from './format.js';
import { FrameAssembler, type PcmChunk } from './frame-assembler.js';
import { JitterBuffer, type JitterBufferStats } from './jitter-buffer.js';
import { LevelMeter } from './level-meter.js';
import { Mixer, SmoothedGain, type MixInput } from './mixer.js';
import { WavFileSink } from './wav-writer.js';

/**
 * Remote audio starts two frames deep, goes down to one when 2 s pass without a late frame
 * (the phase of two 10 ms clocks is all the jitter left after NetEq) and up to four when
 * underruns say the machine's scheduling needs it.
 */
const REMOTE_BUFFER = { targetFrames: 2, minTargetFrames: 1, maxTargetFrames: 4, maxFrames: 8 };

/** A paced sink that has not asked for a frame this long is stood in for by the timer. */
const STAND_IN_AFTER_MS = 30;

export interface AudioEngineOptions {
  source: AudioSource;
  sink: AudioSink;
  /** Also record each remote peer, before its volume, as <dir>/<safe name>.wav. */
  recordDir?: string;
  /** Receives every captured frame (silence while muted). */
  onCapturedFrame: (frame: Frame) => void;
  /** Called once when a non-looping source runs out. */
  onSourceEnded?: () => void;
  /** Initial volumes by peer name, in percent (0–200). */
  volumes?: Record<string, number>;
  /** Sees every decoded 48 kHz frame as it enters a peer's jitter buffer (benchmarks). */
  onRemoteFrame?: (name: string, frame: Frame) => void;
  /** A device failed at run time; the owner should stop cleanly. */
  onBackendFailure?: (error: Error) => void;
}

export interface RemoteAudioStatus extends JitterBufferStats {
  name: string;
  volumePercent: number;
  levelDbfs: number;
  rateChanges: number;
  receivedFrames: number;
}

class RemoteAudio {
  readonly gain: SmoothedGain;
  readonly meter = new LevelMeter();
  buffer = new JitterBuffer(REMOTE_BUFFER);
  /** Present while the peer is connected; released on leave (it may hold a resampler). */
  assembler: FrameAssembler | null = null;
  receivedFrames = 0;
  rateChanges = 0;

  constructor(
    readonly name: string,
    volumePercent: number,
    readonly recording: WavFileSink | null,
    private readonly probe?: (frame: Frame) => void,
  ) {
    this.gain = new SmoothedGain(volumePercent / 100);
    this.connect();
  }

  connect(): void {
    if (this.assembler) return;
    this.buffer = new JitterBuffer(REMOTE_BUFFER);
    this.assembler = new FrameAssembler((frame) => {
      this.receivedFrames++;
      this.probe?.(frame);
      this.buffer.push(frame);
    });
  }

  disconnect(): void {
    if (!this.assembler) return;
    this.rateChanges += this.assembler.rateChanges;
    this.assembler.close();
    this.assembler = null;
  }
}

export class AudioEngine {
  private readonly remotes = new Map<string, RemoteAudio>();
  private readonly volumes = new Map<string, number>();
  private readonly mixer = new Mixer();
  private readonly clock: FrameClock;
  private readonly captureMeter = new LevelMeter();
  private readonly mixMeter = new LevelMeter();
  private readonly recordingFiles = new Set<string>();
  private sourceEnded = false;
  private ticks = 0;
  private paced = false;
  private lastPacedTick = 0;
  private standInTicks = 0;
  /** The source pushes its frames (a microphone): ticks do not read it. */
  private liveCapture = false;
  muted = false;

  constructor(private readonly options: AudioEngineOptions) {
    for (const [name, percent] of Object.entries(options.volumes ?? {})) this.volumes.set(name, percent);
    if (options.recordDir) {
      try {
        mkdirSync(options.recordDir, { recursive: true });
      } catch (error) {
        throw new Error(`cannot create the recording folder ${options.recordDir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    // With a paced sink this clock only stands in while the device is not asking for frames
    // (PulseAudio's ALSA plugin takes up to ~1.8 s to start a stream; a device can hiccup):
    // capture and sending never stall with it. Frames mixed meanwhile are dropped by the sink.
    this.clock = new FrameClock(() => {
      if (!this.paced) this.tick();
      else if (performance.now() - this.lastPacedTick > STAND_IN_AFTER_MS) {
        this.standInTicks++;
        this.tick();
      }
    });
    for (const backend of [options.source, options.sink]) backend.onFailure?.((error) => options.onBackendFailure?.(error));
  }

  start(): void {
    const { source } = this.options;
    if (source.startPushing) {
      this.liveCapture = true;
      source.startPushing((frame) => this.sendCaptured(frame));
    }
    if (this.options.sink.setPacer) {
      this.paced = true;
      this.lastPacedTick = performance.now();
      this.options.sink.setPacer(() => {
        if (!this.paced) return;
        this.lastPacedTick = performance.now();
        this.tick();
      });
    }
    this.clock.start();
  }

  /** Stops the clock and finalizes the sink and every recording. */
  async stop(): Promise<void> {
    this.clock.stop();
    this.paced = false;
    for (const remote of this.remotes.values()) remote.disconnect();
    await Promise.all([...this.remotes.values()].map((remote) => remote.recording?.close()));
    await this.options.sink.close();
    await this.options.source.close();
  }

  /** A remote peer with this name is (again) connected; its audio arrives through push(). */
  attachRemote(name: string): void {
    const existing = this.remotes.get(name);
    if (existing) {
      existing.connect();
      return;
    }
    const recording = this.options.recordDir ? new WavFileSink(join(this.options.recordDir, `${this.uniqueFileName(name)}.wav`)) : null;
    // Line the recording up with the run's timeline: silence for the time before this peer came.
    recording?.writeSilence(this.ticks);
    const probe = this.options.onRemoteFrame;
    this.remotes.set(name, new RemoteAudio(name, this.volumes.get(name) ?? 100, recording, probe && ((frame) => probe(name, frame))));
  }

  /**
   * The peer left: what is buffered plays out, then silence. A recorded peer stays on the
   * timeline (silence until it returns); an unrecorded one is forgotten but for its volume.
   */
  detachRemote(name: string): void {
    const remote = this.remotes.get(name);
    if (!remote) return;
    remote.disconnect();
    if (!remote.recording) this.remotes.delete(name);
  }

  push(name: string, chunk: PcmChunk): void {
    this.remotes.get(name)?.assembler?.push(chunk);
  }

  setVolume(name: string, percent: number): void {
    this.volumes.set(name, percent);
    this.remotes.get(name)?.gain.set(percent / 100);
  }

  volumeOf(name: string): number {
    return this.volumes.get(name) ?? 100;
  }

  remoteStatus(name: string): RemoteAudioStatus | null {
    const remote = this.remotes.get(name);
    if (!remote) return null;
    return {
      name,
      volumePercent: Math.round(remote.gain.value * 100),
      levelDbfs: remote.meter.dbfs,
      rateChanges: remote.rateChanges + (remote.assembler?.rateChanges ?? 0),
      receivedFrames: remote.receivedFrames,
      ...remote.buffer.stats,
    };
  }

  get stats() {
    return {
      source: this.options.source.label,
      sink: this.options.sink.label,
      muted: this.muted,
      ticks: this.ticks,
      captureLevelDbfs: this.captureMeter.dbfs,
      mixLevelDbfs: this.mixMeter.dbfs,
      limiterReductionDb: Math.round(this.mixer.limiter.reductionDb * 10) / 10,
      clock: this.paced ? { pacedBy: 'output device', standInTicks: this.standInTicks } : { pacedBy: 'timer', ...this.clock.stats },
      input: this.options.source.stats?.() ?? null,
      output: this.options.sink.stats?.() ?? null,
    };
  }

  private sendCaptured(frame: Frame): void {
    const sent = this.muted ? silentFrame() : frame;
    this.captureMeter.update(sent);
    this.options.onCapturedFrame(sent);
  }

  /** Names that differ only in unsafe characters still get files of their own. */
  private uniqueFileName(name: string): string {
    const base = safeFileName(name);
    let file = base;
    for (let n = 2; this.recordingFiles.has(file); n++) file = `${base}-${n}`;
    this.recordingFiles.add(file);
    return file;
  }

  private tick(): void {
    this.ticks++;
    if (!this.liveCapture) {
      const captured = this.sourceEnded ? null : this.options.source.read();
      if (captured === null && !this.sourceEnded) {
        this.sourceEnded = true;
        queueMicrotask(() => this.options.onSourceEnded?.());
      }
      this.sendCaptured(captured ?? silentFrame());
    }

    const inputs: MixInput[] = [];
    for (const remote of this.remotes.values()) {
      const frame = remote.buffer.pull();
      remote.meter.update(frame);
      if (remote.recording) remote.recording.write(frame ?? silentFrame());
      if (frame) inputs.push({ frame, gain: remote.gain });
      else remote.gain.advance(); // a volume change while silent still lands
    }
    const mixed = this.mixer.mix(inputs);
    this.mixMeter.update(mixed);
    this.options.sink.write(mixed);
  }
}

/** A peer name as a file name: no path separators, no leading dots, nothing a shell trips on. */
export function safeFileName(name: string): string {
  const cleaned = name.replace(/[^\p{L}\p{N}_.-]+/gu, '_').replace(/^\.+/, '_');
  return cleaned.length > 0 ? cleaned.slice(0, 64) : 'peer';
}
