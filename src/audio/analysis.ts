// Signal analysis used by tests, benchmarks and level meters. Pure.

/** A Hann window of `n` points, for callers that analyse many blocks of one size. */
export function hannWindow(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
}

/**
 * Amplitude (same units as the samples, peak) of the component at `frequency`, by Goertzel.
 * `window`: a precomputed Hann window of the samples' length (saves a cosine per sample).
 */
export function toneAmplitude(samples: ArrayLike<number>, frequency: number, sampleRate = 48_000, window?: Float32Array): number {
  const n = samples.length;
  if (n === 0) return 0;
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    // Hann window: keeps leakage from the other tones out of the measurement.
    const w = window ? window[i]! : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const s0 = samples[i]! * w + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
  // Hann's coherent gain is 0.5: amplitude = 2·|X| / (0.5·n).
  return (2 * Math.sqrt(Math.max(0, power))) / (0.5 * n);
}

/**
 * Level of a tone that tolerates phase jumps: Goertzel over 100 ms blocks, power-averaged.
 * A single coherent window over a second loses dB when the stream skips a frame (a jitter
 * buffer drop shifts the phase); a listener does not hear that as quieter, so neither do we.
 */
export function toneLevel(samples: ArrayLike<number>, frequency: number, sampleRate = 48_000): number {
  const block = Math.round(sampleRate / 10);
  const blocks = Math.floor(samples.length / block);
  if (blocks === 0) return toneAmplitude(samples, frequency, sampleRate);
  let power = 0;
  for (let b = 0; b < blocks; b++) {
    const view = Array.prototype.slice.call(samples, b * block, (b + 1) * block) as number[];
    power += toneAmplitude(view, frequency, sampleRate) ** 2;
  }
  return Math.sqrt(power / blocks);
}

export function rms(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i]! * samples[i]!;
  return to > from ? Math.sqrt(sum / (to - from)) : 0;
}

/** Level in dBFS of an Int16 RMS value (−Infinity for silence). */
export function dbfs(rmsValue: number): number {
  return 20 * Math.log10(rmsValue / 32768);
}

/** The longest run of 10 ms frames below −50 dBFS RMS, in ms: how long a mix went silent. */
export function longestSilenceMs(frames: readonly Int16Array[], frameMs = 10): number {
  const quietRms = 32768 * 10 ** (-50 / 20);
  let longest = 0;
  let run = 0;
  for (const frame of frames) {
    run = rms(frame) < quietRms ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest * frameMs;
}
