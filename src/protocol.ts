// The voxroom wire protocol: one module shared by the server, the headless peer and the web client.
// Typed socket.io event maps for the compiler, zod schemas for what actually arrives on the wire.
// PROTOCOL.md documents the same thing for people; keep the two in step.
import { z } from 'zod';

/** The version this code speaks. Servers also accept v1 clients (see PROTOCOL.md, "Version 1 clients"). */
export const PROTOCOL_VERSION = 2;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1, 2];

/** Limits the server enforces; documented in PROTOCOL.md. */
export const LIMITS = {
  /** Transport hard limit: a single socket.io packet above this closes the connection. */
  maxTransportBytes: 1024 * 1024,
  maxSdpChars: 48 * 1024,
  maxCandidateChars: 1024,
  maxNameChars: 32,
  maxResumeTokenChars: 512,
  /** A room token (a signed JWT): a few hundred characters in practice; this bounds hostile ones. */
  maxRoomTokenChars: 4096,
  /** A full mesh costs O(n²) connections; browsers and this machine both tire past about a dozen. */
  defaultMaxPeersPerRoom: 12,
  /** --max-peers applies to mesh rooms up to this: beyond it a mesh is hopeless anyway. */
  maxMeshPeersPerRoom: 64,
  /** Through an SFU each peer sends once: rooms can be far larger. */
  defaultMaxPeersPerSfuRoom: 1000,
  maxPeersPerRoom: 10_000,
  /** Sustained events per second per socket (token bucket refill) and the burst it tolerates:
   *  a newcomer in a full room sends 11 offers and ~90 candidates at once; churn tests reach ~60/s. */
  eventsPerSecond: 100,
  eventBurst: 300,
  /** Joins are expensive (broadcast to a room): a much smaller bucket. */
  joinsPerSecond: 1,
  joinBurst: 5,
  /** A socket whose refused events exceed this burst (refilled at refusalsPerSecond) is disconnected. */
  maxRefusedBeforeDisconnect: 500,
  refusalsPerSecond: 10,
  /** Spatial rooms: walking speed; a longer way in one move is cut short (goto a spot to jump). */
  walkMetresPerSecond: 5,
  /** A move covers the walking speed times the time since the member's previous move, counting at most this. */
  maxStepSeconds: 0.2,
  /** Moves (move, goto, face) per member in any one second; more are refused (too-many-moves). */
  maxMovesPerSecond: 20,
  /** Position changes go out to the room at most this often per member (member-updated). */
  positionBroadcastMs: 50,
} as const;

export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
// Printable: no control, format, surrogate or unassigned code points.
const PRINTABLE_PATTERN = /^[^\p{C}]+$/u;

export const RoomIdSchema = z.string().regex(ROOM_ID_PATTERN, 'room ids are 1–64 characters of A–Z, a–z, 0–9, _ and -');
export const PeerNameSchema = z
  .string()
  .min(1, 'a name needs at least one character')
  .refine((name) => [...name].length <= LIMITS.maxNameChars, `names are at most ${LIMITS.maxNameChars} characters`)
  .refine((name) => PRINTABLE_PATTERN.test(name), 'names may contain printable characters only');
export const PeerIdSchema = z.string().min(1).max(64);

export const SpotNameSchema = z.string().min(1).max(64);
/** Where to stand in a spatial room: a named spot (or zone), or a point in metres. */
export const PlaceSchema = z.union([z.strictObject({ spot: SpotNameSchema }), z.strictObject({ x: z.number().finite(), y: z.number().finite() })]);
export type Place = z.infer<typeof PlaceSchema>;

export const JoinRequestSchema = z.strictObject({
  room: RoomIdSchema,
  name: PeerNameSchema,
  v: z.number().int(),
  resume: z.string().min(1).max(LIMITS.maxResumeTokenChars).optional(),
  /** A signed room token (PROTOCOL.md, "Access"): required by servers started with a token key, ignored by open ones. */
  token: z.string().min(1).max(LIMITS.maxRoomTokenChars).optional(),
  /** Spatial rooms: where to enter (default: the map's entry). A resumed session keeps its place. */
  at: PlaceSchema.optional(),
});
export type JoinRequest = z.infer<typeof JoinRequestSchema>;

/**
 * Spatial rooms: walk towards a point (`{ x, y }`, at most LIMITS.walkMetresPerSecond), jump to
 * a named spot (`{ spot }`), or turn (`{ facing }`, degrees clockwise, 0 = up the map).
 */
