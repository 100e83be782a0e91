// Peak limiter for the mix: instant attack (the gain drops to exactly what keeps a sample under
// the ceiling, so nothing can wrap or clip), smooth exponential release back to unity. No
// look-ahead: it would add latency, and instant attack already guarantees the ceiling.
import { dbToGain } from './format.js';

/** A gain this close to 1 counts as released (idle). */
const RELEASED = 1e-6;

export class PeakLimiter {
  private gain = 1;
  /** The highest magnitude let through, in full-scale units (32767 · −1 dBFS by default). */
  readonly ceiling: number;
  private readonly releasePerSample: number;

  constructor(ceilingDbfs = -1, releaseMs = 80, sampleRate = 48_000) {
    this.ceiling = 32767 * dbToGain(ceilingDbfs);
    // Per-sample multiplier that closes ~63 % of the gap to unity in releaseMs.
    this.releasePerSample = 1 - Math.exp(-1 / ((releaseMs / 1000) * sampleRate));
  }

  /** Limits `samples` (full-scale ±32768 floats) in place. */
  process(samples: Float32Array): void {
    // Fast path, the common case: idle and nothing reaches the ceiling.
    if (this.gain === 1) {
      let peak = 0;
      for (let i = 0; i < samples.length; i++) {
        const magnitude = samples[i]! < 0 ? -samples[i]! : samples[i]!;
        if (magnitude > peak) peak = magnitude;
      }
      if (peak <= this.ceiling) return;
    }
    let gain = this.gain;
    for (let i = 0; i < samples.length; i++) {
      const magnitude = Math.abs(samples[i]!);
      gain += (1 - gain) * this.releasePerSample;
      // Instant attack: never more gain than keeps this sample at the ceiling.
      if (magnitude * gain > this.ceiling) gain = this.ceiling / magnitude;
      samples[i] = samples[i]! * gain;
    }
    // The release only approaches 1: its last steps are smaller than a float's resolution near 1,
    // so without this the limiter would never be idle again after its first peak (and every
    // later frame would take this per-sample path instead of the fast one). 1e-6 is −0.00001 dB.
    this.gain = 1 - gain < RELEASED ? 1 : gain;
  }

  /** Not reducing: a block whose peak stays under the ceiling would pass unchanged. */
  get idle(): boolean {
    return this.gain === 1;
  }

  /** Current gain reduction in dB (0 when idle), for status output. */
  get reductionDb(): number {
    return -20 * Math.log10(this.gain);
  }
}
