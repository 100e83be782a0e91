// The audio engine: each 10 ms tick reads the capture source (sent on at once; a live source
// pushes instead, sent as it comes), pulls a frame per remote peer, records them, mixes with
// per-peer gain and plays the mix. It composes the parts, each in its own module:
//   TickPacer           what paces the ticks (timer or output device)       pacer.ts
//   RemoteAudioRegistry remote peers' frames, jitter buffers, gains, levels remote-audio.ts
//   Mixer, StereoMixer  the mix bus: gains, sum, limiter (stereo: spatial)  mixer.ts
//   TimelineRecorder    one WAV per remote peer on the run's timeline       recorder.ts
//   SpeakingDetector    whether our own capture is speech or silence        speaking-detector.ts
// Knows nothing of WebRTC: remote audio comes in through push(), outgoing audio leaves through
// the onCapturedFrame callback, so it can be driven and tested without a network.
import type { AudioSink, AudioSource } from './backend.js';
import { silentFrame, type ChannelCount, type Frame } from './format.js';
import type { PcmChunk } from './frame-assembler.js';
import { LevelMeter } from './level-meter.js';
import type { MixObserver } from './mix-observer.js';
import { Mixer, StereoMixer } from './mixer.js';
import { TickPacer } from './pacer.js';
import { TimelineRecorder } from './recorder.js';
import { RemoteAudioRegistry, type RemoteAudioStatus } from './remote-audio.js';
import { SpeakingDetector } from './speaking-detector.js';
import type { Hearing } from './spatial.js';

export type { RemoteAudioStatus } from './remote-audio.js';
export { safeFileName } from './recorder.js';

export interface AudioEngineOptions {
  source: AudioSource;
  sink: AudioSink;
  /** Also record each remote peer, before its volume, as <dir>/<safe name>.wav. */
  recordDir?: string;
  /** Receives every captured frame (silence while muted). */
  onCapturedFrame: (frame: Frame) => void;
  /** false: a listener that sends nothing; the source is never read (no capture work at all). */
  capture?: boolean;
  /** Called once when a non-looping source runs out. */
  onSourceEnded?: () => void;
  /** Our own speaking state changed (from the captured level, silence while muted). */
  onSpeakingChange?: (speaking: boolean) => void;
  /** Initial volumes by peer name, in percent (0–200). */
  volumes?: Record<string, number>;
  /** Sees every decoded 48 kHz frame as it enters a peer's jitter buffer (benchmarks). */
  onRemoteFrame?: (name: string, frame: Frame) => void;
  /** A device failed at run time; the owner should stop cleanly. */
  onBackendFailure?: (error: Error) => void;
  /**
   * A tick threw (a bug, or a source that broke in an unforeseen way): the engine stops ticking
   * rather than repeat the fault 100 times a second. The owner should stop, which finalises the
   * files, and say so (the CLI exits with the internal-fault code).
   */
  onFault?: (error: Error) => void;
  /** A recording could not be opened or written on (disk full, permissions): reported, the run goes on. */
  onRecordingProblem?: (message: string) => void;
  /** Listens along: what we send, each tick's per-peer frames and the mix (bot expectations). */
  observer?: MixObserver;
}

export class AudioEngine {
  private readonly remotes: RemoteAudioRegistry;
  private readonly recorder: TimelineRecorder | null;
  private readonly mixer = new Mixer();
  /** Present once the engine mixes in stereo (a spatial room, a sink that takes it). */
  private stereoMixer: StereoMixer | null = null;
  private started = false;
  private readonly pacer: TickPacer;
  private readonly captureMeter = new LevelMeter();
  private readonly mixMeter = new LevelMeter();
  private readonly speaking: SpeakingDetector;
  private sourceEnded = false;
  private ticks = 0;
  /** The source pushes its frames (a microphone): ticks do not read it. */
  private liveCapture = false;
  /** A tick threw: no more ticks (see onFault). */
  private faulted = false;
  muted = false;

  constructor(private readonly options: AudioEngineOptions) {
    this.recorder = options.recordDir ? new TimelineRecorder(options.recordDir, { onProblem: (message) => options.onRecordingProblem?.(message) }) : null;
    this.remotes = new RemoteAudioRegistry(options.volumes, options.onRemoteFrame);
    // After a stall the clock could not catch up, what piled up in the remote buffers would
    // play that much late for a while: it goes at once.
    this.pacer = new TickPacer(() => this.guardedTick(), undefined, () => this.remotes.dropBacklogs());
    this.speaking = new SpeakingDetector((speaking) => options.onSpeakingChange?.(speaking));
    for (const backend of [options.source, options.sink]) backend.onFailure?.((error) => options.onBackendFailure?.(error));
  }

  /**
   * A spatial room: mix in stereo if the sink takes it (else mono, each peer at its distance).
   * Only before start(), since a sink's format is fixed once it is written to. Returns the
   * channel count the mix has from now on.
   */
  useStereo(): ChannelCount {
    if (this.stereoMixer) return 2;
    if (this.started || !this.options.sink.setChannelCount) return 1;
    this.options.sink.setChannelCount(2);
    this.stereoMixer = new StereoMixer();
    return 2;
  }

