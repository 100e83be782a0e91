// How a click is timed from mouth to ear (the latency benchmark and latency expectations), kept
// apart from WebRTC so that a test can run the very same code on a known delay.
//
// One convention at both ends: a click happens at the moment the frame holding it is handed
// over (the mouth's frame returned by the source to the engine, which sends it in the same
// tick; the ear's frame written to the sink), plus the click's offset within that frame. Both
// ends find their clicks the same way, by cross-correlation over the frames they logged, so
// any bias in the detection cancels.
import type { AudioSink, AudioSource } from './backend.js';
import { FRAME_MS, FRAME_SAMPLES, samplesToMs, type Frame } from './format.js';
import { clickTemplate, findClicks } from './clicks.js';

/** Correlation a stretch of signal needs with the click template to count as a click. */
const CLICK_THRESHOLD = 0.6;
/** A mouth click with no ear click this soon after it counts as lost. */
const MAX_DELAY_MS = 500;

/** Frames in the order they were handed over, each with the time (ms, performance.now()) it was. */
export class FrameLog {
  readonly frames: Frame[] = [];
  readonly handedOverAtMs: number[] = [];

  record(frame: Frame, handedOverAtMs: number): void {
    this.frames.push(frame.slice());
    this.handedOverAtMs.push(handedOverAtMs);
  }
}

/** The time of every click in a log: its frame's hand-over time plus its offset in the frame. */
export function clickTimesMs(log: FrameLog): number[] {
  const signal = new Float32Array(log.frames.length * FRAME_SAMPLES);
  log.frames.forEach((frame, index) => signal.set(frame, index * FRAME_SAMPLES));
  return findClicks(signal, clickTemplate(), CLICK_THRESHOLD).map((position) => {
    const frameIndex = Math.floor(position / FRAME_SAMPLES);
    return log.handedOverAtMs[frameIndex]! + samplesToMs(position % FRAME_SAMPLES);
  });
}

/**
 * For each mouth click, the delay to the first ear click after it and before the next mouth
 * click: an ear click belongs to the latest click sent before it, so a lost click is left out
 * instead of being paired with its successor's arrival. Delays must therefore be shorter than
 * the click period (and than MAX_DELAY_MS).
 */
export function matchDelaysMs(mouthMs: readonly number[], earMs: readonly number[]): number[] {
  const delays: number[] = [];
  mouthMs.forEach((sent, index) => {
    const nextSent = mouthMs[index + 1] ?? Number.POSITIVE_INFINITY;
    const heard = earMs.find((at) => at >= sent && at < nextSent && at - sent < MAX_DELAY_MS);
    if (heard !== undefined) delays.push(heard - sent);
  });
  return delays;
}

/** Mouth-to-ear delay of each click after the first `skipClicks` (the connection settling). */
export function clickDelaysMs(mouth: FrameLog, ear: FrameLog, skipClicks = 0): number[] {
  return matchDelaysMs(clickTimesMs(mouth).slice(skipClicks), clickTimesMs(ear));
}

/**
 * The mouth: a click at the start of every `periodFrames`-th frame. With `log` each frame is
 * logged as it is read (a benchmark's mouth); a bot's clicks are logged where they are sent.
 */
export class ClickSource implements AudioSource {
  readonly label: string;
  readonly log = new FrameLog();
  private frameIndex = 0;
  private readonly click = Int16Array.from(clickTemplate(), Math.round);

  constructor(
    private readonly periodFrames: number,
    private readonly options: { log?: boolean } = { log: true },
  ) {
    this.label = `clicks:${periodFrames * FRAME_MS}`;
  }

  read(): Frame {
    const frame = new Int16Array(FRAME_SAMPLES);
    if (this.frameIndex++ % this.periodFrames === 0) frame.set(this.click);
    if (this.options.log) this.log.record(frame, performance.now());
    return frame;
  }

  async close(): Promise<void> {}
}

/** The ear: logs every frame written to it, with the time it was written. */
export class LoggingSink implements AudioSink {
  readonly label = 'logging';
  readonly log = new FrameLog();

  write(frame: Frame): void {
    this.log.record(frame, performance.now());
  }

  async close(): Promise<void> {}
}
