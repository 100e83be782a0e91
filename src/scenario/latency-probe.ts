// Mouth-to-ear latency between two bots of one process, by the benchmark's click method
// (audio/click-timing.ts): the speaker's clicks are logged the moment they are handed to the
// network, the listener's copy the moment that peer's frame is mixed and handed to its output.
// Both ends run on the same clock (performance.now()), so no clock sync is needed.
import { FrameLog, clickDelaysMs, clickTimesMs } from '../audio/click-timing.js';
import { silentFrame, type Frame } from '../audio/format.js';
import type { MixObserver, ObservedInput } from '../audio/mix-observer.js';
import { AT_SPAN_MS, type TimeSpan } from './expectation.js';

/** Logs are bounded: a probe keeps at most this much audio per end (10 minutes, 58 MB). */
export const MAX_LOGGED_FRAMES = 60_000;
/** The longest a click may take to arrive (as in click-timing's matching). */
const EAR_GRACE_MS = 500;

export class LatencyProbe {
  private readonly mouthLog = new FrameLog();
  private readonly earLog = new FrameLog();
  private origin: number | null = null;
  private stoppedAt = Number.POSITIVE_INFINITY;

  constructor(
    readonly speaker: string,
    readonly listener: string,
    private readonly span: TimeSpan,
  ) {}

  startAt(originMs: number): void {
    this.origin = originMs;
  }

  /** The run's end: nothing logged after it (bots leaving). */
  stopAt(atMs: number): void {
    this.stoppedAt = atMs;
  }

  /** Goes on the speaker bot: logs what it sends. */
  readonly mouth: MixObserver = {
    captured: (frame: Frame, atMs: number) => {
      if (this.inSpan(atMs, 0)) this.mouthLog.record(frame, atMs);
    },
  };

  /** Goes on the listener bot: logs the speaker's frame in each tick's mix. */
  readonly ear: MixObserver = {
    mixed: (inputs: readonly ObservedInput[], _mix: Frame, atMs: number) => {
      if (!this.inSpan(atMs, EAR_GRACE_MS)) return;
      const input = inputs.find((i) => i.name === this.speaker);
      this.earLog.record(input?.frame ?? silentFrame(), atMs);
    },
  };

  /** Each click's delay, how many clicks the speaker sent in the span, and whether the span outlasted the logs. */
  result(): { delaysMs: number[]; clicksSent: number; truncated: boolean } {
    return { delaysMs: clickDelaysMs(this.mouthLog, this.earLog), clicksSent: clickTimesMs(this.mouthLog).length, truncated: this.truncated };
  }

  private get truncated(): boolean {
    return this.mouthLog.frames.length >= MAX_LOGGED_FRAMES || this.earLog.frames.length >= MAX_LOGGED_FRAMES;
  }

  /** `graceMs`: how long past the span's end to go on (the ear, for clicks still on their way). */
  private inSpan(atMs: number, graceMs: number): boolean {
    if (this.origin === null || atMs >= this.stoppedAt) return false;
    const t = atMs - this.origin;
    const { span } = this;
    const spanEnd = span.mode === 'from' && span.toMs !== undefined ? span.toMs : span.mode === 'at' ? span.fromMs + AT_SPAN_MS : Number.POSITIVE_INFINITY;
    const end = spanEnd + graceMs;
    const start = span.mode === 'from' || span.mode === 'at' ? span.fromMs : 0;
    return t >= start && t <= end && !this.truncated;
  }
}

/**
 * Several observers as one. It has `mixed` only when one of them has: an engine with a `mixed`
 * observer hands it every member on every tick, which costs in a large room.
 */
export function combineObservers(observers: readonly MixObserver[]): MixObserver {
  const capturing = observers.filter((observer) => observer.captured);
  const mixing = observers.filter((observer) => observer.mixed);
  return {
    ...(capturing.length > 0 ? { captured: (frame: Frame, atMs: number) => capturing.forEach((observer) => observer.captured!(frame, atMs)) } : {}),
    ...(mixing.length > 0 ? { mixed: (inputs: readonly ObservedInput[], mix: Frame, atMs: number) => mixing.forEach((observer) => observer.mixed!(inputs, mix, atMs)) } : {}),
  };
}
