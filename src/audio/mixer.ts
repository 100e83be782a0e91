// The mix: sums each remote peer's frame with its own gain, ramped across the frame so that a
// volume change never clicks, then limits the sum so a loud room never wraps around. Pure.
import { FRAME_SAMPLES, clampToInt16, type Frame } from './format.js';
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
