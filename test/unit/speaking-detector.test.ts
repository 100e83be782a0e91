// Speaking detection against steady noise of several colours, tones, and speech-like bursts in
// noise: what the member state's `speaking` shows. Synthetic signals from a seeded generator
// (test/helpers/noise.ts).
import FFT from 'fft.js';
import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES, SAMPLE_RATE } from '../../src/audio/format.js';
import { SpeakingDetector } from '../../src/audio/speaking-detector.js';
import { gaussian, random, scaleTo, steadyNoise, toFrames, type NoiseColour } from '../helpers/noise.js';

function noise(colour: NoiseColour, dbfs: number, seconds: number, seed = 1): Int16Array[] {
  return toFrames(steadyNoise(colour, dbfs, seconds, seed));
}

/** White noise cut off sharply at `cutoffHz` (a codec's or a resampler's edge), by inverse FFT. */
function bandLimitedNoise(cutoffHz: number, dbfs: number, seed: number): Int16Array[] {
  const size = 2 ** 19; // about 11 s
  const normal = gaussian(random(seed));
  const fft = new FFT(size);
  const spectrum = fft.createComplexArray();
  const top = Math.round((cutoffHz / SAMPLE_RATE) * size);
  for (let k = 1; k <= top; k++) {
    const [re, im] = [normal(), normal()];
    spectrum[2 * k] = re;
    spectrum[2 * k + 1] = im;
    spectrum[2 * (size - k)] = re;
    spectrum[2 * (size - k) + 1] = -im;
  }
  const signal = fft.createComplexArray();
  fft.inverseTransform(signal, spectrum);
  return toFrames(scaleTo(Float64Array.from({ length: size }, (_, i) => signal[2 * i]!), dbfs));
}

function tone(frequency: number, dbfs: number, seconds: number): Int16Array[] {
  const samples = Float64Array.from({ length: Math.round(seconds * SAMPLE_RATE) }, (_, i) => Math.sin((2 * Math.PI * frequency * i) / SAMPLE_RATE));
  return toFrames(scaleTo(samples, dbfs));
}

function add(a: Int16Array[], b: Int16Array[]): Int16Array[] {
  return a.map((frame, i) => frame.map((x, k) => x + (b[i]?.[k] ?? 0)));
}

/** The detector's state after each frame. */
function states(frames: Int16Array[]): boolean[] {
  const detector = new SpeakingDetector(() => undefined);
  return frames.map((frame) => {
    detector.update(frame);
    return detector.speaking;
  });
}

describe('SpeakingDetector against noise', () => {
  for (const colour of ['white', 'pink', 'brown'] as const) {
    it(`never counts steady ${colour} noise as speaking, loud or soft`, () => {
      for (const [level, seed] of [[-20, 1], [-35, 2]] as const) {
        expect(states(noise(colour, level, 20, seed)).filter(Boolean), `${colour} noise at ${level} dBFS`).toEqual([]);
      }
    });
  }

  it('never counts noise with a sharp edge in its spectrum, wherever the edge is', () => {
    for (const [cutoff, seed] of [[1000, 11], [3400, 12], [8000, 13], [12_000, 14], [20_000, 15]] as const) {
      expect(states(bandLimitedNoise(cutoff, -25, seed)).filter(Boolean), `noise cut off at ${cutoff} Hz`).toEqual([]);
    }
  });

  it('a noise that starts mid-call counts for less than a second, then never again', () => {
    const silence = Array.from({ length: 200 }, () => new Int16Array(FRAME_SAMPLES));
    const speaking = states([...silence, ...noise('white', -30, 10, 3)]);
    const lastSpeaking = speaking.lastIndexOf(true);
    // Onset looks like a talker starting; after half a second of holding steady it is noise, and
    // the hangover (400 ms) ends the turn.
    expect(lastSpeaking - 200).toBeLessThan(100);
  });

  it('counts a tone, also in steady noise 10 dB under it (white or pink), and not one below −45 dBFS', () => {
    for (const frequency of [350, 440, 620, 1000, 3000]) {
      const alone = states(tone(frequency, -30, 3));
      // A tone counts from its second frame (its peak must stay put), speaking from the third.
      expect(alone.indexOf(true), `${frequency} Hz alone`).toBe(2);
      expect(alone.slice(2).every(Boolean), `${frequency} Hz alone`).toBe(true);
      for (const [colour, noiseDbfs] of [['white', -40], ['pink', -40]] as const) {
        const inNoise = states(add(tone(frequency, -30, 3), noise(colour, noiseDbfs, 3, frequency)));
        expect(inNoise.slice(2).every(Boolean), `${frequency} Hz in ${colour} noise`).toBe(true);
      }
    }
    expect(states(tone(440, -50, 3)).some(Boolean)).toBe(false);
  });

  it('counts speech-like bursts 10 dB over steady noise for the whole turn, and ends 400 ms after it', () => {
    const background = noise('pink', -40, 12, 7);
    // Two seconds of noise alone, then syllables (150 ms on, 100 ms off) for 6 s, then noise alone.
    const syllables = noise('white', -30, 12, 8).map((frame, i) => {
      const ms = i * 10;
      const on = ms >= 2000 && ms < 8000 && (ms - 2000) % 250 < 150;
      return on ? frame : new Int16Array(FRAME_SAMPLES);
    });
    const speaking = states(add(background, syllables));
    expect(speaking.slice(0, 200).some(Boolean)).toBe(false);
    expect(speaking.indexOf(true)).toBeLessThanOrEqual(202);
    expect(speaking.slice(202, 800).every(Boolean)).toBe(true);
    // The last syllable ends at 7.9 s: speaking ends 400 ms later (within a frame of smoothing)
    // and stays off.
    expect(speaking.lastIndexOf(true) - 789).toBeGreaterThanOrEqual(39);
    expect(speaking.lastIndexOf(true) - 789).toBeLessThanOrEqual(41);
  });
});