export const MoveRequestSchema = z.union([
  z.strictObject({ x: z.number().finite(), y: z.number().finite() }),
  z.strictObject({ spot: SpotNameSchema }),
  z.strictObject({ facing: z.number().finite() }),
]);
export type MoveRequest = z.infer<typeof MoveRequestSchema>;

export const SessionDescriptionSchema = z.strictObject({
  type: z.enum(['offer', 'answer', 'pranswer', 'rollback']),
  sdp: z.string().max(LIMITS.maxSdpChars),
});
export const IceCandidateSchema = z.strictObject({
  candidate: z.string().max(LIMITS.maxCandidateChars),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});
export const SignalDataSchema = z.union([
  z.strictObject({ description: SessionDescriptionSchema }),
  z.strictObject({ candidate: IceCandidateSchema }),
]);
export type SignalData = z.infer<typeof SignalDataSchema>;
export type SessionDescription = z.infer<typeof SessionDescriptionSchema>;
export type IceCandidate = z.infer<typeof IceCandidateSchema>;

export const SignalRequestSchema = z.strictObject({ to: PeerIdSchema, data: SignalDataSchema });

// ---- SFU rooms (v2): the peer's media goes through the server's media server (Janus). ----

/** How a room carries audio: a full mesh of peer connections, or through the SFU. */
export type MediaMode = 'mesh' | 'sfu';

/** A peer's publisher offer, or its answer to the server's subscriber offer. */
export const SfuSdpSchema = z.strictObject({ sdp: z.string().min(1).max(LIMITS.maxSdpChars) });
/** A publisher offer: one audio section and nothing else (the media server forwards only audio). */
export const SfuPublishSchema = SfuSdpSchema.refine(({ sdp }) => {
  const media = sdp.split(/\r?\n/).filter((line) => line.startsWith('m='));
  return media.length === 1 && media[0]!.startsWith('m=audio ');
}, 'a publisher offer carries exactly one audio section and nothing else');
export const SfuCandidateSchema = z.strictObject({
  /** Which of the peer's two SFU connections the candidate belongs to. */
  target: z.enum(['publisher', 'subscriber']),
  /** null: end of candidates. */
  candidate: IceCandidateSchema.nullable(),
});
export type SfuCandidate = z.infer<typeof SfuCandidateSchema>;

/** Which member an audio section (mid) of the subscriber connection carries. */
export interface SfuStream {
  mid: string;
  member: string;
}

/** The server's offer for a peer's subscriber connection: which stream (mid) carries whom. */
export interface SfuOffer {
  sdp: string;
  streams: SfuStream[];
  /**
   * How many of the offer's sections carry a stream, as the media server reported them in the
   * reply that held the SDP (with loudest-speaker routing at most --max-speakers); the rest are
   * inactive, kept for reuse. A consistency check: voxroom's peer refuses an offer whose SDP
   * sends on more. Absent (an older server, or no account from the media server): no such bound.
   */
  maxStreams?: number;
}
export interface MediaChanged {
  room: string;
  media: MediaMode;
  /** A sentence for people: why. */
  reason: string;
}
export type SfuPublishAck = { ok: true; sdp: string } | { ok: false; error: ProtocolError };
export type SignalRequest = z.infer<typeof SignalRequestSchema>;

// ---- Admin actions: members with the `admin` grant moderate their own room. ----

/** `kick`: the member leaves (reason `kicked`), is disconnected and cannot resume its place. */
export const KickRequestSchema = z.strictObject({ id: PeerIdSchema });
export type KickRequest = z.infer<typeof KickRequestSchema>;
/** `server-mute`: silence a member for everyone (`muted: true`) or let it be heard again. */
export const ServerMuteRequestSchema = z.strictObject({ id: PeerIdSchema, muted: z.boolean() });
export type ServerMuteRequest = z.infer<typeof ServerMuteRequestSchema>;

export interface PeerInfo {
  id: string;
  name: string;
}

// ---- Member state (v2): what each member of a room has, one documented field at a time. ----

/** Where a member stands in a spatial room (metres from the top-left corner) and which way it faces (degrees clockwise, 0 = up the map). */
export const PositionSchema = z.strictObject({
  x: z.number().finite(),
  y: z.number().finite(),
  facing: z.number().finite().min(0).lt(360),
});
export type Position = z.infer<typeof PositionSchema>;

