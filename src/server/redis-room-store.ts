// A cluster node's rooms, kept in Redis and shared by every node. Each change is one Lua script
// (cluster-scripts.ts), atomic in Redis. This node also remembers the members its own sockets
// carry: to answer memberOf at once, to relay among them while Redis is away, and to write them
// back when Redis returns without them.
import { ErrorReply, type createClient } from 'redis';
import { INITIAL_SELF_STATE, JanusHandoffSchema, parseJson, type JanusHandoff, type MemberState, type PeerInfo, type RelayedSignal } from '../protocol.js';
import { EXPIRE_AWAY_SCRIPT, JOIN_SCRIPT, PLACE_JANUS_SCRIPT, KICK_SCRIPT, SAVE_HANDOFF_SCRIPT, LEAVE_SCRIPT, MARK_AWAY_SCRIPT, RELAY_SCRIPT, RESTORE_SCRIPT, SWEEP_NODE_SCRIPT, UPDATE_STATE_SCRIPT } from './cluster-scripts.js';
import { toMemberView, type JoinOptions, type JoinOutcome, type Member, type StatePatch } from './room-registry.js';
import { StoreUnavailableError, type RoomStore, type SignalRoute, type StateChange, type StoreCounts, type StoreEvents } from './room-store.js';
import { KickedMembers } from './kicked-members.js';
import { RESUME_TOKEN_TTL_MS } from './resume-tokens.js';
import { createHash, randomBytes } from 'node:crypto';

export type RedisClient = ReturnType<typeof createClient>;

/** A member as Redis holds it: "" for no socket and no node (away), which cjson keeps cleanly. */
interface StoredMember {
  id: string;
  name: string;
  room: string;
  socketId: string;
  node: string;
  state: MemberState;
  protocolVersion: number;
}

type StoredJoin =
  | { ok: false; kicked?: true }
  | { ok: true; member: StoredMember; others: StoredMember[] | Record<string, never>; resumed: 'rebound' | 'restored' | false; stale: string; renamed: boolean; previous: StoredMember | false; replaced: StoredMember | false };

const NAME_LIMIT = 32;

/** The name trimmed (by characters, not bytes) to leave room for a suffix of 2..6 characters. */
export function nameBases(name: string): string[] {
  return [2, 3, 4, 5, 6].map((tail) => [...name].slice(0, NAME_LIMIT - tail).join(''));
}

export class RedisRoomStore implements RoomStore {
  private readonly bySocket = new Map<string, Member>();
  /** The grace deadline this node wrote for each member it marked away (see removeAway). */
  private readonly awayDeadlines = new Map<string, number>();
  /** Members whose socket closed while Redis was away: marked away when it returns. */
  private readonly awayWhileCutOff: Array<{ member: Member; socketId: string; graceMs: number }> = [];
  private events: StoreEvents | null = null;
  /**
   * The kicks made through this node, kept here too: a Redis that comes back empty has lost its
   * `kicked:` keys, and this node writes them back with its members (restoreLocalMembers).
   */
  private readonly kickedHere: KickedMembers;
  /** Scripts sent on the current connection to Redis, and their SHA1s (run()). */
  private readonly loadedScripts = new Map<string, string>();

  constructor(
    private readonly redis: RedisClient,
    readonly nodeId: string,
    private readonly prefix = 'voxroom:',
    private readonly newId: () => string = () => randomBytes(6).toString('hex'),
    /** How long a kicked member's resume claims are refused: as long as its resume token lives. */
    private readonly kickedTtlMs = RESUME_TOKEN_TTL_MS,
  ) {
    this.kickedHere = new KickedMembers({ ttlMs: kickedTtlMs });
    // A new connection (Redis restarted, or the link came back) loads each script again.
    redis.on('connect', () => this.loadedScripts.clear());
  }

  get available(): boolean {
    return this.redis.isReady;
  }

  subscribe(events: StoreEvents): void {
    this.events = events;
  }

