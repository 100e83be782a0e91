// Speaking detection from the level of our own captured frames: a voice-activity gate with a
// fast attack and a hangover, so a talker's member state flips on within a few frames and does
// not flicker off in the short pauses between words. Pure: frames in, state changes out.
import { FRAME_SAMPLES, type Frame } from './format.js';

export interface SpeakingDetectorOptions {
  /** Frame RMS at or above this counts as voice. −45 dBFS clears room noise, not a quiet talker. */
  thresholdDbfs?: number;
  /** Consecutive loud frames before speaking starts (20 ms: one click does not count). */
  attackFrames?: number;
  /** Quiet frames before speaking ends (the pauses between words are shorter). */
  releaseFrames?: number;
}

export class SpeakingDetector {
  private readonly thresholdRms: number;
  private readonly attackFrames: number;
  private readonly releaseFrames: number;
  private loudRun = 0;
  private quietRun = 0;
  speaking = false;

  constructor(
    private readonly onChange: (speaking: boolean) => void,
    options: SpeakingDetectorOptions = {},
  ) {
    this.thresholdRms = 32768 * 10 ** ((options.thresholdDbfs ?? -45) / 20);
    this.attackFrames = options.attackFrames ?? 2;
    this.releaseFrames = options.releaseFrames ?? 40;
  }

  update(frame: Frame): void {
    let sum = 0;
    for (let i = 0; i < FRAME_SAMPLES; i++) sum += frame[i]! * frame[i]!;
    const loud = Math.sqrt(sum / FRAME_SAMPLES) >= this.thresholdRms;
    if (loud) {
      this.loudRun++;
      this.quietRun = 0;
    } else {
      this.quietRun++;
      this.loudRun = 0;
    }
    if (!this.speaking && this.loudRun >= this.attackFrames) this.set(true);
    else if (this.speaking && this.quietRun >= this.releaseFrames) this.set(false);
  }

  private set(speaking: boolean): void {
    this.speaking = speaking;
    this.onChange(speaking);
  }
}
