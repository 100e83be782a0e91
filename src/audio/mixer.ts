// The mix: sums each remote peer's frame with its own gain, ramped across the frame so that a
// volume change never clicks, then limits the sum so a loud room never wraps around. Pure.
// Mono, or stereo in spatial rooms: each peer's mono frame with a gain per side (its volume,
// distance and pan), both ramped, into interleaved L R samples.
import { FRAME_SAMPLES, SAMPLE_RATE, clampToInt16, type Frame, type MixFrame } from './format.js';
import { PeakLimiter } from './limiter.js';

export const MAX_GAIN = 2; // 200 %

/** A gain that moves to its target linearly over one 10 ms frame: fast, yet click-free. */
export class SmoothedGain {
  private current: number;
  private target: number;

  constructor(initial = 1) {
    this.current = clampGain(initial);
    this.target = this.current;
  }

  set(value: number): void {
    this.target = clampGain(value);
  }

  get value(): number {
    return this.target;
  }

  /** Gains at the start and end of the next frame; advances to the target. */
  advance(): { from: number; to: number } {
    const from = this.current;
    this.current = this.target;
    return { from, to: this.target };
  }
}

function clampGain(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(MAX_GAIN, Math.max(0, value));
}

export interface MixInput {
  frame: Frame;
  gain: SmoothedGain;
}

export class Mixer {
  private readonly sum = new Float32Array(FRAME_SAMPLES);
  readonly limiter = new PeakLimiter();

  /** Mixes one frame's inputs into a new output frame. */
  mix(inputs: readonly MixInput[]): Frame {
    const sum = this.sum;
    sum.fill(0);
    for (const { frame, gain } of inputs) {
      const { from, to } = gain.advance();
      if (from === to) {
        if (to === 0) continue;
        for (let i = 0; i < FRAME_SAMPLES; i++) sum[i] += frame[i]! * to;
        continue;
      }
      const step = (to - from) / FRAME_SAMPLES;
      let g = from;
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        g += step;
        sum[i] += frame[i]! * g;
      }
    }
    this.limiter.process(sum);
    const out = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) out[i] = clampToInt16(sum[i]!);
    return out;
  }
}

export interface StereoMixInput {
  frame: Frame;
  left: SmoothedGain;
  right: SmoothedGain;
}

export class StereoMixer {
  private readonly sum = new Float32Array(2 * FRAME_SAMPLES);
  // Interleaved samples come twice as fast: at twice the rate, its release takes the same time.
  // One gain for both sides, so a loud left never shifts the image to the right.
  readonly limiter = new PeakLimiter(-1, 80, 2 * SAMPLE_RATE);

  /** Mixes one frame's inputs into a new interleaved stereo frame. */
  mix(inputs: readonly StereoMixInput[]): MixFrame {
    const sum = this.sum;
    sum.fill(0);
    for (const { frame, left, right } of inputs) {
      const l = left.advance();
      const r = right.advance();
      if (l.from === l.to && r.from === r.to) {
        if (l.to === 0 && r.to === 0) continue;
        const gl = l.to;
        const gr = r.to;
        for (let i = 0, j = 0; i < FRAME_SAMPLES; i++, j += 2) {
          const sample = frame[i]!;
          sum[j] += sample * gl;
          sum[j + 1] += sample * gr;
        }
        continue;
      }
      const stepL = (l.to - l.from) / FRAME_SAMPLES;
      const stepR = (r.to - r.from) / FRAME_SAMPLES;
      let gl = l.from;
      let gr = r.from;
      for (let i = 0, j = 0; i < FRAME_SAMPLES; i++, j += 2) {
        gl += stepL;
        gr += stepR;
        const sample = frame[i]!;
        sum[j] += sample * gl;
        sum[j + 1] += sample * gr;
      }
    }
    this.limiter.process(sum);
    const out = new Int16Array(2 * FRAME_SAMPLES);
    for (let j = 0; j < 2 * FRAME_SAMPLES; j++) out[j] = clampToInt16(sum[j]!);
    return out;
  }
}
