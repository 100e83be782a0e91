// How a room should carry its audio now: the server-wide (or per-room) setting, the room's size,
// and whether a Janus is there. Pure: the SFU rooms module applies what this decides.
import type { MediaMode } from '../protocol.js';

/** mesh and sfu are fixed; auto moves a growing room to the SFU and a shrunk one back. */
export type MediaSetting = MediaMode | 'auto';

export interface AutoMediaOptions {
  /** A room of more members than this moves to the SFU (`--mesh-max`). */
  meshMax: number;
  /** …and back to the mesh once it has had at most this many… */
  meshReturnAt: number;
  /** …for this long. */
  meshReturnAfterMs: number;
}

export const DEFAULT_AUTO_MEDIA: AutoMediaOptions = { meshMax: 6, meshReturnAt: 4, meshReturnAfterMs: 10_000 };

export interface RoomSituation {
  setting: MediaSetting;
  current: MediaMode;
  members: number;
  janusAvailable: boolean;
  /** How long the room has been at or below meshReturnAt members (0 when it is not). */
  smallForMs: number;
}

export function targetMedia(room: RoomSituation, options: AutoMediaOptions = DEFAULT_AUTO_MEDIA): MediaMode {
  if (room.setting === 'mesh' || !room.janusAvailable) return 'mesh';
  if (room.setting === 'sfu') return 'sfu';
  if (room.current === 'mesh') return room.members > options.meshMax ? 'sfu' : 'mesh';
  // Under auto on the SFU: back to the mesh once it has stayed small long enough (one rule for
  // both, so the decision and the caller's timer cannot drift apart).
  return meshReturnWaitMs(room, options) === 0 ? 'mesh' : 'sfu';
}

/**
 * How much longer a small SFU room under `auto` must stay small before it returns to the mesh;
 * null when it is not waiting to return (not small, not on the SFU, not auto). A timer set for
 * the full wait can end a little short of it as the caller measures (libuv's clock counts whole
 * milliseconds): the caller waits out the rest, since giving up left the room on Janus until
 * another member left.
 */
export function meshReturnWaitMs(room: RoomSituation, options: AutoMediaOptions = DEFAULT_AUTO_MEDIA): number | null {
  if (room.setting !== 'auto' || room.current !== 'sfu' || !room.janusAvailable || room.members > options.meshReturnAt) return null;
  return Math.max(0, options.meshReturnAfterMs - room.smallForMs);
}