  async join(socketId: string, room: string, requestedName: string, options: JoinOptions): Promise<JoinOutcome> {
    const { protocolVersion = 2, capacity = Number.MAX_SAFE_INTEGER, grants = [], ownsName = false } = options;
    const claim = options.resume && options.resume.room === room && (!ownsName || options.resume.name === requestedName) ? options.resume : null;
    const previous = this.bySocket.get(socketId) ?? null;
    const initial: MemberState = { ...INITIAL_SELF_STATE, away: false, serverMuted: false, grants: [...grants], ...(options.position ? { position: { ...options.position } } : {}) };
    const reply = await this.run<StoredJoin>('join', JOIN_SCRIPT, [
      room, socketId, this.nodeId, claim?.id ?? '', claim?.name ?? '', ownsName ? '1' : '0', requestedName, String(capacity), String(protocolVersion),
      JSON.stringify(initial), this.newId(), previous?.room ?? '', previous?.id ?? '', JSON.stringify(nameBases(claim ? claim.name : requestedName)),
    ]);
    if (!reply || !reply.ok) return { ok: false, reason: reply?.kicked ? 'kicked' : 'room-full' };
    const member = toMember(reply.member);
    if (previous) this.bySocket.delete(socketId);
    if (reply.stale !== '') this.bySocket.delete(reply.stale);
    const replaced = reply.replaced ? toMember(reply.replaced) : null;
    if (replaced?.socketId) this.bySocket.delete(replaced.socketId);
    this.bySocket.set(socketId, member);
    this.awayDeadlines.delete(member.id); // Back: the grace this node gave it is over.
    return {
      ok: true,
      member,
      others: listOf(reply.others).map((m) => toMemberView(toMember(m))),
      renamed: reply.renamed,
      resumed: reply.resumed === false ? null : reply.resumed,
      staleSocketId: reply.stale === '' ? null : reply.stale,
      replaced,
    };
  }

  async leave(socketId: string): Promise<Member | null> {
    const member = this.bySocket.get(socketId);
    if (!member) return null;
    this.bySocket.delete(socketId);
    const stored = await this.run<StoredMember>('leave', LEAVE_SCRIPT, [member.room, member.id, socketId]);
    return stored ? toMember(stored) : null;
  }

  async markAway(socketId: string, graceMs: number): Promise<Member | null> {
    const member = this.bySocket.get(socketId);
    if (!member) return null;
    this.bySocket.delete(socketId);
    try {
      const deadline = Date.now() + graceMs;
      const stored = await this.run<StoredMember>('mark away', MARK_AWAY_SCRIPT, [member.room, member.id, socketId, String(deadline)]);
      if (stored) this.awayDeadlines.set(member.id, deadline);
      return stored ? toMember(stored) : null;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.awayWhileCutOff.push({ member, socketId, graceMs });
      return null;
    }
  }

  /** Ends an away member when the grace this node gave it is over, unless a later away spell (begun on another node) holds it. */
  async removeAway(member: Member): Promise<Member | null> {
    const deadline = this.awayDeadlines.get(member.id) ?? Date.now();
    this.awayDeadlines.delete(member.id);
    const stored = await this.run<StoredMember>('remove away', LEAVE_SCRIPT, [member.room, member.id, '', String(deadline)]);
    return stored ? toMember(stored) : null;
  }

  async updateState(socketId: string, patch: StatePatch): Promise<StateChange> {
    const member = this.bySocket.get(socketId);
    if (!member) return null;
    const change = await this.patch(member, socketId, patch);
    if (change) this.bySocket.set(socketId, change.member);
    return change;
  }

  async updateStateById(id: string, patch: StatePatch): Promise<StateChange> {
    const member = this.localMemberById(id);
    return member ? this.updateStateOf(member, patch) : null;
  }

  async updateStateOf(member: Member, patch: StatePatch): Promise<StateChange> {
    const change = await this.patch(member, '', patch);
    // This node's copy of a member it carries follows (another node's copy learns on its next write).
    if (change) this.updateLocalCopies(member.id, () => change.member);
    return change;
  }

