// The benchmarks' own arithmetic (src/bench/stats.ts), on figures known in advance.
import { describe, expect, it } from 'vitest';
import { cpuPercentOver, missedSince } from '../../src/bench/stats.js';

describe("missedSince (the mesh benchmark's gap frames in its window)", () => {
  it("counts each remote's new gap frames, and all of a restarted remote's", () => {
    const before = new Map([['p1', 10], ['p2', 40]]);
    // p2's link was made anew (its count restarted at 0): its 3 now are all in the window; p3 is new.
    const after = new Map([['p1', 12], ['p2', 3], ['p3', 5]]);
    expect(missedSince(before, after)).toBe(2 + 3 + 5);
    expect(missedSince(before, before)).toBe(0);
  });
});

describe('cpuPercentOver (a load process\'s CPU over a window of its per-second samples)', () => {
  const samples = [0, 1000, 2000, 3000, 4000].map((receivedAt, i) => ({ receivedAt, cpuPercent: [99, 10, 20, 30, 40][i]! }));
  it('weights each sample by the part of its second inside the window', () => {
    // The first sample covers the time before it (none here): only its time counts.
    expect(cpuPercentOver(samples, 0, 4000)).toBe(25);
    expect(cpuPercentOver(samples, 1000, 3000)).toBe(25);
    // Half of the second sample's second, all of the third's: (20 * 0.5 + 30) / 1.5.
    expect(cpuPercentOver(samples, 1500, 3000)).toBeCloseTo(26.67, 2);
  });
  it('is 0 for a window no sample covers', () => {
    expect(cpuPercentOver(samples, 5000, 6000)).toBe(0);
    expect(cpuPercentOver([], 0, 1000)).toBe(0);
  });
});
