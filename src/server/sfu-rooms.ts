// Which rooms carry their audio through the SFU, and the link between those rooms' members and
// the Janus driver. Rooms move between the mesh and the SFU as room-media-policy.ts decides
// (`--media auto`: by size), and when Janus is lost: then every SFU room falls back to the mesh,
// a reconnect loop brings Janus back (restarting it for --janus auto), and the rooms return.
// Members are told with `media-changed`; the peers switch make-before-break.
// In a cluster every node runs one of these for the members it carries (`placement`): a room's
// setting decides its media (no size-driven moves), the room's Janus is recorded in Redis so that
// every node uses the same one, and each member's Janus session is recorded there too: a member
// that resumes through another node (its own died, or it lost its connection) has that node
// claim its session and drive its handles on, so its peer's connections to Janus carry on. When
// that fails (Janus dropped the session), it publishes afresh there, make-before-break, and the
// node it left lets its old handles go 5 s later.
import type { Logger } from '../log.js';
import type { JanusHandoff, MediaMode, SfuOffer, SfuStream } from '../protocol.js';
import type { JanusDriver } from './janus-driver.js';
import { DEFAULT_AUTO_MEDIA, meshReturnWaitMs, targetMedia, type AutoMediaOptions, type MediaSetting } from './room-media-policy.js';

export interface SfuRoomsHooks {
  /** Sends a subscriber offer to a member's socket. */
  offer(memberId: string, offer: SfuOffer): void;
  /** A member's subscriber sections carry other speakers now. */
  streams(memberId: string, streams: SfuStream[]): void;
  /** Janus heard a member start or stop talking. */
  talking(memberId: string, talking: boolean): void;
  /** A room's media changed (or its media server restarted): tell its members. */
  mediaChanged(room: string, media: MediaMode, reason: string): void;
  /** A room that is too large for a mesh lost its media server: tell its members to wait. */
  mediaUnavailable(room: string, reason: string): void;
  /** The ids of a room's members now (in a cluster: the ones this node carries). */
  membersOf(room: string): string[];
  /** How many members a room has on every node (a cluster; default: membersOf's). */
  roomSize?(room: string): Promise<number>;
  /** A cluster: this node moved a room's record to another Janus; the other nodes must follow. */
  replacedPlacement?(room: string, janus: string): void;
  /** Whether a member's audio may be forwarded to the others (its speak grant, no server-mute). */
  mayForward(memberId: string): boolean;
  /** Whether a member may be subscribed to the others (its listen grant). */
  mayListen(memberId: string): boolean;
}

export interface SfuRoomsOptions {
  /** The server-wide setting, and a room's own from the map. */
  setting: MediaSetting;
  settingFor?: (room: string) => MediaSetting | undefined;
  auto?: Partial<AutoMediaOptions>;
  /** Members a room may have while it is a mesh, and through the SFU. */
  meshLimit: number;
  sfuLimit: number;
  /**
   * Rooms shared with other nodes (a cluster): where each room's Janus is recorded for all of
   * them. `auto` is not available then (it needs one view of a room's size).
   */
  placement?: JanusPlacement;
}

/** A cluster's record of which Janus each SFU room uses, and of its members' sessions (Redis: redis-room-store.ts). */
export interface JanusPlacement {
  /** Records what another node needs to take a member's media over (written by the node driving it). */
  saveJanusHandoff(room: string, id: string, handoff: JanusHandoff): Promise<void>;
  /**
   * The room's Janus (its URL): the one recorded, or `proposed`, recorded now when none is or
   * the recorded one is `replacing` (lost). Atomic: every node gets the same answer.
   */
  placeOnJanus(room: string, proposed: string, replacing: string | null): Promise<{ janus: string; replaced: boolean }>;
}

/** How long a placement may take before this node goes on with its own proposal. */
const PLACEMENT_TIMEOUT_MS = 2000;

/** A Janus the server can use: a connected driver, and how to get a new one after a loss. */
export interface JanusSource {
  /** null: not connected yet (it is tried with `reconnect`). */
  driver: JanusDriver | null;
  /** Connects a new driver after a loss (for --janus auto, restarting Janus first). */
  reconnect?: () => Promise<JanusDriver>;
}

/** One Janus: its driver now (null while lost). */
interface JanusSlot {
  driver: JanusDriver | null;
  reconnect: (() => Promise<JanusDriver>) | null;
  reconnectTimer: NodeJS.Timeout | null;
}

