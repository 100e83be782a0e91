// Where the server keeps its rooms: one interface, two places. A single node keeps them in its
// own memory (RoomRegistry, LocalRoomStore below); a cluster node keeps them in Redis, shared
// with the other nodes (RedisRoomStore). The server talks to this interface only.
import type { MemberState, PeerInfo, RelayedSignal } from '../protocol.js';
import { KickedMembers } from './kicked-members.js';
import { RoomRegistry, type JoinOptions, type JoinOutcome, type Member, type StatePatch } from './room-registry.js';

export type StateChange = { member: Member; changed: boolean } | null;

export interface SignalRoute {
  target: Member | null;
  forwarded: boolean;
}

/** The store cannot answer now (Redis is unreachable): the client may retry later. */
export class StoreUnavailableError extends Error {
  constructor(what: string) {
    super(`the room store is unavailable (${what}); the cluster's Redis cannot be reached, try again shortly`);
    this.name = 'StoreUnavailableError';
  }
}

export interface RoomStore {
  /** RoomRegistry.join, for a socket of this node; a resume claim of a kicked member is refused (`kicked`). */
  join(socketId: string, room: string, requestedName: string, options: JoinOptions): Promise<JoinOutcome>;
  /** Ends the membership the socket carries; the member, or null if it had none. */
  leave(socketId: string): Promise<Member | null>;
  /** The socket closed: its member is away (for the grace); null if it carried none. */
  markAway(socketId: string, graceMs: number): Promise<Member | null>;
  /** Ends an away member's membership when its grace ran out; null if it is back or gone. */
  removeAway(member: Member): Promise<Member | null>;
  updateState(socketId: string, patch: StatePatch): Promise<StateChange>;
  updateStateById(id: string, patch: StatePatch): Promise<StateChange>;
  /** A state patch for a member found with roommate (in a cluster: carried by any node), e.g. an admin's server-mute. */
  updateStateOf(member: Member, patch: StatePatch): Promise<StateChange>;
  /**
   * An admin removed the member (connected or away, on any node): it leaves, and resume claims
   * for its id are refused while a resume token issued before could still be valid.
   * The member as removed, or null if it had already gone.
   */
  kick(member: Member): Promise<Member | null>;
  /** The member with `peerId` if it shares a room with the socket's member. */
  roommate(socketId: string, peerId: string): Promise<Member | null>;
  /**
   * Hands a signal towards the roommate `peerId`: the target as found (null: no such roommate),
   * and whether the store already delivered it to another node (`forwarded`; a cluster, in the
   * same step as the lookup). Otherwise the caller sends it to the target's socket, if it has one.
   */
  relaySignal(socketId: string, peerId: string, signal: RelayedSignal): Promise<SignalRoute>;
  membersIn(room: string): Promise<Member[]>;
  peersIn(room: string): Promise<PeerInfo[]>;
  /**
   * Another node changed a member this node carries (an admin's server-mute, told between
   * nodes): this node's copy takes the new state. A single node: nothing to do.
   */
  refreshLocalCopy(id: string, patch: Pick<MemberState, 'serverMuted'>): void;
  /** The member a socket of this node carries, as this node last knew it. */
  memberOf(socketId: string): Member | null;
  /** A member carried by this node (connected, or away from it), by id. */
  localMemberById(id: string): Member | null;
  /** The members this node carries in `room` (a single node: all of them). */
  localMembersIn(room: string): Member[];
  /** Figures for /healthz and /metrics: this node's, and the cluster's when there is one. */
  counts(): Promise<StoreCounts>;
  /** Changes other nodes' members undergo that this node noticed (sweeps, Redis back): announce them. */
  subscribe(events: StoreEvents): void;
  close(): Promise<void>;
}

export interface StoreEvents {
  /** Members of a dead node, now away. */
  away(member: Member): void;
  /** Away members whose grace ran out, now gone. */
  gone(member: Member): void;
  /** Members this node wrote back after Redis forgot them. */
  restored(member: Member): void;
  /** Members this node carries again after another node took it for dead and made them away. */
  returned(member: Member): void;
  /**
   * A member Redis had lost that cannot be written back: another took its name, or its room is
   * full, meanwhile. Its socket should rejoin as any newcomer would (renamed, or refused).
   */
  displaced(member: Member, socketId: string): void;
  /** How many members `room` may hold now (asked when writing members back). */
  capacityOf(room: string): number;
}

export interface StoreCounts {
  rooms: number;
  peers: number;
  cluster?: { rooms: number; peers: number; nodes: number; redis: 'up' | 'down' };
}

/** One machine: the rooms live in this process's memory; every call answers at once. */
export class LocalRoomStore implements RoomStore {
  constructor(
    readonly registry: RoomRegistry,
    /** Members an admin kicked: kept in this process (a single node has no other). */
    private readonly kicked = new KickedMembers(),
    /** Told after every kick, to keep the list beyond this process (KickedMembersFile): the kick is acknowledged once it is kept. */
    private readonly onKicked?: (kicked: KickedMembers) => Promise<void>,
  ) {}

  async join(socketId: string, room: string, requestedName: string, options: JoinOptions): Promise<JoinOutcome> {
    if (options.resume && this.kicked.has(options.resume.id, Date.now())) return { ok: false, reason: 'kicked' };
    return this.registry.join(socketId, room, requestedName, options);
  }
  async kick(member: Member): Promise<Member | null> {
    this.kicked.add(member.id, Date.now());
    const removed = this.registry.removeById(member.id);
    await this.onKicked?.(this.kicked);
    return removed;
  }
  async updateStateOf(member: Member, patch: StatePatch): Promise<StateChange> {
    return this.registry.updateStateById(member.id, patch);
  }
  async leave(socketId: string): Promise<Member | null> {
    return this.registry.leave(socketId);
  }
  async markAway(socketId: string): Promise<Member | null> {
    return this.registry.markAway(socketId);
  }
  async removeAway(member: Member): Promise<Member | null> {
    return this.registry.removeAway(member.id);
  }
  async updateState(socketId: string, patch: StatePatch): Promise<StateChange> {
    return this.registry.updateState(socketId, patch);
  }
  async updateStateById(id: string, patch: StatePatch): Promise<StateChange> {
    return this.registry.updateStateById(id, patch);
  }
  async roommate(socketId: string, peerId: string): Promise<Member | null> {
    return this.registry.roommate(socketId, peerId);
  }
  async relaySignal(socketId: string, peerId: string): Promise<SignalRoute> {
    return { target: this.registry.roommate(socketId, peerId), forwarded: false };
  }
  async membersIn(room: string): Promise<Member[]> {
    return this.registry.membersIn(room);
  }
  async peersIn(room: string): Promise<PeerInfo[]> {
    return this.registry.peersIn(room);
  }
  refreshLocalCopy(): void {
    // One node: the registry is the only copy.
  }
  memberOf(socketId: string): Member | null {
    return this.registry.memberOf(socketId);
  }
  localMemberById(id: string): Member | null {
    return this.registry.memberById(id);
  }
  localMembersIn(room: string): Member[] {
    return this.registry.membersIn(room);
  }
  async counts(): Promise<StoreCounts> {
    return { rooms: this.registry.roomCount, peers: this.registry.peerCount };
  }
  subscribe(): void {
    // One node: nothing changes behind the server's back.
  }
  async close(): Promise<void> {}
}