  async kick(member: Member): Promise<Member | null> {
    this.kickedHere.add(member.id, Date.now());
    const stored = await this.run<StoredMember>('kick a member', KICK_SCRIPT, [member.room, member.id, String(this.kickedTtlMs)]);
    // Carried here: forgotten now. Carried by another node: its socket's disconnect finds it gone.
    for (const [socketId, own] of this.bySocket) if (own.id === member.id) this.bySocket.delete(socketId);
    return stored ? toMember(stored) : null;
  }

  private async patch(member: Member, socketId: string, patch: StatePatch): Promise<StateChange> {
    const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
    const reply = await this.run<{ member: StoredMember; changed: boolean }>('update state', UPDATE_STATE_SCRIPT, [member.room, member.id, socketId, JSON.stringify(defined)]);
    return reply ? { member: toMember(reply.member), changed: reply.changed } : null;
  }

  async roommate(socketId: string, peerId: string): Promise<Member | null> {
    const sender = this.bySocket.get(socketId);
    if (!sender || sender.id === peerId) return null;
    if (!this.redis.isReady) return this.localRoommate(sender, peerId);
    return this.storedMember(sender.room, peerId, 'look up a roommate');
  }

  /** One member as Redis has it (one field of its room's hash), or null. */
  private async storedMember(room: string, id: string, what: string): Promise<Member | null> {
    const raw = await this.guard(what, () => this.redis.hGet(this.roomKey(room), id));
    return typeof raw === 'string' ? toMember(JSON.parse(raw) as StoredMember) : null;
  }

  /**
   * One script finds the target and, when another node carries it, appends the signal to that
   * node's inbox: a relay across nodes costs the one Redis round trip a local relay costs, and
   * only the target's node reads it (socket.io's adapter would add a second round trip and have
   * every node read every relay).
   */
  async relaySignal(socketId: string, peerId: string, signal: RelayedSignal): Promise<SignalRoute> {
    const sender = this.bySocket.get(socketId);
    if (!sender || sender.id === peerId) return { target: null, forwarded: false };
    if (!this.redis.isReady) return { target: this.localRoommate(sender, peerId), forwarded: false };
    const reply = await this.run<{ member: StoredMember; forwarded: boolean }>('relay a signal', RELAY_SCRIPT, [sender.room, peerId, this.nodeId, JSON.stringify(signal)]);
    return reply ? { target: toMember(reply.member), forwarded: reply.forwarded } : { target: null, forwarded: false };
  }

  /** Redis is away: relays among this node's own members go on. */
  private localRoommate(sender: Member, peerId: string): Member | null {
    return [...this.bySocket.values()].find((m) => m.room === sender.room && m.id === peerId) ?? null;
  }

  async membersIn(room: string): Promise<Member[]> {
    const raw = await this.guard('list a room', () => this.redis.hVals(this.roomKey(room)));
    return raw.map((value) => toMember(JSON.parse(value) as StoredMember));
  }

  async peersIn(room: string): Promise<PeerInfo[]> {
    return (await this.membersIn(room)).map(({ id, name }) => ({ id, name }));
  }

  /**
   * The Janus an SFU room goes through, the same for every node: the one recorded, or (none yet,
   * or the recorded one is `replacing`, which was lost) `proposed`, recorded now (`replaced`:
   * over another one, which the other nodes must leave). Atomic.
   */
  async placeOnJanus(room: string, proposed: string, replacing: string | null): Promise<{ janus: string; replaced: boolean }> {
    return (await this.run<{ janus: string; replaced: boolean }>('place a room on a Janus', PLACE_JANUS_SCRIPT, [room, proposed, replacing ?? ''])) ?? { janus: proposed, replaced: false };
  }

