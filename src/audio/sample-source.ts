// Plays audio already decoded into memory (48 kHz mono Int16) as 10 ms frames, once or in a
// loop: what WAV files, files ffmpeg decodes and rendered speech become.
import { FRAME_SAMPLES, SAMPLE_RATE, type Frame } from './format.js';
import type { AudioSource } from './backend.js';

export class SampleSource implements AudioSource {
  private position = 0;

  constructor(
    readonly label: string,
    private readonly samples: Int16Array,
    private readonly loop: boolean,
  ) {
    if (samples.length === 0) throw new Error(`${label} holds no audio`);
  }

  get durationSeconds(): number {
    return this.samples.length / SAMPLE_RATE;
  }

  read(): Frame | null {
    if (this.position >= this.samples.length) {
      if (!this.loop) return null;
      this.position = 0;
    }
    const frame = new Int16Array(FRAME_SAMPLES);
    let filled = 0;
    while (filled < FRAME_SAMPLES) {
      const take = Math.min(FRAME_SAMPLES - filled, this.samples.length - this.position);
      frame.set(this.samples.subarray(this.position, this.position + take), filled);
      filled += take;
      this.position += take;
      if (this.position >= this.samples.length) {
        if (!this.loop) break; // the last frame is padded with silence
        this.position = 0;
      }
    }
    return frame;
  }

  async close(): Promise<void> {}
}
