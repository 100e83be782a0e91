// The file-path latency benchmark's timing code, checked on delays known in advance: the same
// functions and classes the benchmark uses (src/audio/click-timing.ts), fed synthetic frames.
import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES, msToSamples } from '../../src/audio/format.js';
import { FrameLog, clickDelaysMs, clickTimesMs } from '../../src/audio/click-timing.js';
import { clickTemplate } from '../../src/audio/clicks.js';
import { MIN_VALUES_FOR_P95, percentile, summarizeDelays } from '../../src/bench/stats.js';

const CLICK = Int16Array.from(clickTemplate(), Math.round);

/** A continuous signal with a click every 300 ms, each at a different offset within its frame. */
function clickTrain(frames: number): Int16Array {
  const signal = new Int16Array(frames * FRAME_SAMPLES);
  for (let k = 0; ; k++) {
    const at = k * 30 * FRAME_SAMPLES + ((k * 97) % (FRAME_SAMPLES - CLICK.length));
    if (at + CLICK.length > signal.length) return signal;
    signal.set(CLICK, at);
  }
}

/** Cuts a signal into frames, frame i handed over at `handedOverAt(i)`. */
function logOf(signal: Int16Array, handedOverAt: (index: number) => number): FrameLog {
  const log = new FrameLog();
  for (let i = 0; i * FRAME_SAMPLES < signal.length; i++) log.record(signal.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES), handedOverAt(i));
  return log;
}

/** Deterministic timer jitter in [−0.5, 0.5) ms, different for every frame and stream. */
const jitter = (index: number, seed: number): number => (((index * 7919 + seed * 104_729) % 1000) / 1000) - 0.5;

describe('click timing (file-path latency)', () => {
  it('reads a 50 ms delay as 50 ± 2 ms, whatever part of it is samples and whatever part hand-over time', () => {
    const mouthSignal = clickTrain(600);
    const mouth = logOf(mouthSignal, (i) => 1000 + 10 * i + jitter(i, 1));
    // 37 ms of the delay as a shift inside the stream (the click lands later in its frames),
    // 13 ms as frames handed over later: together 50 ms.
    const shifted = new Int16Array(mouthSignal.length);
    shifted.set(mouthSignal.subarray(0, mouthSignal.length - msToSamples(37)), msToSamples(37));
    const ear = logOf(shifted, (i) => 1000 + 10 * i + 13 + jitter(i, 2));

    const delays = clickDelaysMs(mouth, ear);
    expect(delays.length).toBeGreaterThanOrEqual(19);
    for (const delay of delays) expect(Math.abs(delay - 50)).toBeLessThanOrEqual(2);
    const { medianMs, maxMs } = summarizeDelays(delays);
    expect(Math.abs(medianMs - 50)).toBeLessThanOrEqual(2);
    expect(Math.abs(maxMs - 50)).toBeLessThanOrEqual(2);
  });

  it('times mouth and ear alike: a frame handed straight through reads 0 ms', () => {
    const signal = clickTrain(300);
    const times = (i: number): number => 500 + 10 * i;
    const delays = clickDelaysMs(logOf(signal, times), logOf(signal, times));
    expect(delays.length).toBeGreaterThan(5);
    for (const delay of delays) expect(delay).toBeCloseTo(0, 6);
  });

  it('places a click at its frame’s hand-over time plus its offset in the frame', () => {
    const signal = new Int16Array(3 * FRAME_SAMPLES);
    signal.set(CLICK, FRAME_SAMPLES + 240); // 5 ms into the second frame
    const [at] = clickTimesMs(logOf(signal, (i) => 100 + 10 * i));
    expect(at).toBeCloseTo(115, 6);
  });

  it('leaves out clicks the ear never heard and the settling clicks asked for', () => {
    const mouthSignal = clickTrain(300);
    const earSignal = mouthSignal.slice();
    earSignal.fill(0, 60 * FRAME_SAMPLES, 61 * FRAME_SAMPLES); // the third click is lost
    const times = (i: number): number => 10 * i;
    const mouth = logOf(mouthSignal, times);
    const ear = logOf(earSignal, (i) => times(i) + 50);
    const all = clickTimesMs(mouth).length;
    const delays = clickDelaysMs(mouth, ear);
    expect(delays).toHaveLength(all - 1);
    for (const delay of delays) expect(delay).toBeCloseTo(50, 6); // the lost click is not paired with the next one's arrival
    expect(clickDelaysMs(mouth, ear, 3)).toHaveLength(all - 3);
  });
});

describe('delay summary', () => {
  it('gives no p95 below MIN_VALUES_FOR_P95 delays, where the nearest rank would be the maximum', () => {
    const seventeen = Array.from({ length: 17 }, (_, i) => 80 + i);
    expect(percentile(seventeen, 95)).toBe(96); // the maximum
    expect(summarizeDelays(seventeen)).toEqual({ clicks: 17, medianMs: 88, p95Ms: null, maxMs: 96 });
    const twenty = Array.from({ length: MIN_VALUES_FOR_P95 }, (_, i) => 80 + i);
    expect(summarizeDelays(twenty).p95Ms).toBe(98);
  });
});