  /** Records the member's Janus session and handles for a node that may take its media over (SAVE_HANDOFF_SCRIPT). */
  async saveJanusHandoff(room: string, id: string, handoff: JanusHandoff): Promise<void> {
    await this.run('record a member\'s Janus session', SAVE_HANDOFF_SCRIPT, [room, id, this.nodeId, JSON.stringify(handoff)]);
  }

  /** The member's Janus session and handles as last recorded, or null. */
  async janusHandoff(room: string, id: string): Promise<JanusHandoff | null> {
    const raw = await this.guard('read a member\'s Janus session', () => this.redis.hGet(`${this.prefix}janus-sessions`, `${room}\n${id}`));
    // Written by another node (maybe an older or newer one): checked, and ignored if odd.
    const handoff = JanusHandoffSchema.safeParse(parseJson(raw ?? undefined));
    return handoff.success ? handoff.data : null;
  }

  refreshLocalCopy(id: string, patch: Pick<MemberState, 'serverMuted'>): void {
    this.updateLocalCopies(id, (own) => ({ ...own, state: { ...own.state, ...patch } }));
  }

  /** This node's copies of a member it carries (one per socket it has been on here) take `update`'s. */
  private updateLocalCopies(id: string, update: (own: Member) => Member): void {
    for (const [socketId, own] of this.bySocket) if (own.id === id) this.bySocket.set(socketId, update(own));
  }

  memberOf(socketId: string): Member | null {
    return this.bySocket.get(socketId) ?? null;
  }

  localMemberById(id: string): Member | null {
    for (const member of this.bySocket.values()) if (member.id === id) return member;
    return null;
  }

  localMembersIn(room: string): Member[] {
    return [...this.bySocket.values()].filter((m) => m.room === room);
  }

  async counts(): Promise<StoreCounts> {
    const own = { rooms: new Set([...this.bySocket.values()].map((m) => m.room)).size, peers: this.bySocket.size };
    if (!this.redis.isReady) return { ...own, cluster: { rooms: 0, peers: 0, nodes: 0, redis: 'down' } };
    try {
      const rooms = await this.redis.sMembers(`${this.prefix}rooms`);
      const sizes = await Promise.all(rooms.map((room) => this.redis.hLen(this.roomKey(room))));
      const nodes = await this.redis.sCard(`${this.prefix}nodes`);
      return { ...own, cluster: { rooms: rooms.length, peers: sizes.reduce((sum, n) => sum + n, 0), nodes, redis: 'up' } };
    } catch {
      return { ...own, cluster: { rooms: 0, peers: 0, nodes: 0, redis: 'down' } };
    }
  }

  /**
   * Cluster housekeeping, run by every node every second: dead nodes' members become away, and
   * away members whose grace ran out leave. Each change is made by exactly one node's script,
   * which then announces it.
   */
  async sweep(graceMs: number, liveNodes: (nodes: string[]) => Promise<boolean[]>): Promise<void> {
    if (!this.redis.isReady || !this.events) return;
    const nodes = await this.redis.sMembers(`${this.prefix}nodes`);
    const alive = await liveNodes(nodes);
    for (const [index, node] of nodes.entries()) {
      if (alive[index] || node === this.nodeId) continue;
      const away = await this.run<StoredMember[] | Record<string, never>>('sweep a node', SWEEP_NODE_SCRIPT, [node, String(Date.now() + graceMs)]);
      for (const member of listOf(away ?? [])) this.events.away(toMember(member));
    }
    const gone = await this.run<StoredMember[] | Record<string, never>>('expire away members', EXPIRE_AWAY_SCRIPT, [String(Date.now())]);
    for (const member of listOf(gone ?? [])) this.events.gone(toMember(member));
  }