/** What a member may do in its room, from its room token (PROTOCOL.md, "Access"). */
export const GRANTS = ['speak', 'listen', 'admin'] as const;
export const GrantSchema = z.enum(GRANTS);
export type Grant = z.infer<typeof GrantSchema>;
/** An open server (no room tokens) lets everyone speak and listen, and makes nobody an admin. */
export const OPEN_SERVER_GRANTS: readonly Grant[] = Object.freeze(['speak', 'listen'] as Grant[]);

/** The fields of the member state that the member sets itself with `update-state`. */
export const SelfStateSchema = z.strictObject({
  /** The member sends silence (its own choice, `mute`). */
  muted: z.boolean(),
  /** The member's captured level currently counts as speech (measured by the member itself). */
  speaking: z.boolean(),
});
export type SelfState = z.infer<typeof SelfStateSchema>;
export const INITIAL_SELF_STATE: SelfState = Object.freeze({ muted: false, speaking: false });

/**
 * Everything a room knows about one member besides its identity. New capabilities add fields
 * here (and to PROTOCOL.md); clients ignore fields they do not know.
 */
export const MemberStateSchema = SelfStateSchema.extend({
  /** What the member may do: set by the server from its room token, never by the member. */
  grants: z.array(GrantSchema),
  /** Its connection to the server is lost; its media may flow on, its place is kept while it resumes (set by the server). */
  away: z.boolean(),
  /** An admin silenced this member (`server-mute`): it is not forwarded and no client plays it, whatever it sends (set by the server). */
  serverMuted: z.boolean(),
  /** Rooms with a map only: where the member stands (the server owns it; members ask with `move`). */
  position: PositionSchema.optional(),
});
export type MemberState = z.infer<typeof MemberStateSchema>;

/**
 * Whether a member's audio may be played: it holds the `speak` grant and no admin has
 * server-muted it. Every voxroom client applies this (gain 0 otherwise), and the SFU does not
 * forward such a member; a patched client that sends anyway is not heard.
 */
export function mayBeHeard(state: Pick<MemberState, 'grants' | 'serverMuted'>): boolean {
  return state.grants.includes('speak') && !state.serverMuted;
}

/**
 * Whether a member may hear the room: it holds the `listen` grant. In a mesh every voxroom
 * client sends such a member nothing; through the SFU it is never subscribed to anyone.
 */
export function mayHear(state: Pick<MemberState, 'grants'>): boolean {
  return state.grants.includes('listen');
}

/** What a member may change about itself with `update-state`: some of its own fields, at least one. */
export const MemberStatePatchSchema = SelfStateSchema.partial().refine((patch) => Object.keys(patch).length > 0, 'name at least one field to change');
export type MemberStatePatch = z.infer<typeof MemberStatePatchSchema>;

/** A member of a room as v2 clients see it. */
export interface Member extends PeerInfo {
  state: MemberState;
}

// ---- Room map: the layout of a room, sent in the join ack. Members stand on it (spatial rooms). ----

