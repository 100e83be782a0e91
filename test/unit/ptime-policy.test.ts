// The automatic packet time: 10 ms in small meshes, 20 ms above four members, back to 10 ms only
// once a shrunk room has settled; a forced setting never changes.
import { describe, expect, it } from 'vitest';
import { AUTO_PTIME_SETTLE_MS, PtimePolicy, parsePtimeSetting } from '../../src/peer/ptime-policy.js';

describe('PtimePolicy', () => {
  it('auto: 10 ms up to four members, 20 ms from the fifth at once', () => {
    const policy = new PtimePolicy('auto');
    expect(policy.reset(2)).toBe(10);
    expect(policy.update(4, 0)).toEqual({ ptimeMs: 10, recheckInMs: null });
    expect(policy.update(5, 1)).toEqual({ ptimeMs: 20, recheckInMs: null });
    expect(policy.ptimeMs).toBe(20);
  });

  it('auto: back to 10 ms only after the room has stayed at four or fewer for the settling time', () => {
    const policy = new PtimePolicy('auto');
    policy.reset(6);
    expect(policy.update(4, 1000)).toEqual({ ptimeMs: 20, recheckInMs: AUTO_PTIME_SETTLE_MS });
    expect(policy.update(3, 4000)).toEqual({ ptimeMs: 20, recheckInMs: AUTO_PTIME_SETTLE_MS - 3000 });
    // Growing again restarts the wait.
    expect(policy.update(5, 5000).ptimeMs).toBe(20);
    expect(policy.update(4, 6000)).toEqual({ ptimeMs: 20, recheckInMs: AUTO_PTIME_SETTLE_MS });
    expect(policy.update(4, 6000 + AUTO_PTIME_SETTLE_MS)).toEqual({ ptimeMs: 10, recheckInMs: null });
  });

  it('a rejoin decides from the room at once, without settling', () => {
    const policy = new PtimePolicy('auto');
    policy.reset(8);
    expect(policy.reset(3)).toBe(10);
    expect(policy.reset(5)).toBe(20);
  });

  it('a forced packet time holds whatever the room does', () => {
    for (const forced of [10, 20] as const) {
      const policy = new PtimePolicy(forced);
      expect(policy.reset(9)).toBe(forced);
      expect(policy.update(2, 0)).toEqual({ ptimeMs: forced, recheckInMs: null });
      expect(policy.update(30, 1)).toEqual({ ptimeMs: forced, recheckInMs: null });
    }
  });

  it('parses the flag, and says what it takes', () => {
    expect(parsePtimeSetting('auto')).toBe('auto');
    expect(parsePtimeSetting('10')).toBe(10);
    expect(parsePtimeSetting('20')).toBe(20);
    expect(() => parsePtimeSetting('15')).toThrow(/auto, 10 or 20/);
  });
});