interface RoomMedia {
  media: MediaMode;
  /** Since when (performance.now(), a clock nothing adjusts) the room has been small enough to return to the mesh. */
  smallSince: number | null;
  recheck: NodeJS.Timeout | null;
  /** The Janus an SFU room is placed on. */
  janus: JanusSlot | null;
  /** A cluster: the placement being asked of Redis (a newer request makes it stale); settles when done. */
  placing: Promise<void> | null;
  /** The Janus (URL) this room was on when it was lost: its record in Redis may be replaced. */
  lostJanus: string | null;
}

/** How long after its last member went a room's Janus room is destroyed (retireIfAbandoned). */
const RETIRE_AFTER_MS = 5000;
/** How often a lost Janus is tried again. */
const RECONNECT_EVERY_MS = 2000;
/**
 * A member of a room that returns to the mesh keeps its Janus handles this long, so that its
 * peers hear each other through Janus until their mesh links carry the audio (make-before-break).
 */
const MESH_TAKEOVER_MS = 5000;

export class SfuRooms {
  private readonly januses: JanusSlot[];
  private readonly rooms = new Map<string, RoomMedia>();
  /** Members of rooms that now run through the SFU, and their rooms. */
  private readonly sfuMembers = new Map<string, string>();
  /**
   * Members whose Janus handles go soon: their room returned to the mesh (the handles carry the
   * audio until the peers' mesh does; such a member coming back to the SFU takes them up again),
   * or they resumed through another node (`moved`: that node drives them now).
   */
  private readonly pendingLeaves = new Map<string, { room: string; driver: JanusDriver; timer: NodeJS.Timeout; moved: boolean }>();
  private readonly auto: AutoMediaOptions;
  /** Members expected to be adopted (expectAdoption), and adoptions under way (true: taken over). */
  private readonly handoffs = new Map<string, JanusHandoff>();
  private readonly adoptions = new Map<string, Promise<boolean>>();
  /** Rooms whose Janus room is to be destroyed soon, if still abandoned then (retireIfAbandoned). */
  private readonly retiring = new Set<string>();
  private closed = false;

  constructor(
    private readonly options: SfuRoomsOptions,
    januses: JanusSource[],
    private readonly hooks: SfuRoomsHooks,
    private readonly logger: Logger,
  ) {
    this.auto = { ...DEFAULT_AUTO_MEDIA, ...options.auto };
    this.januses = januses.map(({ reconnect }) => ({ driver: null, reconnect: reconnect ?? null, reconnectTimer: null }));
    januses.forEach(({ driver }, index) => {
      const slot = this.januses[index]!;
      if (driver) this.attach(slot, driver);
      else this.scheduleReconnect(slot);
    });
  }

  /**
   * The member resumed its place through another node (a cluster), which now drives its media:
   * its handles here go 5 s later (MESH_TAKEOVER_MS), by when its new path normally carries it
   * (make-before-break; its peer switches within 3 s).
   */
  memberMoved(memberId: string, claimed = false): void {
    const driver = this.driverOf(memberId);
    const room = this.sfuMembers.get(memberId);
    if (!driver || room === undefined) return;
    this.sfuMembers.delete(memberId);
    if (!claimed) return this.leaveLater(memberId, room, driver, true);
    // That node claimed its Janus session: the handles carry on there, not to be detached here.
    driver.release(memberId);
    this.dropIfUnused(room);
  }

  /**
   * A member back through this node (a cluster) whose media another node drove: when the room
   * joins it to that Janus, this node claims the member's session instead of starting anew
   * (JanusDriver.adopt). Call before memberJoined; `adopted` then says how it went.
   */
  expectAdoption(memberId: string, handoff: JanusHandoff): void {
    this.handoffs.set(memberId, handoff);
  }

  /**
   * Whether this node took the member's Janus session over (expectAdoption): its peer keeps its
   * connections. false: it joined afresh, or has not joined Janus (it publishes anew when it does).
   */
  async adopted(memberId: string): Promise<boolean> {
    this.handoffs.delete(memberId);
    const adoption = this.adoptions.get(memberId);
    this.adoptions.delete(memberId);
    return adoption ?? false;
  }

