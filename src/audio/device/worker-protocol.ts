// Messages between the peer and its device worker: a child process that owns PortAudio, so
// that a crash in native audio code (naudiodon's tracker has reports of segfaults on quit and on
// reopening streams) can never take the peer, its connections or its recordings down with it.
import type { ChannelCount } from '../format.js';

export interface DeviceInfo {
  index: number;
  name: string;
  hostApi: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
  defaultInput: boolean;
  defaultOutput: boolean;
}

export type Direction = 'input' | 'output';

export interface StreamSettings {
  /** PortAudio device index; -1 for the default device. */
  deviceIndex: number;
  /** PortAudio callback size (and output chunk) at 48 kHz. */
  framesPerBuffer: number;
  /** Output: milliseconds of mixed audio kept ready beyond the next chunk. */
  reserveMs: number;
  /** The channel count to open first (the device's other choice is tried next). */
  channels: ChannelCount;
}

export type ParentMessage =
  | { type: 'list' }
  | { type: 'open'; direction: Direction; settings: StreamSettings }
  | { type: 'frame'; samples: Int16Array }
  /** Output: the channels of the frames sent from now on (interleaved when 2); mono until said. */
  | { type: 'mix-channels'; channels: ChannelCount }
  /** Output: the mix is ready to be paced; start asking for frames. */
  | { type: 'start' }
  | { type: 'close' };

export interface OpenedStream {
  direction: Direction;
  deviceName: string;
  sampleRate: number;
  channels: number;
  framesPerBuffer: number;
}

/** Output streams only: capture is measured by the peer's own buffer. */
export interface WorkerStats {
  /** Chunks PortAudio wanted before the mix had them (played as silence). */
  underruns: number;
  /** Times mixed samples were dropped because more were on hand than wanted. */
  overflows: number;
  /** Mixed samples (48 kHz) waiting in the worker right now. */
  queued: number;
}

export type WorkerMessage =
  | { type: 'devices'; devices: DeviceInfo[] }
  | { type: 'opened'; stream: OpenedStream }
  | { type: 'frame'; samples: Int16Array }
  | { type: 'demand'; frames: number }
  | { type: 'stats'; stats: WorkerStats }
  | { type: 'error'; message: string }
  | { type: 'closed' };
