// Per-remote-peer playout buffer between wrtc's delivery thread and the mix clock.
// wrtc decodes through WebRTC's own NetEq, so network jitter is already absorbed upstream; this
// buffer only has to cover scheduling jitter between two 10 ms clocks. Hence a small target
// (2 frames = 20 ms) and a hard cap. Clock drift is absorbed by dropping one frame, at a quiet
// moment, whenever the buffer has held more than the target for a whole window; never by a
// queue that grows. A peer that stops sending yields silence (null), never a stall.
import { FRAME_SAMPLES, type Frame } from './format.js';

export interface JitterBufferOptions {
  targetFrames?: number;
  maxFrames?: number;
  /** Frames over which the minimum depth is watched before dropping one for drift. */
  driftWindowFrames?: number;
  /** A pending drift drop waits this long for a quiet frame before it drops anyway. */
  quietWaitFrames?: number;
}

export interface JitterBufferStats {
  depth: number;
  /** Times the buffer ran dry while playing. */
  underruns: number;
  /** Frames played as silence after playback began (the length of the gaps, in frames). */
  missedFrames: number;
  overflows: number;
  driftDrops: number;
}

const QUIET_RMS = 328; // about −40 dBFS

export class JitterBuffer {
  private readonly queue: Frame[] = [];
  private priming = true;
  private windowMin = Infinity;
  private windowCount = 0;
  private dropPendingFor = -1;
  readonly stats: JitterBufferStats = { depth: 0, underruns: 0, missedFrames: 0, overflows: 0, driftDrops: 0 };
  private started = false;
  private readonly target: number;
  private readonly max: number;
  private readonly window: number;
  private readonly quietWait: number;

  constructor(options: JitterBufferOptions = {}) {
    this.target = options.targetFrames ?? 2;
    this.max = options.maxFrames ?? 8;
    this.window = options.driftWindowFrames ?? 100;
    this.quietWait = options.quietWaitFrames ?? 50;
  }

  push(frame: Frame): void {
    if (this.queue.length >= this.max) {
      this.queue.shift();
      this.stats.overflows++;
    }
    this.queue.push(frame);
    this.stats.depth = this.queue.length;
  }

  /** The next frame to play, or null for silence (priming, or the peer went quiet). */
  pull(): Frame | null {
    if (this.priming) {
      if (this.queue.length < this.target) {
        if (this.started) this.stats.missedFrames++;
        return null;
      }
      this.started = true;
      this.priming = false;
      // Nothing has played yet: a backlog from a burst can go now, unheard, instead of being
      // worked off by audible drift drops later.
      while (this.queue.length > this.target) {
        this.queue.shift();
        this.stats.driftDrops++;
      }
    }
    if (this.queue.length === 0) {
      this.stats.underruns++;
      this.stats.missedFrames++;
      this.priming = true;
      this.resetWindow();
      return null;
    }
    this.watchDrift();
    const frame = this.queue.shift()!;
    this.stats.depth = this.queue.length;
    return frame;
  }

  get depth(): number {
    return this.queue.length;
  }

  private watchDrift(): void {
    if (this.dropPendingFor >= 0) {
      const head = this.queue[0]!;
      if (this.queue.length > this.target && (rms(head) < QUIET_RMS || this.dropPendingFor >= this.quietWait)) {
        this.queue.shift();
        this.stats.driftDrops++;
        this.dropPendingFor = -1;
      } else if (this.queue.length <= this.target) {
        this.dropPendingFor = -1;
      } else {
        this.dropPendingFor++;
      }
      return;
    }
    this.windowMin = Math.min(this.windowMin, this.queue.length);
    if (++this.windowCount >= this.window) {
      if (this.windowMin > this.target) this.dropPendingFor = 0;
      this.resetWindow();
    }
  }

  private resetWindow(): void {
    this.windowMin = Infinity;
    this.windowCount = 0;
  }
}

function rms(frame: Frame): number {
  let sum = 0;
  for (let i = 0; i < FRAME_SAMPLES; i++) sum += frame[i]! * frame[i]!;
  return Math.sqrt(sum / FRAME_SAMPLES);
}