  /**
   * Redis is back, or this node was taken for dead (its heartbeat lapsed: a stall): its connected
   * members are written back, announced if Redis had lost them or made them away.
   */
  async restoreLocalMembers(): Promise<number> {
    for (const { member, socketId, graceMs } of this.awayWhileCutOff.splice(0)) {
      const stored = await this.run<StoredMember>('mark away', MARK_AWAY_SCRIPT, [member.room, member.id, socketId, String(Date.now() + graceMs)]);
      if (stored) this.events?.away(toMember(stored));
    }
    const now = Date.now();
    for (const [id, expiry] of this.kickedHere.entries(now)) {
      // NX: a kick another node wrote back, or made since, stays as it is.
      await this.redis.set(`${this.prefix}kicked:${id}`, '1', { expiration: { type: 'PX', value: Math.max(1, expiry - now) }, condition: 'NX' });
    }
    let restored = 0;
    for (const [socketId, member] of this.bySocket) {
      const stored: StoredMember = { ...member, socketId, node: this.nodeId, state: { ...member.state, away: false } };
      const capacity = this.events?.capacityOf(member.room) ?? Number.MAX_SAFE_INTEGER;
      const outcome = await this.redis.eval(RESTORE_SCRIPT, { keys: [], arguments: [this.prefix, JSON.stringify(stored), String(capacity)] });
      if (outcome === 'displaced') this.events?.displaced(member, socketId);
      if (outcome === 'restored') {
        restored++;
        this.events?.restored(member);
      } else if (outcome === 'returned') {
        restored++;
        // As Redis has it: its state may have changed while it was away (a server-mute, say).
        const current = (await this.storedMember(member.room, member.id, 'read a member written back')) ?? { ...member, socketId, state: { ...member.state, away: false } };
        this.bySocket.set(socketId, current);
        this.events?.returned(current);
      }
    }
    return restored;
  }

  async close(): Promise<void> {
    this.bySocket.clear();
  }

  private roomKey(room: string): string {
    return `${this.prefix}room:${room}`;
  }

  /**
   * Runs a script by its SHA1 (EVALSHA; a relay runs one per signal, and its text is kilobytes).
   * Its first use on a connection is an EVAL, which loads it: every EVALSHA sent after it on the
   * same connection is run after it, so commands keep their order. (Answering NOSCRIPT with an
   * EVAL instead would let a later EVALSHA overtake the commands waiting for their EVAL, after
   * every Redis restart: Redis does not keep its scripts.) NOSCRIPT now means someone flushed
   * the scripts: the EVAL that follows loads it again. Its JSON reply decoded, or null for nil.
   */
  private async run<T>(what: string, script: string, args: string[]): Promise<T | null> {
    const options = { keys: [], arguments: [this.prefix, ...args] };
    const reply = await this.guard(what, async () => {
      const sha = this.loadedScripts.get(script);
      if (sha === undefined) {
        this.loadedScripts.set(script, createHash('sha1').update(script).digest('hex'));
        return this.redis.eval(script, options);
      }
      try {
        return await this.redis.evalSha(sha, options);
      } catch (error) {
        if (error instanceof ErrorReply && error.message.startsWith('NOSCRIPT')) return this.redis.eval(script, options);
        throw error;
      }
    });
    return typeof reply === 'string' ? (JSON.parse(reply) as T) : null;
  }

  /** A lost connection becomes StoreUnavailableError (retryable); a script's own error stays what it is. */
  private async guard<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (!this.redis.isReady) throw new StoreUnavailableError(`cannot ${what}`);
    try {
      return await call();
    } catch (error) {
      if (error instanceof ErrorReply) throw new Error(`Redis refused to ${what}: ${error.message}`);
      throw new StoreUnavailableError(`cannot ${what}: ${(error as Error).message}`);
    }
  }
}

/** cjson writes an empty list as {}: read it back as a list. */
function listOf<T>(value: T[] | Record<string, never>): T[] {
  return Array.isArray(value) ? value : [];
}

function toMember(stored: StoredMember): Member {
  const state: MemberState = { ...stored.state, grants: listOf(stored.state.grants as MemberState['grants'] | Record<string, never>) };
  return { id: stored.id, name: stored.name, room: stored.room, socketId: stored.socketId === '' ? null : stored.socketId, state, protocolVersion: stored.protocolVersion };
}
