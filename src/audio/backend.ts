// The one small interface every audio backend shares: sources and sinks of 10 ms frames.
// The engine pulls one frame from the source (or is handed each one, from a live source) and
// pushes one mixed frame to the sink per tick.
import type { ChannelCount, Frame, MixFrame } from './format.js';

export type BackendFailureHandler = (error: Error) => void;

interface Backend {
  /** Shown in status output, e.g. "tone:440", "file:talk.wav", "device:pulse". */
  readonly label: string;
  /** Backends that can fail at run time (devices) report it here, once. */
  onFailure?(handler: BackendFailureHandler): void;
  /** Figures for status output (queue depth, underruns, latency). */
  stats?(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface AudioSource extends Backend {
  /** The next 10 ms frame; null when the source has ended (a non-looping file). */
  read(): Frame | null;
  /**
   * Live sources (a microphone) push each frame the moment it is captured, and the engine sends
   * it on at once instead of reading one per tick: no wait for the mix clock, no second clock.
   */
  startPushing?(deliver: (frame: Frame) => void): void;
}

export interface AudioSink extends Backend {
  /** One 10 ms frame of the mix: mono, or stereo interleaved once setChannelCount(2) was called. */
  write(frame: MixFrame): void;
  /**
   * Sinks that can take a stereo mix (files, devices, memory) have this: the engine calls it at
   * most once, before the first write, with 2 in a spatial room. A sink without it is always
   * sent mono frames (in a spatial room: each peer at its distance, without the pan).
   */
  setChannelCount?(channels: ChannelCount): void;
  /**
   * Sinks with a clock of their own (a sound card) call `tick` whenever they want a frame, and
   * the engine then runs no timer of its own: one clock, nothing drifting against it.
   */
  setPacer?(tick: () => void): void;
}

export class SilenceSource implements AudioSource {
  readonly label = 'silence';
  read(): Frame {
    return new Int16Array(480);
  }
  async close(): Promise<void> {}
}

export class NullSink implements AudioSink {
  readonly label = 'null';
  write(): void {}
  async close(): Promise<void> {}
}
