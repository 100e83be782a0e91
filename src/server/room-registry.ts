// Room state: who is in which room, under which name, who is away (its socket closed, its seat
// kept for a grace period) and who takes its place back with a resume claim. Pure logic, no
// I/O: the server drives it (and verifies resume tokens before they get here).
import { randomBytes } from 'node:crypto';
import type { ResumeClaim } from './resume-tokens.js';
import { INITIAL_SELF_STATE, OPEN_SERVER_GRANTS, type Grant, type Member as MemberView, type MemberState, type PeerInfo, type Position, type SelfState } from '../protocol.js';

export interface Member extends PeerInfo {
  room: string;
  /** What the room sees of this member besides its identity (PROTOCOL.md, "Member state"). */
  state: MemberState;
  /** The protocol version its client speaks: decides which room events it is sent. */
  protocolVersion: number;
  /**
   * The socket carrying this member; differs from `id` so that ids never leak transport
   * details. null while the member is away (its socket closed; it may resume).
   */
  socketId: string | null;
}

export interface JoinOptions {
  /** A verified resume claim (resume-tokens.ts): takes that member's place back. */
  resume?: ResumeClaim | null;
  protocolVersion?: number;
  /** This room's limit for this join (default: the registry's). */
  capacity?: number;
  /** What the member may do (default: an open server's, speak and listen). */
  grants?: readonly Grant[];
  /**
   * The requested name is the member's own (a room token's `sub`): it is never suffixed, and
   * another session in the room under it is replaced.
   */
  ownsName?: boolean;
  /** Spatial rooms: where a newcomer stands (a member back in its place keeps its own). */
  position?: Position;
}

/** What a member sets itself (update-state), or the server sets for it (its position after a move, an admin's server-mute). */
export type StatePatch = Partial<SelfState> & { position?: Position; serverMuted?: boolean };

export type JoinOutcome =
  | {
      ok: true;
      member: Member;
      others: MemberView[];
      renamed: boolean;
      /**
       * `rebound`: an away (or still connected) member took its place back on this socket, same
       * id; `restored`: a member this registry did not know (a restarted server) came back
       * under its old id and name; null: a new member.
       */
      resumed: 'rebound' | 'restored' | null;
      /** The socket that carried the member before a rebind, if it is still open: close it. */
      staleSocketId: string | null;
      /** Another session under an owned name, removed by this join: tell it and its room. */
      replaced: Member | null;
    }
  /** `kicked`: the resume claim is for a member an admin kicked (RoomStore's deny-list). */
  | { ok: false; reason: 'room-full' | 'kicked' };

export class RoomRegistry {
  private readonly rooms = new Map<string, Map<string, Member>>();
  private readonly bySocket = new Map<string, Member>();

  constructor(
    private readonly maxPeersPerRoom: number,
    private readonly newId: () => string = () => randomBytes(6).toString('hex'),
  ) {}

  /**
   * Adds the socket to `room`. A socket is in at most one room, so any earlier membership ends.
   * With a verified resume claim for this room the member takes its place back: the same id,
   * name and state (rebound), or, when this registry never knew it, its old id and name
   * (restored). With `ownsName` another member in the room under that name is replaced.
   */
  join(socketId: string, room: string, requestedName: string, options: JoinOptions = {}): JoinOutcome {
    const { protocolVersion = 2, capacity = this.maxPeersPerRoom, grants = OPEN_SERVER_GRANTS, ownsName = false } = options;
    const claim = options.resume && options.resume.room === room && (!ownsName || options.resume.name === requestedName) ? options.resume : null;
    const previous = this.bySocket.get(socketId);
    const roomMembers = this.rooms.get(room) ?? new Map<string, Member>();
    const existing = claim ? roomMembers.get(claim.id) : undefined;
    if (existing) {
      if (previous && previous !== existing) this.remove(previous);
      const staleSocketId = existing.socketId !== null && existing.socketId !== socketId ? existing.socketId : null;
      if (staleSocketId !== null) this.bySocket.delete(staleSocketId);
      existing.socketId = socketId;
      existing.protocolVersion = protocolVersion;
      // What it may do comes from this join (its token may have changed).
      existing.state = { ...existing.state, away: false, grants: [...grants] };
      if (existing.state.position) existing.state.position = { ...existing.state.position };
      this.bySocket.set(socketId, existing);
      const others = [...roomMembers.values()].filter((m) => m !== existing).map(toMemberView);
      return { ok: true, member: existing, others, renamed: false, resumed: 'rebound', staleSocketId, replaced: null };
    }
    // An owned name has one session: a namesake (live or away) gives way.
    const namesake = ownsName ? this.memberNamed(room, requestedName) : null;
    const replaced = namesake && namesake.socketId !== socketId ? namesake : null;
    const leavingThisRoom = [previous, replaced].filter((m) => m !== undefined && m !== null && m.room === room).length;
    if (roomMembers.size - leavingThisRoom >= capacity) return { ok: false, reason: 'room-full' };

    if (previous) this.remove(previous);
    if (replaced) this.remove(replaced);
    // A claim restores its old id and name together or not at all: when a newcomer took the name
    // meanwhile (a restarted server did not know it was held), the claimant joins as someone new,
    // renamed, so that no roommate pairs its old id with another name.
    const restoring = claim !== null && !this.memberById(claim.id) && (ownsName || this.memberNamed(room, claim.name) === null);
    const baseName = restoring ? claim.name : requestedName;
    const name = ownsName ? requestedName : this.uniqueName(room, baseName);
    const id = restoring ? claim.id : this.newId();
    const state: MemberState = { ...INITIAL_SELF_STATE, away: false, serverMuted: false, grants: [...grants], ...(options.position ? { position: { ...options.position } } : {}) };
    const member: Member = { id, name, room, socketId, state, protocolVersion };
    const others = [...roomMembers.values()].map(toMemberView);
    roomMembers.set(member.id, member);
    this.rooms.set(room, roomMembers);
    this.bySocket.set(socketId, member);
    return { ok: true, member, others, renamed: name !== requestedName && !restoring, resumed: restoring ? 'restored' : null, staleSocketId: null, replaced };
  }

