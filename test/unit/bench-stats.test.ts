// The benchmarks' own arithmetic (src/bench/stats.ts), on figures known in advance.
import { describe, expect, it } from 'vitest';
import { missedSince } from '../../src/bench/stats.js';

describe("missedSince (the mesh benchmark's gap frames in its window)", () => {
  it("counts each remote's new gap frames, and all of a restarted remote's", () => {
    const before = new Map([['p1', 10], ['p2', 40]]);
    // p2's link was made anew (its count restarted at 0): its 3 now are all in the window; p3 is new.
    const after = new Map([['p1', 12], ['p2', 3], ['p3', 5]]);
    expect(missedSince(before, after)).toBe(2 + 3 + 5);
    expect(missedSince(before, before)).toBe(0);
  });
});
