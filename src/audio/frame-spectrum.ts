// One 10 ms frame's spectrum, for speaking detection: the level of the speech band, and whether
// the frame carries a tone — a spectral peak standing well above the spectrum on both of its
// sides, in this frame and the one before. Noise of any colour is smooth across a few bins and
// its chance peaks do not stay put; a test tone or a bot's beep has one that does. Pure.
import FFT from 'fft.js';
import { hannWindow } from './analysis.js';
import { FRAME_SAMPLES, SAMPLE_RATE, type Frame } from './format.js';

const SIZE = 1024; // the 480-sample frame, zero-padded: 46.9 Hz per bin
const HZ_PER_BIN = SAMPLE_RATE / SIZE;
/** The speech band, 150 Hz – 4 kHz: where a voice raises the spectrum above steady noise. */
const BAND_LOW = Math.round(150 / HZ_PER_BIN);
const BAND_HIGH = Math.round(4000 / HZ_PER_BIN);
/** A bin's power floor, so digital silence has a level (−90 dB under a full-scale bin). */
const SILENT_BIN = 1e-9;
/** A tone's main lobe with a Hann window spans ±4.3 of these bins; its sides are 6 to 14 bins away. */
const SIDE_NEAR = 6;
const SIDE_FAR = 14;
/** Lowest bin searched (about 330 Hz, under the lowest tones voxroom's tests send). */
const LOWEST_BIN = SIDE_NEAR + 1;
/** Fewest bins a side needs to count; lower peaks are judged by the side above only. */
const SIDE_MIN_BINS = 4;
/**
 * How far a peak must stand out. Against the geometric mean of its sides' mean powers — the noise
 * expected at the peak when the spectrum slopes, as pink or brown noise does — 15 dB; and 10 dB
 * above the louder side, so the edge of band-limited noise (a codec's cut-off) is no peak. A tone
 * 10 dB over pink noise at 620 Hz stands about 17 dB above it. With one side only (the lowest
 * bins), 20 dB above it: brown noise falls by up to 8 dB across a side. Noise still passes now
 * and then (see hasPeak).
 */
const OVER_SIDES = 10 ** 1.5;
const OVER_LOUDER_SIDE = 10;
const OVER_ONE_SIDE = 100;

export interface FrameAnalysis {
  /**
   * The speech band's mean log power per bin, in dB relative to a full-scale bin. A mean of logs,
   * not the log of a sum: however the noise is coloured, it varies by a standard deviation of
   * about 1.1 dB from frame to frame (each bin's log varies alike, and 80 of them are averaged;
   * measured on white, pink and brown noise), where the summed power of brown noise swings by
   * 9 dB. A voice raises most of the band's bins.
   */
  bandDb: number;
  tonal: boolean;
}

export class FrameSpectrum {
  private readonly fft = new FFT(SIZE);
  private readonly windowed = new Float64Array(SIZE);
  private readonly spectrum = this.fft.createComplexArray();
  private readonly power = new Float64Array(SIZE / 2 + 1);
  private readonly window = hannWindow(FRAME_SAMPLES);
  /** Bins that stood out as peaks in the frame before this one, and in this one. */
  private previousPeaks = new Uint8Array(SIZE / 2 + 1);
  private peaks = new Uint8Array(SIZE / 2 + 1);
  /** The power of a full-scale sine's peak bin with this window and size. */
  private readonly fullScaleBin = (32768 * this.window.reduce((sum, w) => sum + w, 0)) ** 2 / 4;

  analyse(frame: Frame): FrameAnalysis {
    const windowed = this.windowed;
    for (let i = 0; i < FRAME_SAMPLES; i++) windowed[i] = frame[i]! * this.window[i]!;
    this.fft.realTransform(this.spectrum, windowed);
    const power = this.power;
    for (let k = 0; k <= SIZE / 2; k++) power[k] = this.spectrum[2 * k]! ** 2 + this.spectrum[2 * k + 1]! ** 2;
    let logSum = 0;
    for (let k = BAND_LOW; k <= BAND_HIGH; k++) logSum += Math.log10(Math.max(SILENT_BIN, power[k]! / this.fullScaleBin));
    return { bandDb: (10 * logSum) / (BAND_HIGH - BAND_LOW + 1), tonal: this.hasPeak() };
  }

  /**
   * A peak at a bin where the frame before had one too (±1 bin, for a tone between two bins):
   * the sides of a narrow band of noise are only a few independent bins, so a chance peak that
   * passes the ratios comes about once in a thousand frames, and again at the same bin hardly ever.
   */
  private hasPeak(): boolean {
    [this.previousPeaks, this.peaks] = [this.peaks, this.previousPeaks];
    const peaks = this.peaks;
    peaks.fill(0);
    let lasting = false;
    const power = this.power;
    for (let k = LOWEST_BIN; k + SIDE_FAR <= SIZE / 2; k++) {
      const peak = power[k]!;
      if (peak < power[k - 1]! || peak < power[k + 1]!) continue;
      const above = sideMean(power, k + SIDE_NEAR, k + SIDE_FAR);
      const belowFrom = Math.max(1, k - SIDE_FAR);
      let standsOut: boolean;
      if (k - SIDE_NEAR - belowFrom + 1 < SIDE_MIN_BINS) standsOut = peak > OVER_ONE_SIDE * above;
      else {
        const below = sideMean(power, belowFrom, k - SIDE_NEAR);
        standsOut = peak > OVER_SIDES * Math.sqrt(below * above) && peak > OVER_LOUDER_SIDE * Math.max(below, above);
      }
      if (!standsOut) continue;
      peaks[k] = 1;
      if (this.previousPeaks[k - 1] || this.previousPeaks[k] || this.previousPeaks[k + 1]) lasting = true;
    }
    return lasting;
  }
}

function sideMean(power: Float64Array, from: number, to: number): number {
  let sum = 0;
  for (let k = from; k <= to; k++) sum += power[k]!;
  return sum / (to - from + 1);
}
