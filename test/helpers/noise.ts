// Steady noise of several colours from a seeded generator, so a failure reproduces: the noise
// that speaking detection and noise suppression must not take for a voice.
import { FRAME_SAMPLES, SAMPLE_RATE } from '../../src/audio/format.js';

/** A small seeded generator (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
}

export type NoiseColour = 'white' | 'pink' | 'brown';

/** Gaussian noise of a colour at an RMS level in dBFS, 48 kHz samples. */
export function steadyNoise(colour: NoiseColour, dbfs: number, seconds: number, seed = 1): Int16Array {
  const normal = gaussian(random(seed));
  const samples = new Float64Array(Math.round(seconds * SAMPLE_RATE));
  // Pink by Paul Kellet's filter; brown as leaky integrated white noise.
  let b0 = 0, b1 = 0, b2 = 0, brown = 0;
  for (let i = 0; i < samples.length; i++) {
    const white = normal();
    if (colour === 'white') samples[i] = white;
    else if (colour === 'pink') {
      b0 = 0.99765 * b0 + white * 0.099046;
      b1 = 0.963 * b1 + white * 0.2965164;
      b2 = 0.57 * b2 + white * 1.0526913;
      samples[i] = b0 + b1 + b2 + white * 0.1848;
    } else samples[i] = brown = 0.998 * brown + white;
  }
  return scaleTo(samples, dbfs);
}

/** Samples scaled to an RMS level in dBFS. */
export function scaleTo(samples: Float64Array, dbfs: number): Int16Array {
  const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
  const scale = (32768 * 10 ** (dbfs / 20)) / rms;
  return Int16Array.from(samples, (x) => Math.max(-32768, Math.min(32767, Math.round(x * scale))));
}

/** Consecutive 10 ms frames of `samples` (a partial last frame dropped). */
export function toFrames(samples: Int16Array): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let at = 0; at + FRAME_SAMPLES <= samples.length; at += FRAME_SAMPLES) frames.push(samples.slice(at, at + FRAME_SAMPLES));
  return frames;
}
