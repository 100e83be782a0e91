import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../../src/audio/format.js';
import { MemorySink } from '../../src/audio/memory-sink.js';

const frameOf = (value: number): Int16Array => new Int16Array(FRAME_SAMPLES).fill(value);
const firstSamples = (sink: MemorySink): number[] => sink.frames.map((frame) => frame[0]!);

describe('MemorySink', () => {
  it('keeps copies of the frames, in order, and joins them into one array', () => {
    const sink = new MemorySink();
    const reused = frameOf(1);
    sink.write(reused);
    reused.fill(2);
    sink.write(reused);
    expect(firstSamples(sink)).toEqual([1, 2]);
    const all = sink.samples();
    expect(all.length).toBe(2 * FRAME_SAMPLES);
    expect(all[0]).toBe(1);
    expect(all[FRAME_SAMPLES]).toBe(2);
  });

  it('keeps at most maxSeconds, dropping the oldest frames', () => {
    const sink = new MemorySink({ maxSeconds: 0.05 });
    expect(sink.capacity).toBe(5);
    for (let i = 1; i <= 12; i++) sink.write(frameOf(i));
    expect(firstSamples(sink)).toEqual([8, 9, 10, 11, 12]);
    expect(sink.droppedFrames).toBe(7);
    expect(sink.droppedFrames + sink.frames.length).toBe(12);
    const all = sink.samples();
    expect(all.length).toBe(5 * FRAME_SAMPLES);
    expect([all[0], all[all.length - 1]]).toEqual([8, 12]);
  });

  it('gives the last seconds on request, never more than it holds', () => {
    const sink = new MemorySink({ maxSeconds: 1 });
    for (let i = 1; i <= 150; i++) sink.write(frameOf(i));
    const last = sink.samples(0.03);
    expect(last.length).toBe(3 * FRAME_SAMPLES);
    expect([last[0], last[last.length - 1]]).toEqual([148, 150]);
    expect(sink.samples(5).length).toBe(100 * FRAME_SAMPLES);
    expect(sink.samples(0).length).toBe(0);
  });

  it('clear forgets everything and then fills again', () => {
    const sink = new MemorySink({ maxSeconds: 0.02 });
    for (let i = 1; i <= 5; i++) sink.write(frameOf(i));
    sink.clear();
    expect(sink.frames).toEqual([]);
    expect(sink.droppedFrames).toBe(0);
    for (let i = 6; i <= 8; i++) sink.write(frameOf(i));
    expect(firstSamples(sink)).toEqual([7, 8]);
  });

  it('refuses a bound that is not a positive number of seconds', () => {
    for (const maxSeconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new MemorySink({ maxSeconds })).toThrow(/maxSeconds/);
  });
});
