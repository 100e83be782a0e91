// How a listener hears a speaker in a spatial room: geometry and hearing laws, pure and without
// Node or DOM APIs, so that the headless peer (its mixer) and the web client (its PannerNode)
// compute the same thing from the same code (the page loads the compiled module).
//
// Geometry: metres; x grows to the right and y downwards, as the web client draws the map. A
// listener faces up the map (−y) unless it turns: `facing` in degrees, clockwise, 0 = up.
// Hearing: Web Audio's `inverse` distance model (reference distance 1 m, the room's rolloff),
// times a fade to silence over the last 10 % of the hearing radius, and an equal-power pan by
// the speaker's bearing relative to where the listener faces (Web Audio's `equalpower`).
// Zones: a `stage` is heard by everyone in the room at full level, centred; a `booth` keeps its
// occupants to themselves (inside hear only each other, outside hear nothing from inside).
import type { MapZone, RoomLayout } from '../protocol.js';

export const SPATIAL_DEFAULTS = {
  /** Beyond this distance (metres) a speaker is not heard at all. */
  radius: 20,
  /** Web Audio's rolloffFactor for the inverse model. */
  rolloff: 1,
  /** Web Audio's refDistance: nearer than this, full level. */
  refDistance: 1,
  /** The part of the radius over which the level fades to silence, so the edge never clicks. */
  fadeFraction: 0.1,
} as const;

export interface Point {
  x: number;
  y: number;
}

/** Where a member stands and which way it faces (degrees clockwise from up the map). */
export interface Pose extends Point {
  facing: number;
}

/** A rectangle of the map with a hearing rule (`stage` or `booth`); x, y is its top-left corner. */
export type Zone = MapZone;

export interface HearingRules {
  radius: number;
  rolloff: number;
  zones: readonly Zone[];
}

/** What one listener hears of one speaker: linear gains, before the listener's own volume. */
export interface Hearing {
  /** The distance law and zones alone, without the pan (what a mono mix would use). */
  level: number;
  left: number;
  right: number;
}

export const SILENT: Hearing = Object.freeze({ level: 0, left: 0, right: 0 });

/** The hearing rules a layout sets, with the documented defaults for what it leaves out. */
export function hearingRules(layout: Pick<RoomLayout, 'radius' | 'rolloff' | 'zones'>): HearingRules {
  return { radius: layout.radius ?? SPATIAL_DEFAULTS.radius, rolloff: layout.rolloff ?? SPATIAL_DEFAULTS.rolloff, zones: layout.zones ?? [] };
}

/** A named place on the map: a spot, or the centre of a zone. */
export function placeNamed(layout: Pick<RoomLayout, 'spots' | 'zones'>, name: string): Point | null {
  const spot = layout.spots.find((s) => s.name === name);
  if (spot) return { x: spot.x, y: spot.y };
  const zone = layout.zones?.find((z) => z.name === name);
  return zone ? { x: zone.x + zone.width / 2, y: zone.y + zone.height / 2 } : null;
}

/** Where newcomers stand: the layout's entry spot, or the centre of the room. */
export function entryPoint(layout: Pick<RoomLayout, 'width' | 'height' | 'spots' | 'zones' | 'entry'>): Point {
  return (layout.entry !== undefined ? placeNamed(layout, layout.entry) : null) ?? { x: layout.width / 2, y: layout.height / 2 };
}

export function insideRoom(layout: Pick<RoomLayout, 'width' | 'height'>, point: Point): boolean {
  return point.x >= 0 && point.x <= layout.width && point.y >= 0 && point.y <= layout.height;
}

export function distance(a: Point, b: Point): number {
  // Not Math.hypot: it guards against overflow that metres on a map never reach, at several times the cost.
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  return Math.sqrt(dx * dx + dy * dy);
}

/** Web Audio's `inverse` distance model: 1 within the reference distance, then ref / (ref + rolloff·(d − ref)). */
export function inverseDistanceGain(metres: number, rolloff: number = SPATIAL_DEFAULTS.rolloff, refDistance: number = SPATIAL_DEFAULTS.refDistance): number {
  const d = Math.max(metres, refDistance);
  return refDistance / (refDistance + rolloff * (d - refDistance));
}