  /**
   * Another node moved the room's record to another Janus (it lost the one recorded): this
   * node's members follow, so that the room is not split between two Januses.
   */
  roomPlaced(room: string, janus: string): void {
    const state = this.rooms.get(room);
    if (this.closed || !state || state.media !== 'sfu' || state.janus?.driver?.url === janus) return;
    this.move(room, state, 'sfu', 'the room moved to another media server');
  }

  /** Settles once the room's Janus is known (a cluster asks Redis): its members are in it then. */
  async whenPlaced(room: string): Promise<void> {
    // (A newer placement may replace the one awaited: wait for that too.)
    for (let placing = this.rooms.get(room)?.placing; placing; placing = this.rooms.get(room)?.placing) await placing;
  }

  /**
   * Another node says a member left its room (left, kicked, replaced, did not resume): if this
   * node drives its handles they go; every node's listeners stop hearing its feeds at once.
   */
  memberLeftElsewhere(room: string, memberId: string): void {
    if (this.sfuMembers.has(memberId) || this.pendingLeaves.has(memberId)) this.memberLeft(room, memberId);
    for (const slot of this.januses) slot.driver?.forgetRemoteMember(memberId);
  }

  /** How a room carries audio once it has `members` (a newcomer included): a query, no change. */
  mediaAfterJoin(room: string, members: number): MediaMode {
    const current = this.rooms.get(room)?.media ?? 'mesh';
    return targetMedia({ setting: this.settingFor(room), current, members, janusAvailable: this.available, smallForMs: 0 }, this.auto);
  }

  /** How many members the room may hold once this join is in: a mesh is capped lower. */
  capacityFor(room: string, members: number): number {
    const media = this.rooms.get(room)?.media === 'sfu' ? 'sfu' : this.mediaAfterJoin(room, members);
    return media === 'sfu' ? this.options.sfuLimit : this.options.meshLimit;
  }

  /** A member joined (the registry holds it): the room may move; returns the media it uses. */
  memberJoined(room: string, memberId: string): MediaMode {
    const state = this.stateOf(room);
    const members = this.hooks.membersOf(room);
    const target = this.mediaAfterJoin(room, members.length);
    if (members.length > this.auto.meshReturnAt) this.clearSmall(state);
    // A room waiting for its lost media server stays waiting while it is too large for a mesh.
    const waitingTooLarge = state.media === 'sfu' && state.janus === null && members.length > this.options.meshLimit;
    if (target !== state.media && !waitingTooLarge) this.move(room, state, target, `the room grew to ${members.length} members`, memberId);
    if (state.media === 'sfu') this.joinDriver(room, memberId);
    return state.media;
  }

  /** A member left (the registry no longer holds it): a shrunk room may return to the mesh later. */
  memberLeft(room: string, memberId: string): void {
    const state = this.rooms.get(room);
    this.leaveNow(memberId);
    if (this.sfuMembers.delete(memberId)) state?.janus?.driver?.leave(memberId).catch((error: Error) => this.logger.warn('Janus: leaving failed', { member: memberId, error: error.message }));
    this.retireIfAbandoned(room);
    if (!state) return;
    const members = this.hooks.membersOf(room).length;
    if (this.dropIfUnused(room)) return;
    if (state.media === 'sfu' && this.settingFor(room) === 'auto' && members <= this.auto.meshReturnAt && state.smallSince === null) {
      state.smallSince = performance.now();
      state.recheck = setTimeout(() => this.recheck(room), this.auto.meshReturnAfterMs);
      state.recheck.unref();
    }
  }

  /**
   * A member's grants or server-mute changed (`now`: as another node or the store says; default:
   * this node's copy): its media server forwards it, or stops. In a cluster every node's drivers
   * hear of it, so that another node's listeners do not keep a slot for it.
   */
  forwardingChanged(memberId: string, now?: { forwarded: boolean; listening: boolean }): void {
    const forwarded = now?.forwarded ?? this.hooks.mayForward(memberId);
    const driving = this.driverOf(memberId);
    driving?.setForwarded(memberId, forwarded);
    driving?.setListening(memberId, now?.listening ?? this.hooks.mayListen(memberId));
    if (!this.options.placement) return;
    for (const slot of this.januses) if (slot.driver && slot.driver !== driving) slot.driver.setForwarded(memberId, forwarded);
  }

