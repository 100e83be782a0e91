// The hearing laws of spatial rooms (src/audio/spatial.ts), against Web Audio's formulas.
import { describe, expect, it } from 'vitest';
import { SPATIAL_DEFAULTS, edgeFade, entryPoint, equalPowerPan, hear, hearingRules, inverseDistanceGain, placeNamed, relativeBearing, type HearingRules, type Zone } from '../../src/audio/spatial.js';
import { RoomLayoutSchema } from '../../src/protocol.js';

const open: HearingRules = { radius: 20, rolloff: 1, zones: [] };
const db = (gain: number): number => 20 * Math.log10(gain);
const at = (x: number, y: number, facing = 0) => ({ x, y, facing });

describe('distance law', () => {
  it("is Web Audio's inverse model: full level within 1 m, then ref / (ref + rolloff·(d − ref))", () => {
    expect(inverseDistanceGain(0)).toBe(1);
    expect(inverseDistanceGain(1)).toBe(1);
    expect(inverseDistanceGain(2, 1)).toBeCloseTo(0.5);
    expect(inverseDistanceGain(4, 1)).toBeCloseTo(0.25);
    expect(inverseDistanceGain(4, 2)).toBeCloseTo(1 / 7);
    expect(inverseDistanceGain(4, 0)).toBe(1);
    // 1 m → 4 m is −12 dB with rolloff 1.
    expect(db(inverseDistanceGain(4)) - db(inverseDistanceGain(1))).toBeCloseTo(-12.04, 1);
  });

  it('fades linearly to silence over the last 10 % of the radius', () => {
    expect(edgeFade(17.9, 20)).toBe(1);
    expect(edgeFade(18, 20)).toBe(1);
    expect(edgeFade(19, 20)).toBeCloseTo(0.5);
    expect(edgeFade(20, 20)).toBe(0);
    expect(edgeFade(25, 20)).toBe(0);
    // Continuous: no step anywhere on the way out (no click when someone walks across the edge).
    for (let d = 17; d < 21; d += 0.01) expect(Math.abs(edgeFade(d + 0.01, 20) - edgeFade(d, 20))).toBeLessThan(0.0051);
  });

  it('hear() combines them: beyond the radius is silence, inside the fade both laws multiply', () => {
    expect(hear(at(0, 0), { x: 0, y: -4 }, open).level).toBeCloseTo(0.25);
    expect(hear(at(0, 0), { x: 0, y: -19 }, open).level).toBeCloseTo((1 / 19) * 0.5);
    expect(hear(at(0, 0), { x: 0, y: -21 }, open)).toEqual({ level: 0, left: 0, right: 0 });
  });
});

describe('pan law and facing', () => {
  it("is Web Audio's equal-power pan: −90° all left, +90° all right, ahead 0.707 each, constant power", () => {
    expect(equalPowerPan(-90).left).toBeCloseTo(1);
    expect(equalPowerPan(-90).right).toBeCloseTo(0);
    expect(equalPowerPan(90).left).toBeCloseTo(0);
    expect(equalPowerPan(90).right).toBeCloseTo(1);
    expect(equalPowerPan(0).left).toBeCloseTo(Math.SQRT1_2);
    expect(equalPowerPan(0).right).toBeCloseTo(Math.SQRT1_2);
    for (let a = -180; a <= 180; a += 7) {
      const { left, right } = equalPowerPan(a);
      expect(left ** 2 + right ** 2).toBeCloseTo(1);
    }
    // 45° to the right: 3π/8 → right/left = tan(3π/8), 7.66 dB.
    const { left, right } = equalPowerPan(45);
    expect(db(right / left)).toBeCloseTo(7.66, 1);
    // Behind mirrors to the front, as Web Audio does.
    expect(equalPowerPan(135).right).toBeCloseTo(equalPowerPan(45).right);
  });

  it('bearings: x to the right, y down, facing clockwise from up the map', () => {
    expect(relativeBearing(at(5, 5), { x: 6, y: 5 })).toBeCloseTo(90); // right of the map = right
    expect(relativeBearing(at(5, 5), { x: 4, y: 5 })).toBeCloseTo(-90);
    expect(relativeBearing(at(5, 5), { x: 5, y: 4 })).toBeCloseTo(0); // up the map = ahead
    expect(relativeBearing(at(5, 5), { x: 5, y: 6 })).toBeCloseTo(180);
    // Facing right (90°): what is down the map is on the listener's right.
    expect(relativeBearing(at(5, 5, 90), { x: 5, y: 6 })).toBeCloseTo(90);
    // Turned round (180°): left and right swap.
    expect(relativeBearing(at(5, 5, 180), { x: 6, y: 5 })).toBeCloseTo(-90);
    expect(relativeBearing(at(5, 5), { x: 5, y: 5 })).toBe(0);
  });

  it('face 180 swaps what each ear hears', () => {
    const right = hear(at(5, 5), { x: 7, y: 5 }, open);
    const turned = hear(at(5, 5, 180), { x: 7, y: 5 }, open);
    expect(turned.left).toBeCloseTo(right.right);
    expect(turned.right).toBeCloseTo(right.left);
    expect(right.right).toBeCloseTo(0.5);
    expect(right.left).toBeCloseTo(0);
  });
});

