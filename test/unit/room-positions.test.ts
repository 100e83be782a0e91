// Which moves the server accepts in a spatial room, and how often it tells the room (pure parts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LIMITS, RoomLayoutSchema } from '../../src/protocol.js';
import { MemberMotion, SlidingWindowLimit, applyMove, entryPosition, normalizeFacing } from '../../src/server/room-positions.js';
import { ThrottledAnnouncer } from '../../src/server/throttled-announcer.js';

const layout = RoomLayoutSchema.parse({ width: 20, height: 10, spots: [{ name: 'door', x: 0, y: 5 }, { name: 'window', x: 20, y: 0 }], entry: 'door' });
const here = { x: 10, y: 5, facing: 0 };

describe('entry', () => {
  it('at the entry spot, a named spot, or a point inside; clear codes otherwise', () => {
    expect(entryPosition(layout)).toEqual({ ok: true, position: { x: 0, y: 5, facing: 0 }, shortened: false });
    expect(entryPosition(layout, { spot: 'window' })).toMatchObject({ ok: true, position: { x: 20, y: 0 } });
    expect(entryPosition(layout, { x: 3, y: 4 })).toMatchObject({ ok: true, position: { x: 3, y: 4 } });
    expect(entryPosition(layout, { spot: 'roof' })).toMatchObject({ ok: false, code: 'unknown-spot', message: expect.stringMatching(/no spot "roof".*door, window/) });
    expect(entryPosition(layout, { x: 21, y: 4 })).toMatchObject({ ok: false, code: 'outside-room', message: expect.stringMatching(/outside the 20×10 m room/) });
  });
});

describe('moves', () => {
  it('a walk covers at most 5 m/s times the time since the previous move (at most 0.2 s of it)', () => {
    expect(applyMove(layout, here, { x: 10.5, y: 5 }, 0.1)).toEqual({ ok: true, position: { x: 10.5, y: 5, facing: 0 }, shortened: false });
    const cut = applyMove(layout, here, { x: 10, y: 0 }, 0.1);
    expect(cut).toMatchObject({ ok: true, shortened: true });
    expect(cut.ok && cut.position.y).toBeCloseTo(4.5);
    // A long pause does not save up a teleport: at most 0.2 s of walking per move.
    const afterIdle = applyMove(layout, here, { x: 20, y: 5 }, 30);
    expect(afterIdle.ok && afterIdle.position.x).toBeCloseTo(10 + LIMITS.walkMetresPerSecond * LIMITS.maxStepSeconds);
  });

  it('a spot is a jump; facing turns in place (wrapped to 0–360); outside the room is refused', () => {
    expect(applyMove(layout, here, { spot: 'window' }, 0)).toMatchObject({ ok: true, position: { x: 20, y: 0, facing: 0 }, shortened: false });
    expect(applyMove(layout, here, { facing: -90 }, 0)).toMatchObject({ ok: true, position: { x: 10, y: 5, facing: 270 } });
    expect(normalizeFacing(720)).toBe(0);
    expect(applyMove(layout, here, { x: 10, y: -0.1 }, 1)).toMatchObject({ ok: false, code: 'outside-room' });
    expect(applyMove(layout, here, { spot: 'attic' }, 1)).toMatchObject({ ok: false, code: 'unknown-spot' });
  });

  it('at most 20 moves in any second per member: the 21st is refused as too-many-moves', () => {
    const motion = new MemberMotion(0);
    const outcomes = Array.from({ length: 25 }, (_, i) => motion.move(layout, here, { facing: i }, 1000 + i * 10));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(20);
    expect(outcomes[20]).toMatchObject({ ok: false, code: 'too-many-moves', message: expect.stringMatching(/at most 20 moves a second/) });
    // A second after the first, there is room again.
    expect(motion.move(layout, here, { facing: 1 }, 2000)).toMatchObject({ ok: true });
  });

  it('turning costs no walking budget', () => {
    const motion = new MemberMotion(0);
    expect(motion.move(layout, here, { facing: 90 }, 1000)).toMatchObject({ ok: true });
    const walk = motion.move(layout, here, { x: 15, y: 5 }, 1050);
    expect(walk.ok && walk.position.x).toBeCloseTo(11); // 0.2 s of walking since the join, not 0.05 s since the turn
  });

  it('the sliding window never lets more than its limit through in any window', () => {
    const limit = new SlidingWindowLimit(3, 100);
    const accepted = [0, 10, 20, 30, 99, 100, 105, 110, 199, 200].filter((t) => limit.take(t));
    expect(accepted).toEqual([0, 10, 20, 100, 110, 199, 200]);
  });
});

describe('ThrottledAnnouncer', () => {
  afterEach(() => vi.useRealTimers());

  it('announces the first change at once, folds the rest of an interval into one at its end', () => {
    vi.useFakeTimers();
    let now = 0;
    const sent: Array<[string, number]> = [];
    const announcer = new ThrottledAnnouncer<string>(50, (key) => sent.push([key, now]), () => now);
    announcer.changed('a');
    for (let t = 5; t < 50; t += 5) {
      now = t;
      announcer.changed('a');
    }
    announcer.changed('b');
    expect(sent).toEqual([
      ['a', 0],
      ['b', 45],
    ]);
    now = 50;
    vi.advanceTimersByTime(50);
    expect(sent).toEqual([
      ['a', 0],
      ['b', 45],
      ['a', 50],
    ]);
    announcer.changed('b');
    announcer.forget('b');
    vi.advanceTimersByTime(100);
    expect(sent).toHaveLength(3);
    announcer.close();
  });
});
