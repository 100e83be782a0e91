// Speaking detection from our own captured frames: a voice-activity gate with a fast attack and
// a hangover, so a talker's member state flips on within a few frames and does not flicker off
// in the short pauses between words. Steady noise (a fan, hiss, traffic's rumble) never counts:
// a frame counts as voice only when it is loud enough and either stands out from the noise
// floor across the speech band or carries a tone. Pure: frames in, state changes out.
import { rms } from './analysis.js';
import type { Frame } from './format.js';
import { FrameSpectrum } from './frame-spectrum.js';

export interface SpeakingDetectorOptions {
  /** Frame RMS below this never counts as voice. −45 dBFS clears a quiet room, not a quiet talker. */
  thresholdDbfs?: number;
  /** How far above the noise floor the speech band must be to count without a tone. */
  aboveFloorDb?: number;
  /** Consecutive voice frames before speaking starts (20 ms: one click does not count). */
  attackFrames?: number;
  /** Frames without voice before speaking ends (the pauses between words are shorter). */
  releaseFrames?: number;
}

/** Frames whose band levels are averaged. */
const SMOOTH_FRAMES = 3;
/** The floor is the quietest smoothed level of the last 1.5 s (speech pauses more often)… */
const FLOOR_FRAMES = 150;
/** …or of the last 0.5 s when it held within 4 dB all that time: speech never does, noise does (within 2). */
const STEADY_FRAMES = 50;
const STEADY_SPREAD_DB = 4;
const SILENCE_DB = -90;
/** Frames this far under the gate are silence to the floor, without a spectrum (listeners send zeros). */
const SKIP_BELOW_GATE = 10 ** (-20 / 20);

export class SpeakingDetector {
  private readonly thresholdRms: number;
  private readonly aboveFloorDb: number;
  private readonly attackFrames: number;
  private readonly releaseFrames: number;
  private readonly spectrum = new FrameSpectrum();
  private readonly bandLevels = new Float64Array(SMOOTH_FRAMES);
  /** Smoothed band levels of the last FLOOR_FRAMES frames, a ring. */
  private readonly levels = new Float64Array(FLOOR_FRAMES);
  private frames = 0;
  private voiceRun = 0;
  private quietRun = 0;
  /** The noise floor, in FrameSpectrum's band level: what the capture is when nobody talks. */
  noiseFloorDb = SILENCE_DB;
  speaking = false;

  constructor(
    private readonly onChange: (speaking: boolean) => void,
    options: SpeakingDetectorOptions = {},
  ) {
    this.thresholdRms = 32768 * 10 ** ((options.thresholdDbfs ?? -45) / 20);
    this.aboveFloorDb = options.aboveFloorDb ?? 6;
    this.attackFrames = options.attackFrames ?? 2;
    this.releaseFrames = options.releaseFrames ?? 40;
  }

  update(frame: Frame): void {
    const frameRms = rms(frame);
    const { bandDb, tonal } = frameRms < this.thresholdRms * SKIP_BELOW_GATE ? { bandDb: SILENCE_DB, tonal: false } : this.spectrum.analyse(frame);
    const level = this.smooth(bandDb);
    this.noiseFloorDb = this.trackFloor(level);
    const voice = frameRms >= this.thresholdRms && (tonal || level >= this.noiseFloorDb + this.aboveFloorDb);
    if (voice) {
      this.voiceRun++;
      this.quietRun = 0;
    } else {
      this.quietRun++;
      this.voiceRun = 0;
    }
    if (!this.speaking && this.voiceRun >= this.attackFrames) this.set(true);
    else if (this.speaking && this.quietRun >= this.releaseFrames) this.set(false);
  }

  /** The band level averaged over the last SMOOTH_FRAMES frames. */
  private smooth(bandDb: number): number {
    const levels = this.bandLevels;
    // The first frame fills the history, as if the capture had sounded like it before.
    if (this.frames === 0) levels.fill(bandDb);
    levels[this.frames % SMOOTH_FRAMES] = bandDb;
    let sum = 0;
    for (const level of levels) sum += level;
    return sum / SMOOTH_FRAMES;
  }

  /**
   * Minimum statistics: the quietest level of the last 1.5 s, so a noise present from the first
   * frame never counts; a level that held steady for the last 0.5 s is the floor at once, so a
   * noise that starts mid-call stops counting after half a second.
   */
  private trackFloor(level: number): number {
    const levels = this.levels;
    if (this.frames === 0) levels.fill(level);
    levels[this.frames % FLOOR_FRAMES] = level;
    this.frames++;
    let floor = Infinity;
    let recentLow = Infinity;
    let recentHigh = -Infinity;
    for (let age = 0; age < FLOOR_FRAMES; age++) {
      const past = levels[(this.frames - 1 - age + FLOOR_FRAMES) % FLOOR_FRAMES]!;
      if (past < floor) floor = past;
      if (age < STEADY_FRAMES) {
        if (past < recentLow) recentLow = past;
        if (past > recentHigh) recentHigh = past;
      }
    }
    return recentHigh - recentLow <= STEADY_SPREAD_DB ? recentLow : floor;
  }

  private set(speaking: boolean): void {
    this.speaking = speaking;
    this.onChange(speaking);
  }
}