describe('zones', () => {
  const stage: Zone = { name: 'stage', kind: 'stage', x: 0, y: 0, width: 10, height: 2 };
  const booth: Zone = { name: 'booth', kind: 'booth', x: 20, y: 20, width: 4, height: 4 };
  const rules: HearingRules = { radius: 20, rolloff: 1, zones: [stage, booth] };

  it('a stage is heard by the whole room at full level, centred, even beyond the radius', () => {
    const far = hear(at(5, 45), { x: 9, y: 1 }, rules);
    expect(far.level).toBe(1);
    expect(far.left).toBeCloseTo(Math.SQRT1_2);
    expect(far.right).toBeCloseTo(Math.SQRT1_2);
  });

  it('a booth: inside hear each other by distance; nothing crosses its walls either way', () => {
    expect(hear(at(21, 21), { x: 23, y: 21 }, rules).level).toBeCloseTo(0.5);
    expect(hear(at(21, 21), { x: 19, y: 21 }, rules)).toEqual({ level: 0, left: 0, right: 0 });
    expect(hear(at(19, 21), { x: 21, y: 21 }, rules)).toEqual({ level: 0, left: 0, right: 0 });
    // Not even the stage reaches into a booth.
    expect(hear(at(21, 21), { x: 5, y: 1 }, rules).level).toBe(0);
  });
});

describe('layout', () => {
  const layout = RoomLayoutSchema.parse({ width: 30, height: 20, spots: [{ name: 'door', x: 0, y: 10 }], zones: [{ name: 'podium', kind: 'stage', x: 10, y: 0, width: 10, height: 2 }], entry: 'door' });

  it('defaults: radius 20 m, rolloff 1, no zones; entry at the centre unless named', () => {
    expect(hearingRules({})).toEqual({ radius: SPATIAL_DEFAULTS.radius, rolloff: 1, zones: [] });
    expect(entryPoint(layout)).toEqual({ x: 0, y: 10 });
    expect(entryPoint({ width: 30, height: 20, spots: [] })).toEqual({ x: 15, y: 10 });
    expect(placeNamed(layout, 'podium')).toEqual({ x: 15, y: 1 });
  });

  it.each([
    [{ width: 10, height: 10, entry: 'nowhere' }, /entry "nowhere" names no spot/],
    [{ width: 10, height: 10, zones: [{ name: 'b', kind: 'booth', x: 8, y: 8, width: 4, height: 1 }] }, /zone "b" reaches outside/],
    [{ width: 10, height: 10, spots: [{ name: 'a', x: 1, y: 1 }], zones: [{ name: 'a', kind: 'stage', x: 0, y: 0, width: 1, height: 1 }] }, /used twice/],
    [{ width: 10, height: 10, zones: [{ name: 'a', kind: 'pool', x: 0, y: 0, width: 1, height: 1 }] }, /kind/],
  ])('refuses %j', (value, pattern) => {
    const parsed = RoomLayoutSchema.safeParse(value);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")).toMatch(pattern);
  });
});
