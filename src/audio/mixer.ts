// The mix: sums each remote peer's frame with its own gain, ramped across the frame so that a
// volume change never clicks, then limits the sum so a loud room never wraps around. Pure.
// Mono, or stereo in spatial rooms: each peer's mono frame with a gain per side (its volume,
// distance and pan), both ramped, into interleaved L R samples.
import { FRAME_SAMPLES, SAMPLE_RATE, type Frame, type MixFrame } from './format.js';
import { PeakLimiter } from './limiter.js';
import { MixKernel } from './wasm/mix-kernel.js';

export const MAX_GAIN = 2; // 200 %

/** A gain that moves to its target linearly over one 10 ms frame: fast, yet click-free. */
export class SmoothedGain {
  private current: number;
  private target: number;
  private start: number;

  constructor(initial = 1) {
    this.current = clampGain(initial);
    this.target = this.current;
    this.start = this.current;
  }

  set(value: number): void {
    this.target = clampGain(value);
  }

  get value(): number {
    return this.target;
  }

  /** The gain at the start of the frame last advanced over. */
  get from(): number {
    return this.start;
  }

  /** The gain at the end of the frame last advanced over. */
  get to(): number {
    return this.current;
  }

  /**
   * Moves over one frame, from `from` to `to`; then the target holds. Sets fields rather than
   * returning a pair: it runs for every remote peer on every tick, and a load process has
   * thousands of them.
   */
  advance(): void {
    this.start = this.current;
    this.current = this.target;
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
  // The sum and the output frame run in WebAssembly SIMD (wasm/mix.wat), as the stereo mix's
  // sum does: in JavaScript, mixing 4 inputs took about 16 µs a frame on this machine, and a
  // load process of 36 listeners runs 3600 of them a second (src/bench/mixer.ts measures both).
  private readonly kernel = MixKernel.shared();
  readonly limiter = new PeakLimiter();

  /** Mixes one frame's inputs into a new output frame. */
  mix(inputs: readonly MixInput[]): Frame {
    const kernel = this.kernel;
    let count = 0;
    for (const { frame, gain } of inputs) {
      gain.advance();
      if (gain.from === 0 && gain.to === 0) continue;
      // The gain moves linearly across the frame to its new value: a volume change never clicks.
      kernel.setInput(count++, frame, gain.from, (gain.to - gain.from) / FRAME_SAMPLES, 0, 0);
    }
    const peak = kernel.mixMono(count);
    // The common case: nothing to limit, and the kernel has written the frame.
    if (this.limiter.idle && peak <= this.limiter.ceiling) return kernel.monoOut.slice();
    const sum = kernel.sumLeft;
    this.limiter.process(sum);
    const out = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) out[i] = roundAwayFromZero(sum[i]!);
    return out;
  }
}

/** For an Int16Array store: clamped, and rounded half away from zero (as the kernel rounds). */
function roundAwayFromZero(sample: number): number {
  if (sample >= 32767) return 32767;
  if (sample <= -32768) return -32768;
  // The Int16Array store truncates toward zero (cheaper than Math.round).
  return sample < 0 ? sample - 0.5 : sample + 0.5;
}

export interface StereoMixInput {
  frame: Frame;
  left: SmoothedGain;
  right: SmoothedGain;
}

export class StereoMixer {
  // The sum runs in WebAssembly SIMD (wasm/mix.wat), four samples per instruction: in
  // JavaScript, even planar float64 sums taking four inputs per pass left a 16-peer spatial mix
  // short of 300× real time on this machine (src/bench/mixer.ts measures the mix).
  private readonly kernel = MixKernel.shared();
  private readonly interleaved = new Float32Array(2 * FRAME_SAMPLES);
  // Interleaved samples come twice as fast: at twice the rate, its release takes the same time.
  // One gain for both sides, so a loud left never shifts the image to the right.
  readonly limiter = new PeakLimiter(-1, 80, 2 * SAMPLE_RATE);

  /** Mixes one frame's inputs into a new interleaved stereo frame. */
  mix(inputs: readonly StereoMixInput[]): MixFrame {
    const kernel = this.kernel;
    let count = 0;
    for (const { frame, left, right } of inputs) {
      left.advance();
      right.advance();
      if (left.from === 0 && left.to === 0 && right.from === 0 && right.to === 0) continue;
      // Each gain moves linearly across the frame to its new value (no clicks as people walk).
      kernel.setInput(count++, frame, left.from, (left.to - left.from) / FRAME_SAMPLES, right.from, (right.to - right.from) / FRAME_SAMPLES);
    }
    kernel.mix(count);
    const sumL = kernel.sumLeft;
    const sumR = kernel.sumRight;
    const out = new Int16Array(2 * FRAME_SAMPLES);
    if (this.limiter.idle) {
      // The common case: nothing to limit. Written out while the peak is measured, in one pass;
      // under the ceiling no sample needs clamping, only rounding.
      let peak = 0;
      for (let i = 0, j = 0; i < FRAME_SAMPLES; i++, j += 2) {
        const l = sumL[i]!;
        const r = sumR[i]!;
        const ml = l < 0 ? -l : l;
        const mr = r < 0 ? -r : r;
        if (ml > peak) peak = ml;
        if (mr > peak) peak = mr;
        // Rounded half away from zero; the Int16Array store truncates (cheaper than Math.round).
        out[j] = l < 0 ? l - 0.5 : l + 0.5;
        out[j + 1] = r < 0 ? r - 0.5 : r + 0.5;
      }
      if (peak <= this.limiter.ceiling) return out;
    }
    const both = this.interleaved;
    for (let i = 0, j = 0; i < FRAME_SAMPLES; i++, j += 2) {
      both[j] = sumL[i]!;
      both[j + 1] = sumR[i]!;
    }
    this.limiter.process(both);
    for (let j = 0; j < 2 * FRAME_SAMPLES; j++) out[j] = roundAwayFromZero(both[j]!);
    return out;
  }
}

