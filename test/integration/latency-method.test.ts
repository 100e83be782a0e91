// The file-path latency benchmark's method in real time: its own mouth (ClickSource) and ear
// (LoggingSink) and its timing code, with a sink between them that delays by a fixed 50 ms.
// No network and no codec: what it reads is the method's error alone, plus timer lateness.
import { describe, expect, it } from 'vitest';
import type { AudioSink } from '../../src/audio/backend.js';
import type { Frame } from '../../src/audio/format.js';
import { ClickSource, LoggingSink, clickDelaysMs } from '../../src/audio/click-timing.js';
import { summarizeDelays } from '../../src/bench/stats.js';

const DELAY_MS = 50;

/** Hands every frame on to `next` a fixed time after it was written. */
class DelayingSink implements AudioSink {
  readonly label = 'delaying';
  constructor(
    private readonly next: AudioSink,
    private readonly delayMs: number,
  ) {}
  write(frame: Frame): void {
    const copy = frame.slice();
    setTimeout(() => this.next.write(copy), this.delayMs);
  }
  async close(): Promise<void> {}
}

describe('file-path latency method', () => {
  it(`reads a sink that delays by ${DELAY_MS} ms as ${DELAY_MS} ± 2 ms`, async () => {
    const mouth = new ClickSource(10); // a click every 100 ms
    const ear = new LoggingSink();
    const sink = new DelayingSink(ear, DELAY_MS);
    // A 10 ms frame loop as in the engine: read a frame from the mouth, hand it to the sink at once.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        sink.write(mouth.read());
        if (mouth.log.frames.length >= 300) {
          clearInterval(timer);
          setTimeout(resolve, 2 * DELAY_MS);
        }
      }, 10);
    });
    const delays = clickDelaysMs(mouth.log, ear.log, 2);
    const { clicks, medianMs } = summarizeDelays(delays);
    expect(clicks).toBe(28);
    // A timer fires on time or a little late, never early: the median shows how little.
    expect(Math.abs(medianMs - DELAY_MS)).toBeLessThanOrEqual(2);
  });
});
