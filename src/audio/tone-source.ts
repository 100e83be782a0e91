// A sine at a fixed frequency; −20 dBFS peak by default (a comfortable test level that leaves
// the limiter idle when a few peers are mixed).
import { FRAME_SAMPLES, SAMPLE_RATE, clampToInt16, dbToGain, type Frame } from './format.js';
import type { AudioSource } from './backend.js';

export class ToneSource implements AudioSource {
  readonly label: string;
  private phase = 0;
  private readonly step: number;
  private readonly amplitude: number;

  constructor(readonly frequency: number, levelDbfs = -20) {
    if (!(frequency > 0 && frequency < SAMPLE_RATE / 2)) throw new Error(`tone frequency ${frequency} Hz is outside 0–${SAMPLE_RATE / 2} Hz`);
    this.label = `tone:${frequency}`;
    this.step = (2 * Math.PI * frequency) / SAMPLE_RATE;
    this.amplitude = 32767 * dbToGain(levelDbfs);
  }

  read(): Frame {
    const frame = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      frame[i] = clampToInt16(this.amplitude * Math.sin(this.phase));
      this.phase += this.step;
    }
    // Keep the phase small so precision does not erode over hours.
    this.phase %= 2 * Math.PI;
    return frame;
  }

  async close(): Promise<void> {}
}
