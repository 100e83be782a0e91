// Room state: who is in which room, under which name, and the resume tokens that let a peer
// take its place back after a lost connection. Pure logic, no I/O: the server drives it.
import { randomBytes } from 'node:crypto';
import { INITIAL_MEMBER_STATE, type Member as MemberView, type MemberState, type PeerInfo, type Position } from '../protocol.js';

export interface Member extends PeerInfo {
  room: string;
  /** What the room sees of this member besides its identity (PROTOCOL.md, "Member state"). */
  state: MemberState;
  /** The protocol version its client speaks: decides which room events it is sent. */
  protocolVersion: number;
  /** The socket carrying this member; differs from `id` so that ids never leak transport details. */
  socketId: string;
  resumeToken: string;
}

export type JoinOutcome =
  | { ok: true; member: Member; others: MemberView[]; renamed: boolean; replaced: Member | null }
  | { ok: false; reason: 'room-full' };

export class RoomRegistry {
  private readonly rooms = new Map<string, Map<string, Member>>();
  private readonly bySocket = new Map<string, Member>();
  private readonly byResumeToken = new Map<string, Member>();

  constructor(
    private readonly maxPeersPerRoom: number,
    private readonly newId: () => string = () => randomBytes(6).toString('hex'),
    private readonly newToken: () => string = () => randomBytes(18).toString('base64url'),
  ) {}

  /**
   * Adds the socket to `room`. A socket is in at most one room, so any earlier membership ends.
   * With a valid resume token the stale member it names is removed first and its name reused.
   */
  /**
   * `capacity`: this room's limit for this join (default: the registry's). `position`: where a
   * newcomer stands in a spatial room (a resumed session keeps its own).
   */
  join(socketId: string, room: string, requestedName: string, resumeToken?: string, protocolVersion = 2, capacity = this.maxPeersPerRoom, position?: Position): JoinOutcome {
    const stale = resumeToken !== undefined ? this.byResumeToken.get(resumeToken) : undefined;
    const replaced = stale !== undefined && stale.socketId !== socketId ? stale : null;
    const previous = this.bySocket.get(socketId);
    const members = this.rooms.get(room);
    const leavingThisRoom = [previous, replaced].filter((m): m is Member => m !== undefined && m !== null && m.room === room).length;
    if ((members?.size ?? 0) - leavingThisRoom >= capacity) return { ok: false, reason: 'room-full' };

    if (previous) this.remove(previous);
    if (replaced) this.remove(replaced);
    const baseName = replaced && replaced.room === room ? replaced.name : requestedName;
    const name = this.uniqueName(room, baseName);
    // A resumed session keeps its state (a muted member stays muted across a reconnect).
    const state: MemberState = replaced && replaced.room === room ? { ...replaced.state } : { ...INITIAL_MEMBER_STATE, ...(position ? { position } : {}) };
    const member: Member = { id: this.newId(), name, room, socketId, resumeToken: this.newToken(), state, protocolVersion };
    const roomMembers = this.rooms.get(room) ?? new Map<string, Member>();
    const others = [...roomMembers.values()].map(toMemberView);
    roomMembers.set(member.id, member);
    this.rooms.set(room, roomMembers);
    this.bySocket.set(socketId, member);
    this.byResumeToken.set(member.resumeToken, member);
    return { ok: true, member, others, renamed: name !== requestedName, replaced };
  }

  /** Removes whatever membership the socket has; returns it so the caller can tell the room. */
  leave(socketId: string): Member | null {
    const member = this.bySocket.get(socketId);
    if (!member) return null;
    this.remove(member);
    return member;
  }

  /** Applies a change to a member's state; `changed` is false when nothing differed. */
  updateState(socketId: string, patch: Partial<MemberState>): { member: Member; changed: boolean } | null {
    const member = this.bySocket.get(socketId);
    if (!member) return null;
    let changed = false;
    for (const key of Object.keys(patch) as Array<keyof MemberState>) {
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

  get peerCount(): number {
    return this.bySocket.size;
  }

  private remove(member: Member): void {
    const roomMembers = this.rooms.get(member.room);
    roomMembers?.delete(member.id);
    if (roomMembers && roomMembers.size === 0) this.rooms.delete(member.room);
    if (this.bySocket.get(member.socketId) === member) this.bySocket.delete(member.socketId);
    this.byResumeToken.delete(member.resumeToken);
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

/** Field values of a member state: booleans, or a position compared by its numbers. */
function sameValue(a: MemberState[keyof MemberState], b: MemberState[keyof MemberState]): boolean {
  if (typeof a === 'object' && typeof b === 'object') return a.x === b.x && a.y === b.y && a.facing === b.facing;
  return a === b;
}

export function toPeerInfo(member: PeerInfo): PeerInfo {
  return { id: member.id, name: member.name };
}

export function toMemberView(member: Member): MemberView {
  return { id: member.id, name: member.name, state: copyState(member.state) };
}

/** A copy that shares nothing with the registry's own (positions are objects). */
export function copyState(state: MemberState): MemberState {
  return state.position ? { ...state, position: { ...state.position } } : { ...state };
}
