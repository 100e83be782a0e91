// Per-remote-peer playout buffer between wrtc's delivery thread and the mix clock.
// wrtc decodes through WebRTC's own NetEq, so network jitter is already absorbed upstream; this
// buffer only has to cover scheduling jitter between two 10 ms clocks. Hence a small, adaptive
// target: a calm spell in which no frame came late lowers it a frame, down to its floor (one
// frame is enough while the two clocks keep a steady phase; remote peers get two, see
// REMOTE_BUFFER), an underrun raises it again (a loaded machine, a bad phase), and a step
// down that proved wrong doubles the calm needed before the next. Clock
// drift, and a lowered target, are absorbed by dropping one frame (crossfaded into the next)
// at a quiet moment whenever the buffer has held more than the target for a whole window
// (beyond target + 4, a frame per pull without waiting for quiet), never by a queue that
// grows. A peer that stops sending yields silence (null), never a stall.
import { rms } from './analysis.js';
import { FRAME_SAMPLES, type Frame } from './format.js';

export interface JitterBufferOptions {
  /** Frames gathered before playing starts: the first target. */
  targetFrames?: number;
  /** Lowest target a calm spell can bring it to (= targetFrames: never lower). */
  minTargetFrames?: number;
  /** Highest target underruns can raise it to (= targetFrames: never higher). */
  maxTargetFrames?: number;
  /** Frames played without a late frame before the target steps down. */
  calmFramesToLower?: number;
  maxFrames?: number;
  /** Frames over which the minimum depth is watched before dropping one for drift. */
  driftWindowFrames?: number;
  /** A pending drift drop waits this long for a quiet frame before it drops anyway. */
  quietWaitFrames?: number;
}

export interface JitterBufferStats {
  depth: number;
  /** The depth the buffer aims at now (adaptive). */
  targetFrames: number;
  /** Times the buffer ran dry while playing. */
  underruns: number;
  /** Frames played as silence after playback began (the length of the gaps, in frames). */
  missedFrames: number;
  overflows: number;
  driftDrops: number;
}

const QUIET_RMS = 328; // about −40 dBFS
/** Frames over the target that count as a backlog: worked off without waiting for quiet. */
const BACKLOG_FRAMES = 4;
/** The calm needed before a step down never grows beyond a minute. */
const MAX_CALM_FRAMES = 6000;

export class JitterBuffer {
  private readonly queue: Frame[] = [];
  private priming = true;
  private windowMin = Infinity;
  private windowCount = 0;
  private dropPendingFor = -1;
  readonly stats: JitterBufferStats;
  private started = false;
  private target: number;
  private readonly minTarget: number;
  private readonly maxTarget: number;
  /** Frames to gather before playing: the target at the start, one after an underrun. */
  private primeTo: number;
  private calmNeeded: number;
  private calmFrames = 0;
  private calmMinDepth = Infinity;
  private framesSinceStepDown = Infinity;
  private readonly max: number;
  private readonly window: number;
  private readonly quietWait: number;

  constructor(options: JitterBufferOptions = {}) {
    this.target = this.primeTo = options.targetFrames ?? 2;
    this.max = options.maxFrames ?? 8;
    this.minTarget = Math.min(options.minTargetFrames ?? this.target, this.target);
    this.maxTarget = Math.min(Math.max(options.maxTargetFrames ?? this.target, this.target), this.max - 1);
    this.calmNeeded = options.calmFramesToLower ?? 200;
    this.window = options.driftWindowFrames ?? 100;
    this.quietWait = options.quietWaitFrames ?? 50;
    this.stats = { depth: 0, targetFrames: this.target, underruns: 0, missedFrames: 0, overflows: 0, driftDrops: 0 };
  }

  push(frame: Frame): void {
    if (this.queue.length >= this.max) {
      this.queue.shift();
      this.stats.overflows++;
    }
    this.queue.push(frame);
    this.stats.depth = this.queue.length;
  }

  /**
   * The mix skipped ahead after a stall: the frames that piled up meanwhile would all play late,
   * so the oldest go, down to the target (one discontinuity, where the stall already made one).
   */
  dropBacklog(): void {
    while (this.queue.length > this.target) {
      this.queue.shift();
      this.stats.driftDrops++;
    }
    this.stats.depth = this.queue.length;
    this.resetWindow();
  }