  get channels(): ChannelCount {
    return this.stereoMixer ? 2 : 1;
  }

  start(): void {
    this.started = true;
    const { source } = this.options;
    if (source.startPushing && this.options.capture !== false) {
      this.liveCapture = true;
      source.startPushing((frame) => this.sendCaptured(frame));
    }
    this.pacer.start(this.options.sink);
  }

  /** Stops the clock and finalizes the sink and every recording. */
  async stop(): Promise<void> {
    this.pacer.stop();
    this.remotes.detachAll();
    await this.recorder?.close();
    await this.options.sink.close();
    await this.options.source.close();
  }

  /**
   * Sends from another source from the next frame on (a bot switching what it plays); the old
   * one is closed. A live source starts pushing; a read one is read by the ticks.
   */
  async replaceSource(source: AudioSource): Promise<void> {
    const old = this.options.source;
    this.options.source = source;
    this.sourceEnded = false;
    this.liveCapture = false;
    source.onFailure?.((error) => this.options.onBackendFailure?.(error));
    if (source.startPushing && this.options.capture !== false) {
      this.liveCapture = true;
      source.startPushing((frame) => this.sendCaptured(frame));
    }
    await old.close();
  }

  /** A remote peer with this name is (again) connected; its audio arrives through push(). */
  attachRemote(name: string): void {
    this.remotes.attach(name);
    // Also for a returning peer whose file is still open: it is no longer gone.
    this.recorder?.track(name, this.ticks);
  }

  /**
   * The peer left: what is buffered plays out, then silence. A recorded peer stays on the
   * timeline (silence until it returns); an unrecorded one is forgotten but for its volume.
   */
  detachRemote(name: string): void {
    this.remotes.detach(name, this.recorder?.has(name) ?? false);
    this.recorder?.gone(name, this.ticks);
  }

  push(name: string, chunk: PcmChunk): void {
    this.remotes.push(name, chunk);
  }

  setVolume(name: string, percent: number): void {
    this.remotes.setVolume(name, percent);
  }

  /** Spatial rooms: where a remote peer is heard from, on top of its volume (ramped over a frame). */
  setHearing(name: string, hearing: Hearing): void {
    this.remotes.setHearing(name, hearing);
  }

  /** Whether a remote peer may be heard at all (the room's grants and server-mute): gain 0 while not. */
  setAudible(name: string, audible: boolean): void {
    this.remotes.setAudible(name, audible);
  }

  volumeOf(name: string): number {
    return this.remotes.volumeOf(name);
  }

  remoteStatus(name: string): RemoteAudioStatus | null {
    return this.remotes.status(name);
  }

  /** Whether our own capture currently counts as speech. */
  get isSpeaking(): boolean {
    return this.speaking.speaking;
  }

  get stats() {
    return {
      source: this.options.source.label,
      sink: this.options.sink.label,
      muted: this.muted,
      speaking: this.speaking.speaking,
      ticks: this.ticks,
      captureLevelDbfs: this.captureMeter.dbfs,
      mixLevelDbfs: this.mixMeter.dbfs,
      channels: this.channels,
      limiterReductionDb: Math.round((this.stereoMixer ?? this.mixer).limiter.reductionDb * 10) / 10,
      clock: this.pacer.stats,
      input: this.options.source.stats?.() ?? null,
      output: this.options.sink.stats?.() ?? null,
    };
  }

  private sendCaptured(frame: Frame): void {
    const sent = this.muted ? silentFrame() : frame;
    this.captureMeter.update(sent);
    this.speaking.update(sent);
    this.options.onCapturedFrame(sent);
    this.options.observer?.captured?.(sent, performance.now());
  }

  private guardedTick(): void {
    if (this.faulted) return;
    try {
      this.tick();
    } catch (error) {
      this.faulted = true;
      this.pacer.stop();
      const fault = error instanceof Error ? error : new Error(String(error));
      queueMicrotask(() => this.options.onFault?.(new Error(`the audio tick failed: ${fault.message}`, { cause: fault })));
    }
  }

  private tick(): void {
    this.ticks++;
    if (!this.liveCapture && this.options.capture !== false) {
      const captured = this.sourceEnded ? null : this.options.source.read();
      if (captured === null && !this.sourceEnded) {
        this.sourceEnded = true;
        queueMicrotask(() => this.options.onSourceEnded?.());
      }
      this.sendCaptured(captured ?? silentFrame());
    }
    const { frames, inputs } = this.remotes.pull(this.recorder !== null || this.options.observer?.mixed !== undefined);
    // Files of peers gone too long are closed; the registry forgets them too.
    for (const name of this.recorder?.write(frames, this.ticks) ?? []) this.remotes.detach(name, false);
    const mixed = this.stereoMixer ? this.stereoMixer.mix(inputs) : this.mixer.mix(inputs);
    this.mixMeter.update(mixed);
    this.options.sink.write(mixed);
    this.options.observer?.mixed?.(frames, mixed, performance.now());
  }
}
