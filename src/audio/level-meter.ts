// A speech-style level meter: RMS per frame, fast attack, slow decay, in dBFS.
import { FRAME_SAMPLES, type Frame } from './format.js';

export class LevelMeter {
  private level = 0;

  update(frame: Frame | null): void {
    let sum = 0;
    if (frame) for (let i = 0; i < FRAME_SAMPLES; i++) sum += frame[i]! * frame[i]!;
    const rms = Math.sqrt(sum / FRAME_SAMPLES);
    // Attack at once, decay by ~20 dB per second (0.977 per 10 ms frame).
    this.level = rms > this.level ? rms : this.level * 0.977;
  }

  get dbfs(): number {
    return this.level < 1 ? -Infinity : Math.round(20 * Math.log10(this.level / 32768) * 10) / 10;
  }
}