  /** The next frame to play, or null for silence (priming, or the peer went quiet). */
  pull(): Frame | null {
    if (this.priming) {
      if (this.queue.length < this.primeTo) {
        if (this.started) this.stats.missedFrames++;
        return null;
      }
      // Nothing has played yet: a backlog from a burst can go now, unheard, instead of being
      // worked off by audible drift drops later.
      while (!this.started && this.queue.length > this.target) {
        this.queue.shift();
        this.stats.driftDrops++;
      }
      this.started = true;
      this.priming = false;
    }
    if (this.queue.length === 0) {
      this.stats.underruns++;
      this.stats.missedFrames++;
      this.priming = true;
      // The late frame is on its way: playing it when it comes is what adds the slack.
      this.primeTo = 1;
      this.raiseTarget();
      this.resetWindow();
      return null;
    }
    this.adaptTarget();
    // A drift drop plays the next two frames as one, morphing from the first into the second:
    // continuous at both ends, where cutting a frame out would click on a steady sound.
    const frame = this.dropDue() ? crossfade(this.queue.shift()!, this.queue.shift()!) : this.queue.shift()!;
    this.stats.depth = this.queue.length;
    return frame;
  }

  get depth(): number {
    return this.queue.length;
  }

  private raiseTarget(): void {
    this.calmFrames = 0;
    this.calmMinDepth = Infinity;
    if (this.target >= this.maxTarget) return;
    this.target++;
    // Stepped down too soon: wait longer before the next try.
    if (this.framesSinceStepDown < this.calmNeeded) this.calmNeeded = Math.min(this.calmNeeded * 2, MAX_CALM_FRAMES);
    this.stats.targetFrames = this.target;
  }

  /**
   * A long calm spell lowers the target, if the buffer never dipped below the target in
   * it (a dip is a frame that came late; one frame less would have been an underrun). The
   * drift drop then takes the spare frame out.
   */
  private adaptTarget(): void {
    this.framesSinceStepDown++;
    if (this.target <= this.minTarget) return;
    this.calmMinDepth = Math.min(this.calmMinDepth, this.queue.length);
    if (++this.calmFrames < this.calmNeeded) return;
    if (this.calmMinDepth >= this.target) {
      this.target--;
      this.framesSinceStepDown = 0;
      this.stats.targetFrames = this.target;
    }
    this.calmFrames = 0;
    this.calmMinDepth = Infinity;
  }

  /** Whether this pull is where a frame goes (drift, or a lowered target); counts it. */
  private dropDue(): boolean {
    if (this.dropPendingFor >= 0) {
      const head = this.queue[0]!;
      if (this.queue.length > this.target && (rms(head) < QUIET_RMS || this.dropPendingFor >= this.quietWait || this.queue.length > this.target + BACKLOG_FRAMES)) {
        this.stats.driftDrops++;
        // A backlog (what piled up while the mix clock skipped a long stall) goes a frame per
        // pull, not one a window: this pull takes two frames out, so go on while it remains.
        this.dropPendingFor = this.queue.length - 2 > this.target + BACKLOG_FRAMES ? 0 : -1;
        return true;
      }
      if (this.queue.length <= this.target) this.dropPendingFor = -1;
      else this.dropPendingFor++;
      return false;
    }
    this.windowMin = Math.min(this.windowMin, this.queue.length);
    if (++this.windowCount >= this.window) {
      if (this.windowMin > this.target) this.dropPendingFor = 0;
      this.resetWindow();
    }
    return false;
  }

  private resetWindow(): void {
    this.windowMin = Infinity;
    this.windowCount = 0;
  }
}

/** One frame that starts as `from` and ends as `to` (a linear crossfade across the frame). */
export function crossfade(from: Frame, to: Frame): Frame {
  const out = new Int16Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) {
    const w = (i + 0.5) / FRAME_SAMPLES;
    out[i] = Math.round(from[i]! * (1 - w) + to[i]! * w);
  }
  return out;
}