const MapSpotSchema = z.strictObject({
  name: z.string().min(1).max(64),
  /** Position in metres from the room's top-left corner. */
  x: z.number().finite(),
  y: z.number().finite(),
  /** Optional radius in metres, for areas such as a stage or a table. */
  radius: z.number().positive().finite().optional(),
});
/** A rectangle with a hearing rule: a `stage` is heard by the whole room, a `booth` keeps its occupants to themselves. */
const MapZoneSchema = z.strictObject({
  name: z.string().min(1).max(64),
  kind: z.enum(['stage', 'booth']),
  /** Top-left corner and size, in metres. */
  x: z.number().finite(),
  y: z.number().finite(),
  width: z.number().positive().finite(),
  height: z.number().positive().finite(),
});
export type MapZone = z.infer<typeof MapZoneSchema>;
export const RoomLayoutSchema = z
  .strictObject({
    /** Room size in metres. */
    width: z.number().positive().finite().max(10_000),
    height: z.number().positive().finite().max(10_000),
    spots: z.array(MapSpotSchema).max(256).default([]),
    /** How this room carries audio, overriding the server's --media (mesh, sfu or auto). */
    media: z.enum(['mesh', 'sfu', 'auto']).optional(),
    /** The spot (or zone) newcomers stand on; default: the centre of the room. */
    entry: z.string().min(1).max(64).optional(),
    /** Hearing radius in metres (default 20): nobody farther away is heard. */
    radius: z.number().positive().finite().max(10_000).optional(),
    /** Rolloff of the inverse distance law (default 1; 0: no fall with distance). */
    rolloff: z.number().min(0).finite().max(100).optional(),
    zones: z.array(MapZoneSchema).max(64).optional(),
  })
  .superRefine((layout, ctx) => {
    const seen = new Set<string>();
    const outside = (x: number, y: number): boolean => x < 0 || x > layout.width || y < 0 || y > layout.height;
    layout.spots.forEach((spot, index) => {
      if (outside(spot.x, spot.y)) {
        ctx.addIssue({ code: 'custom', path: ['spots', index], message: `spot "${spot.name}" lies outside the ${layout.width}×${layout.height} m room` });
      }
      if (seen.has(spot.name)) ctx.addIssue({ code: 'custom', path: ['spots', index, 'name'], message: `spot name "${spot.name}" is used twice` });
      seen.add(spot.name);
    });
    (layout.zones ?? []).forEach((zone, index) => {
      if (outside(zone.x, zone.y) || outside(zone.x + zone.width, zone.y + zone.height)) {
        ctx.addIssue({ code: 'custom', path: ['zones', index], message: `zone "${zone.name}" reaches outside the ${layout.width}×${layout.height} m room` });
      }
      if (seen.has(zone.name)) ctx.addIssue({ code: 'custom', path: ['zones', index, 'name'], message: `name "${zone.name}" is used twice (spots and zones share names)` });
      seen.add(zone.name);
    });
    if (layout.entry !== undefined && !seen.has(layout.entry)) ctx.addIssue({ code: 'custom', path: ['entry'], message: `entry "${layout.entry}" names no spot or zone of this room` });
  });
export type RoomLayout = z.infer<typeof RoomLayoutSchema>;

export const RoomMapFileSchema = z
  .strictObject({
    /** The layout for rooms not listed in `rooms`. */
    default: RoomLayoutSchema.optional(),
    rooms: z.record(RoomIdSchema, RoomLayoutSchema).default({}),
  })
  .refine((file) => file.default !== undefined || Object.keys(file.rooms).length > 0, 'a map file needs a "default" layout or at least one entry in "rooms"');
export type RoomMapFile = z.infer<typeof RoomMapFileSchema>;

// ---- Server → client payloads ----

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export type ErrorCode =
  | 'bad-request'
  | 'version-mismatch'
  | 'room-full'
  | 'not-in-room'
  | 'unknown-peer'
  | 'peer-away'
  | 'rate-limited'
  | 'payload-too-large'
  | 'unknown-event'
  | 'shutting-down'
  | 'not-sfu'
  | 'media-unavailable'
  /** The server admits only members with a room token, and the join had none. */
  | 'token-required'
  /** The token is malformed, not signed with the server's key, for another audience, or its claims are wrong. */
  | 'token-invalid'
  /** The token's `exp` has passed (beyond the server's clock leeway). */
  | 'token-expired'
  /** The token is for another room (or rooms with another prefix). */
  | 'token-wrong-room'
  | 'not-spatial'
  | 'unknown-spot'
  | 'outside-room'
  | 'too-many-moves'
  /** The server cannot admit anyone now (a cluster node cut off from its Redis): retry shortly. */
  | 'unavailable'
  /** An admin action (kick, server-mute) from a member without the `admin` grant. */
  | 'not-admin'
  /** A resume claim for a member an admin kicked: its place is gone; join anew if you may. */
  | 'kicked';

/** The codes of a refused room token: a client with a token cannot fix these by trying again. */
export const TOKEN_ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>(['token-required', 'token-invalid', 'token-expired', 'token-wrong-room']);

export interface ProtocolError {
  code: ErrorCode;
  message: string;
}