  /** Removes whatever membership the socket has; returns it so the caller can tell the room. */
  leave(socketId: string): Member | null {
    const member = this.bySocket.get(socketId);
    if (!member) return null;
    this.remove(member);
    return member;
  }

  /**
   * The socket closed: its member stays in the room, away, keeping its seat, until it resumes
   * or the caller's grace runs out (removeAway).
   */
  markAway(socketId: string): Member | null {
    const member = this.bySocket.get(socketId);
    if (!member) return null;
    this.bySocket.delete(socketId);
    member.socketId = null;
    member.state.away = true;
    return member;
  }

  /** Ends an away member's membership (its grace ran out); null if it is back or gone. */
  removeAway(id: string): Member | null {
    const member = this.memberById(id);
    if (!member || member.socketId !== null) return null;
    this.remove(member);
    return member;
  }

  /** Ends a membership by member id, connected or away (an admin's kick); null if it is not in a room. */
  removeById(id: string): Member | null {
    const member = this.memberById(id);
    if (!member) return null;
    this.remove(member);
    return member;
  }

  /** Applies a member's change to its own state; `changed` is false when nothing differed. */
  updateState(socketId: string, patch: StatePatch): { member: Member; changed: boolean } | null {
    const member = this.bySocket.get(socketId);
    return member ? this.applyPatch(member, patch) : null;
  }

  /** The same by member id, for changes the server makes (the SFU's talking events). */
  updateStateById(id: string, patch: StatePatch): { member: Member; changed: boolean } | null {
    const member = this.memberById(id);
    return member ? this.applyPatch(member, patch) : null;
  }

  private applyPatch(member: Member, patch: StatePatch): { member: Member; changed: boolean } {
    let changed = false;
    for (const key of Object.keys(patch) as Array<keyof StatePatch>) {
      const value = patch[key];
      if (value !== undefined && !sameValue(member.state[key], value)) {
        Object.assign(member.state, { [key]: value });
        changed = true;
      }
    }
    return { member, changed };
  }

  memberById(id: string): Member | null {
    for (const members of this.rooms.values()) {
      const member = members.get(id);
      if (member) return member;
    }
    return null;
  }

  /** The member called `name` in `room`, if any. */
  memberNamed(room: string, name: string): Member | null {
    for (const member of this.rooms.get(room)?.values() ?? []) if (member.name === name) return member;
    return null;
  }

  memberOf(socketId: string): Member | null {
    return this.bySocket.get(socketId) ?? null;
  }

  /** The member with `peerId` if it shares a room with `socketId`'s member; null otherwise. */
  roommate(socketId: string, peerId: string): Member | null {
    const sender = this.bySocket.get(socketId);
    if (!sender) return null;
    const target = this.rooms.get(sender.room)?.get(peerId);
    return target && target.id !== sender.id ? target : null;
  }

  /** Identities only: what v1 clients are sent. */
  peersIn(room: string): PeerInfo[] {
    return [...(this.rooms.get(room)?.values() ?? [])].map(toPeerInfo);
  }

  membersIn(room: string): Member[] {
    return [...(this.rooms.get(room)?.values() ?? [])];
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Members in rooms, away ones included (they hold their seats). */
  get peerCount(): number {
    let count = 0;
    for (const members of this.rooms.values()) count += members.size;
    return count;
  }

  private remove(member: Member): void {
    const roomMembers = this.rooms.get(member.room);
    roomMembers?.delete(member.id);
    if (roomMembers && roomMembers.size === 0) this.rooms.delete(member.room);
    if (member.socketId !== null && this.bySocket.get(member.socketId) === member) this.bySocket.delete(member.socketId);
  }

  private uniqueName(room: string, name: string): string {
    const taken = new Set(this.peersIn(room).map((p) => p.name));
    if (!taken.has(name)) return name;
    for (let suffix = 2; ; suffix++) {
      const tail = `-${suffix}`;
      // Keep the suffixed name within the length limit by trimming the base.
      const candidate = [...name].slice(0, 32 - tail.length).join('') + tail;
      if (!taken.has(candidate)) return candidate;
    }
  }
}

/** Field values of a state patch: booleans, or a position compared by its numbers. */
function sameValue(a: StatePatch[keyof StatePatch], b: StatePatch[keyof StatePatch]): boolean {
  if (typeof a === 'object' && typeof b === 'object') return a.x === b.x && a.y === b.y && a.facing === b.facing;
  return a === b;
}

export function toPeerInfo(member: PeerInfo): PeerInfo {
  return { id: member.id, name: member.name };
}

export function toMemberView(member: Member): MemberView {
  return { id: member.id, name: member.name, state: copyState(member.state) };
}

/** A copy that shares nothing with the registry's own (grants and positions are objects). */
export function copyState(state: MemberState): MemberState {
  return { ...state, grants: [...state.grants], ...(state.position ? { position: { ...state.position } } : {}) };
}
