// Where members stand in a spatial room, and which moves the server accepts: the map's bounds,
// a walking speed (a jump only to a named spot), and a cap on moves per second. Pure: the clock
// is passed in; the server applies the outcome and announces it.
import { LIMITS, type ErrorCode, type MoveRequest, type Place, type Position, type RoomLayout } from '../protocol.js';
import { distance, entryPoint, insideRoom, placeNamed, type Point } from '../audio/spatial.js';

export type PlacementOutcome = { ok: true; position: Position; shortened: boolean } | { ok: false; code: ErrorCode; message: string };

const refused = (code: ErrorCode, message: string): PlacementOutcome => ({ ok: false, code, message });

function pointFor(layout: RoomLayout, place: Place): PlacementOutcome | Point {
  if ('spot' in place) {
    const point = placeNamed(layout, place.spot);
    if (point) return point;
    const names = [...layout.spots.map((s) => s.name), ...(layout.zones ?? []).map((z) => z.name)];
    return refused('unknown-spot', `this room has no spot "${place.spot}"; its spots: ${names.length ? names.join(', ') : 'none'}`);
  }
  if (!insideRoom(layout, place)) return refused('outside-room', `(${place.x}, ${place.y}) lies outside the ${layout.width}×${layout.height} m room; x runs from 0 to ${layout.width}, y from 0 to ${layout.height}`);
  return { x: place.x, y: place.y };
}

/** A newcomer's position: where it asked to enter, or the map's entry; facing up the map. */
export function entryPosition(layout: RoomLayout, at?: Place): PlacementOutcome {
  const point = at ? pointFor(layout, at) : entryPoint(layout);
  if ('ok' in point) return point;
  return { ok: true, position: { x: point.x, y: point.y, facing: 0 }, shortened: false };
}

/** Degrees into [0, 360). */
export function normalizeFacing(degrees: number): number {
  const wrapped = ((degrees % 360) + 360) % 360;
  return wrapped === 360 ? 0 : wrapped;
}

/**
 * Applies one move to `current`: a walk covers at most the walking speed times the time since
 * the previous move (counting at most LIMITS.maxStepSeconds), so a farther target is cut short
 * (`shortened`) and reached by asking again; a spot is a jump; facing is a turn.
 */
export function applyMove(layout: RoomLayout, current: Position, request: MoveRequest, secondsSincePrevious: number): PlacementOutcome {
  if ('facing' in request) return { ok: true, position: { ...current, facing: normalizeFacing(request.facing) }, shortened: false };
  const target = pointFor(layout, request);
  if ('ok' in target) return target;
  if ('spot' in request) return { ok: true, position: { ...current, x: target.x, y: target.y }, shortened: false };
  const allowed = LIMITS.walkMetresPerSecond * Math.min(Math.max(0, secondsSincePrevious), LIMITS.maxStepSeconds);
  const wanted = distance(current, target);
  if (wanted <= allowed) return { ok: true, position: { ...current, x: target.x, y: target.y }, shortened: false };
  const share = allowed / wanted;
  return { ok: true, position: { ...current, x: current.x + (target.x - current.x) * share, y: current.y + (target.y - current.y) * share }, shortened: true };
}

/** At most `limit` events in any window of `windowMs`: a sliding window, stricter than a bucket. */
export class SlidingWindowLimit {
  private readonly times: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs = 1000,
  ) {}

  /** Counts an event at `now` (ms) if the window has room; false (and not counted) if not. */
  take(now: number): boolean {
    while (this.times.length > 0 && now - this.times[0]! >= this.windowMs) this.times.shift();
    if (this.times.length >= this.limit) return false;
    this.times.push(now);
    return true;
  }
}

/** One member's moves: the rate cap, and when it last changed place (its walking budget; turning costs none). */
export class MemberMotion {
  private readonly rate = new SlidingWindowLimit(LIMITS.maxMovesPerSecond);

  constructor(private lastMoveMs: number) {}

  move(layout: RoomLayout, current: Position, request: MoveRequest, nowMs: number): PlacementOutcome {
    if (!this.rate.take(nowMs)) return refused('too-many-moves', `at most ${LIMITS.maxMovesPerSecond} moves a second; this one was refused, send the latest target again a little later`);
    const outcome = applyMove(layout, current, request, (nowMs - this.lastMoveMs) / 1000);
    if (outcome.ok && !('facing' in request)) this.lastMoveMs = nowMs;
    return outcome;
  }
}