export type JoinAck =
  | {
      ok: true;
      self: Member;
      /** The others already in the room: the newcomer sends the first offer to each. */
      peers: Member[];
      map: RoomLayout | null;
      /** v2: how this room carries audio (PROTOCOL.md, "SFU rooms"). */
      media: MediaMode;
      iceServers: IceServer[];
      /** Present this in a later join to take this place back after a lost connection (signed; any server of the deployment verifies it). */
      resume: string;
      /** This join took a place back (same id and name): the member's links and roommates carry on. */
      resumed: boolean;
      /** How long the server keeps an away member's place (roommates keep it as long). */
      resumeGraceMs: number;
      /**
       * With `resumed`: the member's media path is still in place (always in a mesh, whose links
       * are peer to peer; in an SFU room when this server kept its media-server handles). False
       * after a restarted server restored it: it publishes and subscribes again.
       */
      mediaKept: boolean;
      /** True when the requested name was taken and `self.name` carries a suffix. */
      renamed: boolean;
    }
  | { ok: false; error: ProtocolError };

/** What a v1 client gets: members without state. */
export type JoinAckV1 = Extract<JoinAck, { ok: false }> | (Omit<Extract<JoinAck, { ok: true }>, 'self' | 'peers' | 'media'> & { self: PeerInfo; peers: PeerInfo[] });

export type LeaveAck = { ok: true } | { ok: false; error: ProtocolError };
export type UpdateStateAck = { ok: true } | { ok: false; error: ProtocolError };
/** `shortened`: the walk was longer than the walking speed allows, and stopped short of the target. */
export type MoveAck = { ok: true; position: Position; shortened: boolean } | { ok: false; error: ProtocolError };
export type SignalAck = { ok: true } | { ok: false; error: ProtocolError };
export type AdminAck = { ok: true } | { ok: false; error: ProtocolError };

/** v1 only: the whole member list, on every join and leave. */
export interface RoomUsersUpdated {
  room: string;
  peers: PeerInfo[];
}

/** v2: someone joined the room (never sent about the receiver itself). */
export interface MemberJoined {
  room: string;
  member: Member;
}

export type MemberLeftReason = 'left' | 'disconnected' | 'replaced' | 'kicked';

/** v2: someone left the room. */
export interface MemberLeft {
  room: string;
  id: string;
  reason: MemberLeftReason;
}

/** v2: one member's state changed; `state` is that member's whole state (a few fields). */
export interface MemberUpdated {
  room: string;
  id: string;
  state: MemberState;
}

/** Another session joined under this member's name (or resumed it): this one is no longer in the room. */
export interface SessionReplaced {
  room: string;
  /** A sentence for people: what happened and what to do. */
  message: string;
}

/** An admin removed this member from its room; the server disconnects the socket after this. */
export interface Kicked {
  room: string;
  /** A sentence for people: what happened and what to do. */
  message: string;
}

export interface RelayedSignal {
  from: string;
  data: SignalData;
}

export interface ServerToClientEvents {
  /** v1 clients only. */
  'room-users-updated': (update: RoomUsersUpdated) => void;
  'member-joined': (event: MemberJoined) => void;
  'member-left': (event: MemberLeft) => void;
  'member-updated': (event: MemberUpdated) => void;
  /** v2: the room now carries audio another way (the media server was lost, or is back). */
  'media-changed': (event: MediaChanged) => void;
  /** SFU rooms: a (new) offer for the subscriber connection; answer with sfu-answer. */
  'sfu-offer': (offer: SfuOffer) => void;
  /** SFU rooms: the subscriber's sections now carry other speakers (loudest-speaker routing, no new SDP). */
  'sfu-streams': (event: { streams: SfuStream[] }) => void;
  signal: (signal: RelayedSignal) => void;
  'error-message': (error: ProtocolError) => void;
  'server-shutdown': (notice: { message: string }) => void;
  /** This session left its room because another one took its name (same token name) or resumed it. */
  'session-replaced': (notice: SessionReplaced) => void;
  /** An admin kicked this member: it is out of the room, its socket is closed next, and it cannot resume. */
  kicked: (notice: Kicked) => void;
  /**
   * Fresh ICE servers (time-limited TURN credentials) for a member, pushed at half their lifetime
   * while it stays in the room: they replace those of the join ack for every connection made from now on.
   */
  'ice-servers': (event: { iceServers: IceServer[] }) => void;
}