/** 1 up to 90 % of the radius, then linearly down to 0 at the radius (and beyond). */
export function edgeFade(metres: number, radius: number): number {
  const fadeStart = radius * (1 - SPATIAL_DEFAULTS.fadeFraction);
  if (metres <= fadeStart) return 1;
  if (metres >= radius) return 0;
  return (radius - metres) / (radius - fadeStart);
}

/** Turns an angle into (−180, 180]. */
function wrapDegrees(degrees: number): number {
  const wrapped = ((((degrees + 180) % 360) + 360) % 360) - 180;
  return wrapped === -180 ? 180 : wrapped;
}

/**
 * The speaker's bearing as the listener hears it: degrees from where it faces, clockwise
 * (positive: to its right), in (−180, 180]. A speaker at the listener's own spot is ahead (0),
 * as Web Audio's panner has it.
 */
export function relativeBearing(listener: Pose, speaker: Point): number {
  const dx = speaker.x - listener.x;
  const dy = speaker.y - listener.y;
  if (dx === 0 && dy === 0) return 0;
  // atan2(dx, −dy): 0 up the map, 90 to the right (x grows), clockwise as y grows downwards.
  const absolute = (Math.atan2(dx, -dy) * 180) / Math.PI;
  return wrapDegrees(absolute - listener.facing);
}

/**
 * Web Audio's equal-power pan of a mono source: behind the listener mirrors to the front
 * (a bearing of 135° pans like 45°), −90° is all left, +90° all right, 0 is 0.707 on each side.
 */
export function equalPowerPan(bearingDegrees: number): { left: number; right: number } {
  let azimuth = wrapDegrees(bearingDegrees);
  if (azimuth < -90) azimuth = -180 - azimuth;
  else if (azimuth > 90) azimuth = 180 - azimuth;
  const position = (azimuth + 90) / 180;
  return { left: Math.cos((position * Math.PI) / 2), right: Math.sin((position * Math.PI) / 2) };
}

function contains(zone: Zone, point: Point): boolean {
  return point.x >= zone.x && point.x <= zone.x + zone.width && point.y >= zone.y && point.y <= zone.y + zone.height;
}

/** The booth a point is in (the first listed, should booths overlap), or null. */
export function boothAt(zones: readonly Zone[], point: Point): Zone | null {
  return zones.find((zone) => zone.kind === 'booth' && contains(zone, point)) ?? null;
}

export function onStage(zones: readonly Zone[], point: Point): boolean {
  return zones.some((zone) => zone.kind === 'stage' && contains(zone, point));
}

/**
 * How a panner should place a speaker for this listener, zones applied: where the sound comes
 * from (a stage speaker sounds from the listener's own spot: full level, centred), and a gain
 * on top of the distance law (the edge fade; 0 across a booth's walls). The web client feeds
 * this to its PannerNode and a GainNode; hear() derives the headless peer's gains from it.
 */
export function placeForListener(listener: Pose, speaker: Point, rules: HearingRules): { source: Point; extraGain: number } {
  const listenerBooth = boothAt(rules.zones, listener);
  if (listenerBooth !== boothAt(rules.zones, speaker)) return { source: speaker, extraGain: 0 };
  if (listenerBooth === null && onStage(rules.zones, speaker)) return { source: { x: listener.x, y: listener.y }, extraGain: 1 };
  return { source: speaker, extraGain: edgeFade(distance(listener, speaker), rules.radius) };
}

/** What `listener` hears of a speaker standing at `speaker`, in this room. */
export function hear(listener: Pose, speaker: Point, rules: HearingRules): Hearing {
  const { source, extraGain } = placeForListener(listener, speaker, rules);
  if (extraGain === 0) return SILENT;
  const level = extraGain * inverseDistanceGain(distance(listener, source), rules.rolloff);
  const pan = equalPowerPan(relativeBearing(listener, source));
  return { level, left: level * pan.left, right: level * pan.right };
}