  /**
   * A cluster: a room with nobody left on any node has its Janus room destroyed, on each Janus
   * this node reaches (JanusDriver.retireSharedRoom): its last members may have been carried by a
   * node that stopped, whose sessions Janus kept for a resume that never came. The store is asked
   * now and again RETIRE_AFTER_MS later, just before: a Redis that restarted empty has had its
   * members restored by their nodes by then, and a newcomer anywhere keeps the room.
   */
  private retireIfAbandoned(room: string): void {
    const roomSize = this.hooks.roomSize;
    if (!this.options.placement || !roomSize || this.settingFor(room) === 'mesh' || this.hooks.membersOf(room).length > 0) return;
    const abandoned = async (): Promise<boolean> => !this.closed && this.hooks.membersOf(room).length === 0 && (await roomSize(room)) === 0;
    const retire = (): void => {
      for (const { driver } of this.januses) {
        driver?.retireSharedRoom(room, abandoned).then(
          (retired) => retired && this.logger.info('destroyed the Janus room of a room nobody is in any more', { room, janus: driver.url }),
          (error: Error) => this.logger.debug('could not destroy an abandoned Janus room', { room, error: error.message }),
        );
      }
    };
    abandoned().then(
      (isAbandoned) => {
        // One retirement per room at a time (a sweep may let several of its members go at once).
        if (!isAbandoned || this.retiring.has(room)) return;
        this.retiring.add(room);
        setTimeout(() => {
          this.retiring.delete(room);
          retire();
        }, RETIRE_AFTER_MS).unref();
      },
      () => undefined,
    );
  }

  /**
   * Forgets a room that has nothing left here: no member (in a cluster membersOf holds connected
   * ones only), none with handles, none whose handles are about to go. A cluster's record of its
   * Janus goes with its last member anywhere; a node must not keep using an old one.
   */
  private dropIfUnused(room: string): boolean {
    const state = this.rooms.get(room);
    if (!state) return true;
    const inUse = this.hooks.membersOf(room).length > 0 || [...this.sfuMembers.values()].includes(room) || [...this.pendingLeaves.values()].some((pending) => pending.room === room);
    if (inUse) return false;
    this.clearSmall(state);
    this.rooms.delete(room);
    return true;
  }

  /** How a room carries audio now (mesh for a room this does not track yet). */
  mediaOf(room: string): MediaMode {
    return this.rooms.get(room)?.media ?? 'mesh';
  }

  /**
   * How a room carries audio for a member back in it: as now, or for a room this node does not
   * track yet (a cluster: it was elsewhere until now) as a join would make it.
   */
  mediaForReturn(room: string, members: number): MediaMode {
    return this.rooms.has(room) ? this.mediaOf(room) : this.mediaAfterJoin(room, members);
  }

  isSfuMember(memberId: string): boolean {
    return this.driverOf(memberId) !== null;
  }