export interface ClientToServerEvents {
  join: (request: JoinRequest, ack?: (result: JoinAck) => void) => void;
  leave: (ack?: (result: LeaveAck) => void) => void;
  signal: (request: SignalRequest, ack?: (result: SignalAck) => void) => void;
  /** v2: change fields of one's own member state. */
  'update-state': (patch: MemberStatePatch, ack?: (result: UpdateStateAck) => void) => void;
  /** v2, spatial rooms: walk, jump to a spot, or turn (the server validates and announces it). */
  move: (request: MoveRequest, ack?: (result: MoveAck) => void) => void;
  /** SFU rooms: our publisher offer; the ack carries the media server's answer. */
  'sfu-publish': (request: { sdp: string }, ack?: (result: SfuPublishAck) => void) => void;
  /** SFU rooms: our answer to the latest sfu-offer. */
  'sfu-answer': (request: { sdp: string }, ack?: (result: UpdateStateAck) => void) => void;
  'sfu-candidate': (request: SfuCandidate, ack?: (result: UpdateStateAck) => void) => void;
  /** Admins only: remove a member of one's room; it cannot resume. */
  kick: (request: KickRequest, ack?: (result: AdminAck) => void) => void;
  /** Admins only: silence a member of one's room for everyone, or let it be heard again. */
  'server-mute': (request: ServerMuteRequest, ack?: (result: AdminAck) => void) => void;
}

export const CLIENT_EVENTS: ReadonlySet<string> = new Set<keyof ClientToServerEvents>(['join', 'leave', 'signal', 'update-state', 'move', 'sfu-publish', 'sfu-answer', 'sfu-candidate', 'kick', 'server-mute']);

// ---- Between the nodes of a cluster (socket.io's serverSideEmit, through Redis). ----
// Every node drives the media-server handles of the members it carries; these tell the node that
// drives a member's handles about changes another node made. Validated like client input.

/** A member left its room (left, kicked, replaced, did not resume): its handles go now. */
export const NodeMemberLeftSchema = z.strictObject({ room: RoomIdSchema, id: PeerIdSchema });
/**
 * A member resumed its place through another node, which now drives its media. `claimed`: that
 * node claimed the member's Janus session, so its handles are that node's now (let them go
 * without detaching); otherwise the member publishes afresh there (detach them a little later).
 */
export const NodeMemberMovedSchema = z.strictObject({ id: PeerIdSchema, claimed: z.boolean().optional() });
/** A member's grants or server-mute changed (an admin on another node): forward it, or stop. */
export const NodeMemberStateSchema = z.strictObject({ id: PeerIdSchema, state: MemberStateSchema });

/** A signal relayed through another node's inbox (node-inbox.ts): checked again as it is read. */
export const RelayedSignalSchema = z.strictObject({ from: PeerIdSchema, data: SignalDataSchema });

/** A node moved a room's record to another Janus (it lost the recorded one): every node's members there follow. */
export const NodeRoomPlacedSchema = z.strictObject({ room: RoomIdSchema, janus: z.string().min(1).max(2048) });

const JanusIdSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/**
 * A member's Janus session and handles, recorded in Redis by the node that drives them, so that
 * the node it resumes through can claim the session (Janus's `claim`) and drive its media on:
 * the peer's connections to Janus then carry on untouched. Checked as it is read back.
 */
export const JanusHandoffSchema = z.strictObject({
  /** The Janus (its URL) the session is on. */
  janus: z.string().min(1).max(2048),
  session: JanusIdSchema,
  publisher: JanusIdSchema.nullable(),
  feed: JanusIdSchema.nullable(),
  /** When the feed was published (its display's generation, ms since the epoch). */
  generation: z.number().int().nonnegative().nullable(),
  subscriber: JanusIdSchema.nullable(),
  /** The subscriber's audio sections: mid → the feed each carries. */
  slots: z.array(z.tuple([z.string().min(1).max(64), JanusIdSchema])).max(1000),
});
export type JanusHandoff = z.infer<typeof JanusHandoffSchema>;

export interface InterNodeEvents {
  'sfu-room-placed': (info: z.infer<typeof NodeRoomPlacedSchema>) => void;
  'sfu-member-left': (info: z.infer<typeof NodeMemberLeftSchema>) => void;
  'sfu-member-moved': (info: z.infer<typeof NodeMemberMovedSchema>) => void;
  'sfu-member-state': (info: z.infer<typeof NodeMemberStateSchema>) => void;
}

/** JSON text from another process (Redis, another node): its value, or undefined when it is not JSON. */
export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turns a zod failure into one readable sentence for an error message. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

/** Politeness rule of the perfect-negotiation pattern, pinned so that every kind of peer agrees. */
export function isPolite(selfId: string, remoteId: string): boolean {
  return selfId < remoteId;
}