  /** The driver, for a member of an SFU room; throws a sentence otherwise. */
  driverFor(memberId: string): JanusDriver {
    const driver = this.driverOf(memberId);
    if (!driver) throw new Error('the media server is not connected');
    return driver;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.januses) if (slot.reconnectTimer) clearTimeout(slot.reconnectTimer);
    for (const state of this.rooms.values()) this.clearSmall(state);
    for (const memberId of [...this.pendingLeaves.keys()]) this.leaveNow(memberId);
  }

  private driverOf(memberId: string): JanusDriver | null {
    const room = this.sfuMembers.get(memberId);
    return room === undefined ? null : (this.rooms.get(room)?.janus?.driver ?? null);
  }

  private get available(): boolean {
    return this.januses.some((slot) => slot.driver?.available);
  }

  /** The connected Janus with the fewest members: where a room moving to the SFU goes (in a cluster: proposes to go). */
  private leastLoaded(): JanusSlot | null {
    let best: JanusSlot | null = null;
    for (const slot of this.januses) {
      if (!slot.driver?.available) continue;
      if (!best || slot.driver.memberCount < best.driver!.memberCount) best = slot;
    }
    return best;
  }

  private settingFor(room: string): MediaSetting {
    const setting = this.options.settingFor?.(room) ?? this.options.setting;
    return this.options.placement && setting === 'auto' ? 'sfu' : setting;
  }

  private stateOf(room: string): RoomMedia {
    let state = this.rooms.get(room);
    if (!state) {
      // A cluster's room is through the SFU from its first member on (placed on its Janus then).
      const media = this.options.placement ? this.mediaAfterJoin(room, 1) : 'mesh';
      state = { media, smallSince: null, recheck: null, janus: null, placing: null, lostJanus: null };
      this.rooms.set(room, state);
    }
    return state;
  }

  private clearSmall(state: RoomMedia): void {
    if (state.recheck) clearTimeout(state.recheck);
    state.recheck = null;
    state.smallSince = null;
  }

  /** The return timer ran out: back to the mesh if the room stayed small. */
  private recheck(room: string): void {
    const state = this.rooms.get(room);
    if (!state) return;
    const members = this.hooks.membersOf(room).length;
    const smallForMs = state.smallSince === null ? 0 : performance.now() - state.smallSince;
    const situation = { setting: this.settingFor(room), current: state.media, members, janusAvailable: this.available, smallForMs };
    const waitMs = state.smallSince === null ? null : meshReturnWaitMs(situation, this.auto);
    if (waitMs !== null && waitMs > 0) {
      this.logger.debug('a small room\'s return to the mesh: its timer ran a little early; waiting out the rest', { room, waitMs });
      state.recheck = setTimeout(() => this.recheck(room), waitMs);
      state.recheck.unref();
      return;
    }
    this.clearSmall(state);
    const target = targetMedia(situation, this.auto);
    if (target !== state.media) this.move(room, state, target, `the room has had ${members} members for ${Math.round(smallForMs / 1000)} s`);
  }

  /**
   * Moves a room: its members are told first, then (for the SFU) joined to Janus. In a cluster a
   * move to the SFU first asks Redis which Janus the room is on (`replacing`: a lost one).
   */
  private move(room: string, state: RoomMedia, media: MediaMode, reason: string, except?: string, replacing: string | null = null): void {
    if (media === 'sfu' && this.options.placement) {
      this.place(room, state, replacing, (slot) => this.moveTo(room, state, slot, 'sfu', reason));
      return;
    }
    this.moveTo(room, state, media === 'sfu' ? this.leastLoaded() : null, media, reason, except);
  }

  /**
   * A cluster: asks Redis for the room's Janus (proposing this node's least loaded) and goes on
   * with it, if this node reaches that Janus; otherwise the room's members here wait for it.
   * Redis unreachable: this node's proposal (availability over agreement, logged).
   */
  private place(room: string, state: RoomMedia, replacing: string | null, then: (slot: JanusSlot) => void): void {
    const proposed = this.leastLoaded();
    const placement = this.options.placement;
    if (!proposed?.driver || !placement) return; // no Janus to go to: stay
    const proposedUrl = proposed.driver.url;
    const asked = placement.placeOnJanus(room, proposedUrl, replacing);
    // Told to the other nodes whatever becomes of this attempt: they must leave the old record.
    asked.then(({ janus, replaced }) => replaced && this.hooks.replacedPlacement?.(room, janus), () => undefined);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`no answer within ${PLACEMENT_TIMEOUT_MS} ms`));
      }, PLACEMENT_TIMEOUT_MS);
      timer.unref();
    });
    // An answer after the timeout: this node follows it once it comes.
    asked.then(({ janus }) => timedOut && this.roomPlaced(room, janus), () => undefined);
    const attempt: Promise<void> = Promise.race([asked, timeout])
      .catch((error: Error) => {
        this.logger.warn('could not read or record the room\'s Janus in Redis; using this node\'s choice', { room, janus: proposedUrl, error: error.message });
        return { janus: proposedUrl, replaced: false };
      })
      .then(({ janus }) => {
        clearTimeout(timer);
        if (this.closed || state.placing !== attempt || this.rooms.get(room) !== state) return;
        state.placing = null;
        const slot = this.januses.find((candidate) => candidate.driver?.available && candidate.driver.url === janus);
        if (slot) return then(slot);
        // Its members here leave the Janus they were on (if any) and wait.
        this.releaseMembers(room, state.janus?.driver ?? null);
        state.janus = null;
        this.hooks.mediaUnavailable(room, `the room's media server (${janus}) is not reachable from this server now; waiting for it to come back`);
      })
      .catch((error: Error) => this.logger.error('placing a room on its Janus failed', { room, error: error.message }));
    state.placing = attempt;
  }

  /** The room's members here are off the Janus they were on: its handles go once the new path carries them. */
  private releaseMembers(room: string, previous: JanusDriver | null): void {
    for (const [memberId, memberRoom] of this.sfuMembers) {
      if (memberRoom !== room) continue;
      this.sfuMembers.delete(memberId);
      if (previous) this.leaveLater(memberId, room, previous);
    }
  }

  private moveTo(room: string, state: RoomMedia, slot: JanusSlot | null, media: MediaMode, reason: string, except?: string): void {
    const previous = state.janus;
    state.janus = slot;
    // A placement still asked of Redis is stale now.
    state.placing = null;
    if (media === 'sfu' && !state.janus) return; // no Janus to go to: stay
    if (media === 'sfu') state.lostJanus = null;
    state.media = media;
    this.logger.info('room media changes', { room, media, reason });
    this.hooks.mediaChanged(room, media, reason);
    // Members are read after the notice: the server may have had to let some go (v1 clients).
    // Off a Janus that still carries their audio (to the mesh, or to another Janus the room's
    // record now names): its handles go once the new path has taken over.
    if (previous !== slot) this.releaseMembers(room, previous?.driver ?? null);
    if (media === 'sfu') for (const memberId of this.hooks.membersOf(room)) if (memberId !== except) this.joinDriver(room, memberId);
  }

  private joinDriver(room: string, memberId: string): void {
    const state = this.rooms.get(room);
    const driver = state?.janus?.driver;
    // A cluster's room not placed here yet: placed first, then every member here joins.
    if (!driver && state?.media === 'sfu' && state.janus === null && state.placing === null && this.options.placement) {
      this.place(room, state, null, (slot) => {
        if (state.media !== 'sfu') return;
        state.janus = slot;
        for (const id of this.hooks.membersOf(room)) this.joinDriver(room, id);
      });
    }
    if (!driver || this.sfuMembers.has(memberId)) return;
    const pending = this.pendingLeaves.get(memberId);
    if (pending?.driver === driver && !pending.moved) {
      // Back before its handles went: it is still in Janus's room. (One that had moved to
      // another node publishes afresh: its old feed is retired everywhere already.)
      clearTimeout(pending.timer);
      this.pendingLeaves.delete(memberId);
      this.sfuMembers.set(memberId, room);
      return;
    }
    // Its old record in this driver (it moved away and back) goes first; handles on another
    // Janus stay until the new path has taken over.
    if (pending?.driver === driver) this.leaveNow(memberId);
    this.sfuMembers.set(memberId, room);
    // Before it publishes: a member who may not be heard is never subscribed to.
    driver.setForwarded(memberId, this.hooks.mayForward(memberId));
    driver.setListening(memberId, this.hooks.mayListen(memberId));
    const join = (): void => {
      driver.join(room, memberId).catch((error: Error) => {
        if (this.sfuMembers.get(memberId) === room) this.sfuMembers.delete(memberId);
        this.logger.warn('Janus: join failed', { member: memberId, error: error.message });
      });
    };
    const handoff = this.handoffs.get(memberId);
    this.handoffs.delete(memberId);
    if (handoff?.janus !== driver.url) return join();
    const adoption = driver.adopt(room, memberId, handoff).then(
      () => true,
      (error: Error) => {
        this.logger.info('Janus: could not take the member\'s session over; it publishes afresh', { member: memberId, session: handoff.session, error: error.message });
        // (The join's ack need not wait for this.)
        if (this.sfuMembers.get(memberId) === room) join();
        return false;
      },
    );
    this.adoptions.set(memberId, adoption);
  }

  private leaveLater(memberId: string, room: string, driver: JanusDriver, moved = false): void {
    this.leaveNow(memberId, false); // (an older pending leave: its handles go now)
    const timer = setTimeout(() => this.leaveNow(memberId), MESH_TAKEOVER_MS);
    timer.unref();
    this.pendingLeaves.set(memberId, { room, driver, timer, moved });
  }

  /** `forgetRoom`: its room is forgotten here if nothing else is left in it. */
  private leaveNow(memberId: string, forgetRoom = true): void {
    const pending = this.pendingLeaves.get(memberId);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.pendingLeaves.delete(memberId);
    pending.driver.leave(memberId).catch(() => undefined);
    if (forgetRoom) this.dropIfUnused(pending.room);
  }

  private attach(slot: JanusSlot, driver: JanusDriver): void {
    slot.driver = driver;
    driver.on('offer', ({ member, ...offer }) => this.hooks.offer(member, offer));
    driver.on('talking', ({ member, talking }) => this.hooks.talking(member, talking));
    driver.on('streams', ({ member, streams }) => this.hooks.streams(member, streams));
    driver.on('room-reset', ({ room, members }) => this.onRoomReset(slot, room, members));
    const placement = this.options.placement;
    if (placement) {
      driver.on('handoff', ({ member, handoff }) => {
        const room = this.sfuMembers.get(member);
        if (room === undefined) return;
        placement.saveJanusHandoff(room, member, handoff).catch((error: Error) => this.logger.debug('could not record a member\'s Janus session', { member, error: error.message }));
      });
    }
    driver.once('lost', (reason) => this.onLost(slot, driver, reason));
  }

  /** A shared room was destroyed under this node's members: they join a fresh one and publish again. */
  private onRoomReset(slot: JanusSlot, room: string, members: string[]): void {
    for (const memberId of members) if (this.sfuMembers.get(memberId) === room) this.sfuMembers.delete(memberId);
    const state = this.rooms.get(room);
    if (this.closed || !state || state.janus !== slot || state.media !== 'sfu') return;
    this.move(room, state, 'sfu', 'the media server\'s room was reset');
  }

  /**
   * The rooms on a lost Janus fall back to the mesh while they are within its limit; a larger
   * room waits for Janus (its members are told). The reconnect loop starts.
   */
  private onLost(slot: JanusSlot, driver: JanusDriver, reason: string): void {
    if (slot.driver !== driver || this.closed) return;
    slot.driver = null;
    for (const [memberId, pending] of this.pendingLeaves) {
      if (pending.driver !== driver) continue;
      clearTimeout(pending.timer);
      this.pendingLeaves.delete(memberId);
      this.dropIfUnused(pending.room);
    }
    let moved = 0;
    for (const [room, state] of this.rooms) {
      if (state.janus !== slot) continue;
      // (Their handles went with the lost Janus: nothing to leave.)
      this.releaseMembers(room, null);
      // Nobody here any more (a cluster's room whose members are on other nodes): nothing to move.
      if (this.dropIfUnused(room)) continue;
      this.clearSmall(state);
      state.janus = null;
      state.placing = null;
      state.lostJanus = driver.url;
      moved++;
      if (this.leastLoaded()) {
        this.move(room, state, 'sfu', `the media server is unavailable (${reason}); moving to another one`, undefined, driver.url);
        continue;
      }
      const fallBack = (members: number): void => {
        // Janus came back, the room emptied, or a join moved it already while a cluster's room
        // size was read.
        if (this.closed || this.rooms.get(room) !== state || state.janus !== null || state.media !== 'sfu') return;
        if (members <= this.options.meshLimit) {
          this.move(room, state, 'mesh', `the media server is unavailable (${reason}); connecting directly until it is back`);
        } else {
          this.hooks.mediaUnavailable(room, `the media server is unavailable (${reason}) and ${members} members are too many for a direct mesh (at most ${this.options.meshLimit}); waiting for it to come back`);
        }
      };
      // In a cluster the room's size on every node decides, so that every node decides alike.
      if (this.hooks.roomSize) this.hooks.roomSize(room).then(fallBack, () => fallBack(Infinity));
      else fallBack(this.hooks.membersOf(room).length);
    }
    this.logger.warn('Janus lost: its rooms move', { rooms: moved, reason });
    this.scheduleReconnect(slot);
  }

  private scheduleReconnect(slot: JanusSlot): void {
    const reconnect = slot.reconnect;
    if (!reconnect || slot.reconnectTimer || this.closed) return;
    slot.reconnectTimer = setTimeout(() => {
      slot.reconnectTimer = null;
      reconnect().then(
        (driver) => {
          if (this.closed) return void driver.close();
          this.attach(slot, driver);
          this.logger.info('Janus is back');
          for (const [room, state] of this.rooms) {
            const members = this.hooks.membersOf(room).length;
            const target = targetMedia({ setting: this.settingFor(room), current: state.media, members, janusAvailable: true, smallForMs: 0 }, this.auto);
            // A room that waited without media restarts on the SFU, as do rooms that want it.
            // (In a cluster the lost Janus's record may be replaced: it may be back elsewhere.)
            if (target !== state.media || (state.media === 'sfu' && state.janus === null)) this.move(room, state, target, 'the media server is back', undefined, state.lostJanus);
          }
        },
        (error: Error) => {
          this.logger.debug('Janus still unavailable', { error: error.message });
          this.scheduleReconnect(slot);
        },
      );
    }, RECONNECT_EVERY_MS);
    slot.reconnectTimer.unref();
  }
}
