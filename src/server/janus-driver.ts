// The server's driver for Janus (VideoRoom plugin, audio only), through janode: rooms, and for
// each member a Janus session of its own holding one publisher handle (if it sends) and one
// multistream subscriber handle (if it listens). Peers never talk to Janus: the signalling
// server relays SDP between them and this driver. Janus makes every subscriber offer (and
// renegotiates by itself when publishers come and go); the driver hands each offer to its
// member with the mid → member map of its streams.
// In a cluster every node drives its own members, and a room's members from all nodes meet in
// one Janus room: its id comes from the room's name, and each node learns the other nodes'
// feeds and talking from Janus itself, through a participant that publishes nothing. A member
// that resumes through another node is taken over there by claiming its session (adopt).
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import Janode, { type JanodeConnection, type JanodeSession, type JanusJsep } from 'janode';
import VideoRoomPlugin, { type VideoRoomHandle, type VideoRoomPublisher, type VideoRoomStream } from 'janode/plugins/videoroom';
import type { Logger } from '../log.js';
import { claimSession, releaseSession } from './janus-claim.js';

import type { JanusHandoff, SfuStream } from '../protocol.js';

export interface SubscriberOffer {
  member: string;
  sdp: string;
  streams: SfuStream[];
  /** How many of its sections carry a stream, as Janus reported them (at most maxSpeakers with loudest-speaker routing); absent when Janus gave no account. */
  maxStreams?: number;
}

export interface JanusDriverEvents {
  /** Janus made a (new) offer for a member's subscriber connection: relay it, and its answer back. */
  offer: [offer: SubscriberOffer];
  /** A member's subscriber streams now carry other speakers (a switch, no new SDP). */
  streams: [info: { member: string; streams: SfuStream[] }];
  /** A member's publisher started or stopped talking (Janus's talking events). */
  talking: [info: { member: string; talking: boolean }];
  /** The connection to Janus was lost: SFU rooms have no media until it is back. */
  lost: [reason: string];
  /**
   * What another node needs to take over a member's media (a cluster): it changed (the member
   * published, or its subscriber carries other feeds now).
   */
  handoff: [info: { member: string; handoff: JanusHandoff }];
  /**
   * A shared room was destroyed under this node's members (another node destroyed it as they
   * joined): their records here are gone, and they must join and publish again.
   */
  'room-reset': [info: { room: string; members: string[] }];
}

/**
 * Talking detection. Janus averages the audio level over blocks of `packets` packets, so a turn
 * that starts just after a block began is noticed at the end of the next one: 2 packets (40 ms
 * at 20 ms packets) notice a turn within 80 ms, leaving most of the 300 ms a turn may take to the
 * switch and the listener's jitter buffer (Janus's defaults, 100 packets, take 2 s; 5 packets
 * made turns miss 300 ms on a loaded machine). Blocks that short also end at every pause between
 * words, so a stop counts only after `releaseMs` without talking: speaking does not flicker,
 * and a speaker does not lose its slot between two words.
 */
const TALKING = { packets: 2, level: 60, releaseMs: 400 };
/** Janus refuses to subscribe to a feed it has not announced yet (428): retry like this. */
const NOT_YET_ANNOUNCED_RETRY_MS = 150;
const NOT_YET_ANNOUNCED_RETRIES = 20;
/** How long a subscriber offer may wait for its answer before the next change goes ahead. */
const ANSWER_TIMEOUT_MS = 5000;
/** A claim Janus does not answer within this fails (the member's join ack waits for it). */
const CLAIM_TIMEOUT_MS = 2000;
/** A session claimed and then not used ends this much later, when the fresh path has taken over. */
const ABANDONED_SESSION_END_MS = 5000;

interface SfuRoom {
  name: string;
  janusId: number;
  /** This node's members. */
  members: Set<string>;
  /** Janus feed id → member id, for members that publish (in a cluster, on any node). */
  feeds: Map<number, string>;
  /** Feed id → when its member published it (publisher display `id#generation`): the newest feed of a member wins. */
  generations: Map<number, number>;
  /** Shared rooms: the participant that tells this node of other nodes' feeds. */
  watcher: VideoRoomHandle | null;
  ready: Promise<void>;
}

interface SfuMember {
  id: string;
  room: SfuRoom;
  /**
   * The member's own Janus session, which holds its handles: one per member, so that in a
   * cluster whichever node the member resumes through can claim it (a node's session would
   * carry members who resume through different nodes).
   */
  session: Promise<JanodeSession>;
  /** That session's id once it is known. */
  sessionId: number | null;
  /** When its feed was published (publisherDisplay's generation); null until it publishes. */
  generation: number | null;
  publisher: VideoRoomHandle | null;
  feed: number | null;
  subscriber: VideoRoomHandle | null;
  /** Feeds the subscriber connection carries (or has asked for). */
  subscribed: Set<number>;
  /** The subscriber's audio sections: mid → the feed it carries now. */
  slots: Map<string, number>;
  /** Subscription changes run one at a time, each after the previous offer was answered. */
  chain: Promise<void>;
  answered: (() => void) | null;
  /** Candidates that arrived before the handle they belong to. */
  pendingCandidates: { publisher: CandidateInit[]; subscriber: CandidateInit[] };
  left: boolean;
}

type CandidateInit = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null;

export interface JanusDriverOptions {
  /**
   * Loudest-speaker routing: each listener is sent at most this many speakers at once, the ones
   * talking (Janus's talking events) or who talked last, on fixed slots switched without a new
   * negotiation. A listener's cost then does not grow with the number of silent members.
   */
  maxSpeakers?: number;
  /**
   * Rooms shared with other signalling nodes (a cluster): a room's Janus id is derived from its
   * name, so every node's members meet in it; other nodes' feeds and talking are learnt from
   * Janus; a room is destroyed only when nobody is left in it on any node.
   */
  shared?: boolean;
}

/** What Janus's talking events say about a feed. */
interface FeedTalk {
  talking: boolean;
  /** When it last started or stopped talking (0: never talked). */
  since: number;
  /** Pending stop: Janus said it stopped, and it has not talked again since. */
  release?: NodeJS.Timeout;
}

/** Our publishers send one audio section; wrtc names it mid 0. */
const PUBLISHER_AUDIO_MID = '0';
/** The display name of a shared room's watcher (members publish under publisherDisplay's). */
const WATCHER_DISPLAY = 'voxroom:watcher';

/**
 * A publisher's display: its member id and when it published (ms since the epoch, base 36). A
 * member that moved between nodes has had several feeds in the room; the newest is its voice,
 * whichever order Janus lists them in (nodes' clocks are assumed to agree to within the seconds
 * a move takes).
 */
export function publisherDisplay(memberId: string, publishedAt: number): string {
  return `${memberId}#${publishedAt.toString(36)}`;
}

/** The member and generation of a publisher's display; a display without one (an older node's) is generation 0. */
export function parsePublisherDisplay(display: string): { member: string; generation: number } {
  const at = display.lastIndexOf('#');
  const generation = at > 0 ? parseInt(display.slice(at + 1), 36) : NaN;
  return Number.isFinite(generation) ? { member: display.slice(0, at), generation } : { member: display, generation: 0 };
}

/**
 * A shared room's Janus id: the same on every node without asking anyone. 48 bits of a hash
 * (Janus room ids are JSON numbers, exact below 2^53): a collision between two room names is
 * about as likely as guessing a 48-bit key.
 */
export function sharedJanusRoomId(room: string): number {
  return createHash('sha256').update(room).digest().readUIntBE(0, 6) + 1;
}

export class JanusDriver extends EventEmitter<JanusDriverEvents> {
  private readonly rooms = new Map<string, SfuRoom>();
  private readonly talk = new Map<number, FeedTalk>();
  private readonly maxSpeakers: number;
  /** Whether its rooms are shared with other nodes (JanusDriverOptions.shared). */
  readonly shared: boolean;
  private readonly members = new Map<string, SfuMember>();
  /**
   * Members whose audio is not forwarded (no speak grant, or server-muted): nobody subscribes to
   * their feeds, and an existing subscription stops relaying them (publisher `send: false`).
   * Kept apart from the member records, so it may be set before the member joins.
   */
  private readonly unforwarded = new Set<string>();
  /** Members who may not hear (no `listen` grant): never subscribed to anyone. */
  private readonly deaf = new Set<string>();
  private nextRoomId = 1;
  private closed = false;

  private constructor(
    readonly url: string,
    private readonly connection: JanodeConnection,
    private readonly session: JanodeSession,
    private readonly manager: VideoRoomHandle,
    private readonly logger: Logger,
    options: JanusDriverOptions,
  ) {
    super();
    this.maxSpeakers = options.maxSpeakers ?? Infinity;
    this.shared = options.shared ?? false;
    const lost = (reason: string) => () => {
      if (this.closed) return;
      this.closed = true;
      this.logger.warn('lost the connection to Janus', { url, reason });
      this.emit('lost', reason);
    };
    connection.once(Janode.EVENT.CONNECTION_ERROR, lost('connection error'));
    connection.once(Janode.EVENT.CONNECTION_CLOSED, lost('connection closed'));
  }

  /** Connects to a running Janus; rejects with a sentence that says what to check. */
  static async connect(url: string, logger: Logger, options: JanusDriverOptions = {}): Promise<JanusDriver> {
    Janode.Logger.setLevel('none');
    let connection: JanodeConnection;
    try {
      connection = await Janode.connect({ address: { url }, retry_time_secs: 1, max_retries: 1 });
    } catch (error) {
      throw new Error(`cannot reach Janus at ${url} (${(error as Error).message}); is it running with its WebSocket transport there?`);
    }
    let session: JanodeSession;
    let manager: VideoRoomHandle;
    try {
      session = await connection.create();
      manager = await session.attach(VideoRoomPlugin);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw new Error(`Janus at ${url} refused a session or the VideoRoom plugin (${(error as Error).message}); is the plugin enabled?`);
    }
    logger.info('connected to Janus', { url });
    if (options.shared) await warnIfSessionsDieWithTheirNode(connection, url, logger);
    return new JanusDriver(url, connection, session, manager, logger, options);
  }

  get available(): boolean {
    return !this.closed;
  }

  get memberCount(): number {
    return this.members.size;
  }

  /** A member entered an SFU room: it will hear every member who publishes. */
  async join(roomName: string, memberId: string): Promise<void> {
    const member = this.register(roomName, memberId, this.connection.create());
    try {
      await Promise.all([member.room.ready, member.session]);
    } catch (error) {
      this.unregister(member);
      void endMemberSession(member);
      throw error;
    }
    // Recorded at once (no handles yet): a record of a session it had before, through another
    // node, must not be claimed once it moves again (that node ends that session soon).
    this.emitHandoff(member);
    this.syncSubscription(member);
  }

  /**
   * A member resumed through this node after its node died (or lost it): this node claims its
   * Janus session and drives its handles from now on, so its peer's connections to Janus carry
   * on as they are. Rejects when Janus no longer has the session; the member then joins afresh.
   */
  async adopt(roomName: string, memberId: string, handoff: JanusHandoff): Promise<void> {
    if (handoff.janus !== this.url) throw new Error(`the member's session is on another Janus (${handoff.janus})`);
    const handleIds = [handoff.publisher, handoff.subscriber].filter((id): id is number => id !== null);
    // A session without handles yet (its member had not published or subscribed when it moved):
    // its peer is still negotiating with the node it left, so it starts afresh here instead.
    if (handleIds.length === 0) throw new Error('the member\'s session has no handles yet');
    const claiming = claimSession(this.connection, this.session, handoff.session, handleIds, CLAIM_TIMEOUT_MS);
    const member = this.register(roomName, memberId, claiming.then(({ session }) => session));
    // Nothing may change its subscription before its handles are in place (the room's watcher
    // announces feeds meanwhile): its chain waits for the adoption.
    let adopted!: () => void;
    member.chain = new Promise((resolve) => (adopted = resolve));
    let handles: VideoRoomHandle[];
    try {
      [, { handles }] = await Promise.all([member.room.ready, claiming]);
      // It left meanwhile: leave() ended the claimed session.
      if (member.left) throw new Error('the member left while its session was being claimed');
    } catch (error) {
      const left = member.left;
      this.unregister(member);
      adopted();
      // Claimed but not taken up (the room could not be opened): the session is this node's now
      // and would outlive everyone. It ends once the member's fresh path has had time to take
      // over (make-before-break). A member that left had it ended by leave().
      if (!left) {
        void claiming.then(({ session }) => {
          setTimeout(() => void session.destroy().catch(() => releaseSession(session)), ABANDONED_SESSION_END_MS).unref();
        }, () => undefined);
      }
      throw error;
    }
    const room = member.room;
    const handle = (id: number | null): VideoRoomHandle | undefined => handles.find((candidate) => candidate.id === id);
    const publisher = handle(handoff.publisher);
    if (publisher && handoff.feed !== null) {
      Object.assign(publisher, { room: room.janusId, feed: handoff.feed });
      member.publisher = publisher;
      member.feed = handoff.feed;
      member.generation = handoff.generation;
      this.watchPublisher(member, publisher);
      room.feeds.set(handoff.feed, memberId);
      room.generations.set(handoff.feed, handoff.generation ?? 0);
      this.retireOlderFeeds(room, memberId, handoff.feed);
      // Its grants may have changed while it was away (not awaited: the join's ack waits for this).
      publisher.configure({ streams: [{ mid: PUBLISHER_AUDIO_MID, send: !this.unforwarded.has(memberId) }] }).catch((error: Error) => {
        this.logger.warn('Janus: could not set whether an adopted publisher is forwarded', { member: memberId, error: error.message });
      });
    }
    const subscriber = handle(handoff.subscriber);
    if (subscriber) {
      Object.assign(subscriber, { room: room.janusId });
      member.subscriber = subscriber;
      this.watchSubscriber(member, subscriber);
      // Feeds that left while the session had no node (this node's watcher saw them go) free
      // their slots; filling them renegotiates, which also replaces the offer Janus made then
      // and nobody received.
      member.slots = new Map(handoff.slots.filter(([, feed]) => room.feeds.has(feed)));
      member.subscribed = new Set(member.slots.values());
    }
    adopted();
    this.logger.info('Janus: took over a member\'s session from another node', { member: memberId, session: handoff.session, room: roomName });
    this.emitHandoff(member);
    // Janus told no node what changed in the room while the session had none: catch up.
    if (this.deaf.has(memberId)) this.unsubscribeAll(member);
    else this.syncSubscription(member);
    for (const otherId of room.members) {
      const other = this.members.get(otherId);
      if (other && other !== member) this.syncSubscription(other);
    }
  }

  /**
   * Another node claimed this member's session (it resumed there): its handles are that node's
   * now, so they are forgotten here, not detached; its feed stays in the room as a remote one.
   */
  release(memberId: string): void {
    const member = this.members.get(memberId);
    if (!member) return;
    this.unregister(member);
    // (Whether it may be heard stays known here: its feed is another node's member's now.)
    this.deaf.delete(memberId);
    void member.session.then(releaseSession).catch(() => undefined);
    const room = member.room;
    if (room.members.size === 0 && this.rooms.get(room.name) === room) {
      this.rooms.delete(room.name);
      void this.closeRoom(room).catch(() => undefined);
    }
  }

  private register(roomName: string, memberId: string, session: Promise<JanodeSession>): SfuMember {
    const room = this.roomFor(roomName);
    // Registered before the room is ready: the member's publish may arrive meanwhile, and waits.
    const member: SfuMember = {
      id: memberId,
      room,
      session,
      sessionId: null,
      generation: null,
      publisher: null,
      feed: null,
      subscriber: null,
      subscribed: new Set(),
      slots: new Map(),
      chain: Promise.resolve(),
      answered: null,
      pendingCandidates: { publisher: [], subscriber: [] },
      left: false,
    };
    this.members.set(memberId, member);
    room.members.add(memberId);
    // (A failure is handled where the session is awaited.)
    session.then((made) => (member.sessionId = made.id), () => undefined);
    return member;
  }

  /** The member is no longer this node's: its records go (its handles are dealt with apart). */
  private unregister(member: SfuMember): void {
    member.left = true;
    member.answered?.();
    if (this.members.get(member.id) === member) this.members.delete(member.id);
    member.room.members.delete(member.id);
  }

  /** What another node would need to claim this member's media (JanusHandoff). */
  private emitHandoff(member: SfuMember): void {
    if (!this.shared || member.left) return;
    void member.session.then((session) => {
      if (member.left) return;
      const handoff: JanusHandoff = {
        janus: this.url,
        session: session.id,
        publisher: member.feed === null ? null : (member.publisher?.id ?? null),
        feed: member.feed,
        generation: member.generation,
        subscriber: member.subscriber?.id ?? null,
        slots: [...member.slots],
      };
      this.emit('handoff', { member: member.id, handoff });
    }, () => undefined);
  }

  /**
   * Whether Janus forwards this member's audio. Enforced here, where the media is, so a patched
   * client that publishes anyway is still not heard.
   */
  setForwarded(memberId: string, forwarded: boolean): void {
    if (forwarded === !this.unforwarded.has(memberId)) return;
    if (forwarded) this.unforwarded.delete(memberId);
    else this.unforwarded.add(memberId);
    const member = this.members.get(memberId);
    if (!member) return this.remoteForwardingChanged(memberId, forwarded);
    if (member.feed !== null) {
      if (!forwarded) this.forgetTalk(member.feed);
      member.publisher?.configure({ streams: [{ mid: PUBLISHER_AUDIO_MID, send: forwarded }] }).catch((error: Error) => {
        this.logger.warn('Janus: could not change whether a publisher is forwarded', { member: memberId, forwarded, error: error.message });
      });
    }
    // Allowed again: listeners with a free slot subscribe to it (the others when it talks).
    if (forwarded) {
      for (const otherId of member.room.members) {
        const other = this.members.get(otherId);
        if (other && other !== member) this.syncSubscription(other);
      }
    }
  }

  /**
   * Whether this member is subscribed to the others. Enforced here: a member without `listen`
   * gets no subscriber connection, so nothing of the room reaches it, whatever its client does.
   */
  setListening(memberId: string, listening: boolean): void {
    if (listening === !this.deaf.has(memberId)) return;
    if (listening) this.deaf.delete(memberId);
    else this.deaf.add(memberId);
    const member = this.members.get(memberId);
    if (!member) return;
    if (listening) this.syncSubscription(member);
    else this.unsubscribeAll(member);
  }

  /** Takes every feed away from a member who may no longer hear. */
  private unsubscribeAll(member: SfuMember): void {
    // In the member's chain: a switch queued before this change has run by then, and what it
    // switched in is unsubscribed too.
    member.chain = member.chain.then(async () => {
      // Allowed to listen again before this ran: nothing to take away.
      if (member.left || !this.deaf.has(member.id)) return;
      const feeds = [...new Set([...member.subscribed, ...member.slots.values()])];
      member.subscribed.clear();
      const subscriber = member.subscriber;
      if (!subscriber || feeds.length === 0) return;
      try {
        const updated = await subscriber.update({ unsubscribe: feeds.map((feed) => ({ feed })) });
        if (updated.jsep) await this.offerAndWait(member, updated.jsep, updated.streams);
      } catch (error) {
        this.logger.warn('Janus: could not unsubscribe a member who may no longer hear', { member: member.id, error: (error as Error).message });
      }
    });
  }

  /**
   * The member's own feed: the one it publishes here, or one it published through another node
   * before it moved here (still in the room until Janus drops it). Nobody hears itself.
   */
  private isOwnFeed(member: SfuMember, feed: number): boolean {
    return member.feed === feed || member.room.feeds.get(feed) === member.id;
  }

  /**
   * Another node's member may (no longer) be heard: its node stops Janus forwarding it; here its
   * feeds leave this node's listeners' slots (or may take one again).
   */
  private remoteForwardingChanged(memberId: string, forwarded: boolean): void {
    for (const room of this.rooms.values()) {
      const feeds = feedsOf(room, memberId);
      if (feeds.length === 0) continue;
      for (const feed of feeds) if (!forwarded) this.forgetTalk(feed);
      for (const listenerId of room.members) {
        const listener = this.members.get(listenerId);
        if (!listener) continue;
        if (forwarded) this.syncSubscription(listener);
        else for (const feed of feeds) listener.chain = listener.chain.then(() => this.replaceFeed(listener, feed, null));
      }
    }
  }

  /**
   * Another node's member left its room (or was kicked): its feeds leave this node's rooms and
   * listeners at once, even while Janus still holds them (a dead node's session).
   */
  forgetRemoteMember(memberId: string): void {
    if (this.members.has(memberId)) return;
    this.unforwarded.delete(memberId);
    for (const room of this.rooms.values()) {
      for (const feed of feedsOf(room, memberId)) this.withdrawFeed(room, feed, null);
    }
  }

  /**
   * A feed leaves the room's (its owner is gone, or published a newer one): every listener here
   * holding it is moved off it (to `replacement`, if any) in one renegotiation each.
   */
  private withdrawFeed(room: SfuRoom, feed: number, replacement: number | null): void {
    room.feeds.delete(feed);
    room.generations.delete(feed);
    this.forgetTalk(feed);
    for (const memberId of room.members) {
      const member = this.members.get(memberId);
      if (member) member.chain = member.chain.then(() => this.replaceFeed(member, feed, replacement));
    }
  }

  /** A feed whose owner may be heard: the only ones listeners are subscribed or switched to. */
  private isForwarded(room: SfuRoom, feed: number): boolean {
    const owner = room.feeds.get(feed);
    return owner !== undefined && !this.unforwarded.has(owner);
  }

  /** The member's publisher offer; resolves with Janus's answer. */
  async publish(memberId: string, offerSdp: string): Promise<string> {
    const member = this.requireMember(memberId);
    if (member.publisher) throw new Error('this member already publishes; leave and join again to publish anew');
    await member.room.ready;
    const handle = await (await member.session).attach(VideoRoomPlugin);
    member.publisher = handle;
    try {
      return await this.joinAsPublisher(member, handle, offerSdp);
    } catch (error) {
      // A failed publish leaves nothing behind: the member may publish again.
      if (member.publisher === handle) member.publisher = null;
      await handle.detach().catch(() => undefined);
      throw error;
    }
  }

  private async joinAsPublisher(member: SfuMember, handle: VideoRoomHandle, offerSdp: string): Promise<string> {
    const memberId = member.id;
    this.watchPublisher(member, handle);
    const generation = Date.now();
    const joined = await handle.joinConfigurePublisher({ room: member.room.janusId, display: publisherDisplay(memberId, generation), audio: true, video: false, data: false, jsep: { type: 'offer', sdp: offerSdp } });
    if (member.left) throw new Error('the member left while publishing');
    if (!joined.jsep) throw new Error('Janus accepted the publisher without an answer');
    member.feed = joined.feed;
    member.generation = generation;
    member.room.feeds.set(joined.feed, memberId);
    member.room.generations.set(joined.feed, generation);
    // Publishing again after moving here from another node: its feed there is replaced.
    this.retireOlderFeeds(member.room, memberId, joined.feed);
    // A member that may not be heard publishes anyway (a patched client): Janus relays none of it.
    if (this.unforwarded.has(memberId)) await handle.configure({ streams: [{ mid: PUBLISHER_AUDIO_MID, send: false }] });
    await this.flushCandidates(member, 'publisher');
    this.logger.debug('member publishes', { member: memberId, feed: joined.feed, room: member.room.name });
    this.emitHandoff(member);
    for (const otherId of member.room.members) {
      const other = this.members.get(otherId);
      if (other && other !== member) this.syncSubscription(other);
    }
    return joined.jsep.sdp;
  }

  /** A publisher's talking events (its own handle's: another node's member is heard through the watcher). */
  private watchPublisher(member: SfuMember, handle: VideoRoomHandle): void {
    handle.on(VideoRoomPlugin.EVENT.VIDEOROOM_TALKING, (event: { feed?: number; talking?: boolean }) => {
      if (event.feed !== member.feed || member.feed === null || typeof event.talking !== 'boolean') return;
      // A feed replaced by a newer one (it moved to another node, which now tells its talking).
      if (member.room.feeds.get(member.feed) !== member.id) return;
      // Not forwarded: its talking neither shows (speaking) nor wins it a slot.
      if (this.unforwarded.has(member.id)) return;
      this.heardTalking(member.room, member.feed, event.talking, member.id);
    });
  }

  /**
   * Janus renegotiates a subscriber by itself when a publisher leaves: those offers are relayed
   * too. A `switched` event comes only from a switch another node asked for (janode resolves this
   * node's own with their requests): the node that drove the member before this one claimed
   * its session, in the moment before it heard so. Its slots follow.
   */
  private watchSubscriber(member: SfuMember, handle: VideoRoomHandle): void {
    handle.on(VideoRoomPlugin.EVENT.VIDEOROOM_UPDATED, (event: { jsep?: JanusJsep; streams?: VideoRoomStream[] }) => {
      if (event.jsep && !member.left) this.queueOffer(member, event.jsep, event.streams);
    });
    handle.on(VideoRoomPlugin.EVENT.VIDEOROOM_SWITCHED, (event: { streams?: VideoRoomStream[] }) => {
      if (member.left || !event.streams) return;
      member.slots = slotsOf(event.streams);
      member.subscribed = new Set(member.slots.values());
      this.emit('streams', { member: member.id, streams: this.streamsOf(member) });
      this.emitHandoff(member);
    });
  }

  /** The member's answer to the latest subscriber offer. */
  async answer(memberId: string, answerSdp: string): Promise<void> {
    const member = this.requireMember(memberId);
    if (!member.subscriber) throw new Error('no subscriber offer is waiting for an answer');
    await member.subscriber.start({ jsep: { type: 'answer', sdp: answerSdp } });
    await this.flushCandidates(member, 'subscriber');
    member.answered?.();
  }

  async trickle(memberId: string, target: 'publisher' | 'subscriber', candidate: CandidateInit): Promise<void> {
    const member = this.requireMember(memberId);
    const handle = target === 'publisher' ? member.publisher : member.subscriber;
    if (!handle || (target === 'publisher' && member.feed === null)) {
      member.pendingCandidates[target].push(candidate);
      return;
    }
    await sendCandidate(handle, candidate);
  }

  /** The member left the room: its handles go, and Janus renegotiates the others by itself. */
  async leave(memberId: string): Promise<void> {
    const member = this.members.get(memberId);
    if (!member) return;
    this.unregister(member);
    this.unforwarded.delete(memberId);
    this.deaf.delete(memberId);
    const room = member.room;
    if (member.feed !== null) {
      room.feeds.delete(member.feed);
      room.generations.delete(member.feed);
      this.forgetTalk(member.feed);
    }
    await endMemberSession(member);
    // The others' subscriptions lose that feed (Janus sends them an updated offer).
    if (member.feed !== null) {
      for (const otherId of room.members) this.members.get(otherId)?.subscribed.delete(member.feed);
    }
    if (room.members.size === 0 && this.rooms.get(room.name) === room) {
      this.rooms.delete(room.name);
      await this.closeRoom(room).catch(() => undefined);
    }
  }

  /**
   * A shared room that has nobody left on any node (a cluster's store says so): its Janus room
   * goes, with any session a gone member left in it. The node that drives a room's last members
   * destroys it as they leave; this is for a room whose last members were carried by a node that
   * stopped, leaving their sessions to be claimed, and never resumed: nobody else would.
   * `stillAbandoned` (the store asked again) must agree just before. A node that opens the room
   * in the moment between finds it gone and creates it again (openRoom), or, once its watcher is
   * in, joins its members to a fresh one (`room-reset`). (Watchers cannot tell a live room: a
   * dead node's stays until Janus's reclaim_session_timeout.) Not for a room this node drives
   * members in.
   */
  async retireSharedRoom(name: string, stillAbandoned: () => Promise<boolean>): Promise<boolean> {
    if (!this.shared || !this.available || this.rooms.has(name)) return false;
    const room = sharedJanusRoomId(name);
    if (!(await this.manager.exists({ room })).exists) return false;
    if (this.rooms.has(name) || !(await stillAbandoned()) || this.rooms.has(name)) return false;
    return this.manager.destroy({ room }).then(
      () => true,
      (error: Error) => {
        // Destroyed meanwhile (its last member's node did it): nothing left to do.
        if (/^426\b/.test(error.message)) return false;
        throw error;
      },
    );
  }

  /** How many feeds are published in the room `name` (tests and benchmarks: members publishing). */
  publishersIn(name: string): number {
    return this.rooms.get(name)?.feeds.size ?? 0;
  }

  /** Whether Janus has the shared room `name` (tests and diagnostics). */
  async hasSharedRoom(name: string): Promise<boolean> {
    return (await this.manager.exists({ room: sharedJanusRoomId(name) })).exists;
  }

  /** This node has no member left in the room: it goes, unless (shared) another node's members are in it. */
  private async closeRoom(room: SfuRoom): Promise<void> {
    for (const feed of room.feeds.keys()) this.forgetTalk(feed);
    if (!this.shared) {
      await this.manager.destroy({ room: room.janusId });
      return;
    }
    await room.watcher?.detach().catch(() => undefined);
    const { participants } = await this.manager.listParticipants({ room: room.janusId });
    // (A member of this node may have opened the room again meanwhile: then it stays.)
    if (participants.length === 0 && !this.rooms.has(room.name)) await this.manager.destroy({ room: room.janusId });
  }

  async close(): Promise<void> {
    this.closed = true;
    // A cluster's node stopping on purpose (a rolling restart) leaves its members' sessions to
    // Janus, as a dead node's, for the nodes they resume through to claim: their audio carries
    // on. (Janus ends the unclaimed ones after its reclaim_session_timeout.) Alone, it ends them.
    for (const id of [...this.members.keys()]) {
      if (this.shared) this.release(id);
      else await this.leave(id).catch(() => undefined);
    }
    await this.session.destroy().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }

  /** The handles Janus holds for a member (tests and diagnostics: media goes through Janus). */
  handlesOf(memberId: string): { session: number | null; publisher: number | null; subscriber: number | null; subscribedFeeds: number } | null {
    const member = this.members.get(memberId);
    return member ? { session: member.sessionId, publisher: member.publisher?.id ?? null, subscriber: member.subscriber?.id ?? null, subscribedFeeds: member.subscribed.size } : null;
  }

  private roomFor(name: string): SfuRoom {
    const existing = this.rooms.get(name);
    if (existing) return existing;
    const janusId = this.shared ? sharedJanusRoomId(name) : this.nextRoomId++;
    const room: SfuRoom = {
      name,
      janusId,
      members: new Set(),
      feeds: new Map(),
      generations: new Map(),
      watcher: null,
      // (Opened once the room exists: the watcher's events need it.)
      ready: Promise.resolve()
        .then(() => this.openRoom(room))
        .catch((error: Error) => {
          // Not cached: the next join tries again.
          if (this.rooms.get(name) === room) this.rooms.delete(name);
          throw new Error(`Janus could not create the room: ${error.message}`);
        }),
    };
    this.rooms.set(name, room);
    return room;
  }

  /**
   * Creates the room in Janus (shared: joins the one another node made) and, shared, joins this
   * node's watcher to it. Another node may destroy a shared room it saw empty between our create
   * and our watcher's join (426): then it is created once more.
   */
  private async openRoom(room: SfuRoom, retried = false): Promise<void> {
    await this.manager
      .create({
        room: room.janusId,
        description: room.name.slice(0, 64),
        max_publishers: 1000,
        is_private: true,
        permanent: false,
        audiocodec: 'opus',
        talking_events: true,
        talking_packets_threshold: TALKING.packets,
        talking_level_threshold: TALKING.level,
        notify_joining: false,
      })
      .catch((error: Error) => {
        // Another node made it first: it is the one room every node's members meet in.
        if (!(this.shared && /^427\b/.test(error.message))) throw error;
      });
    if (!this.shared) return;
    await this.watch(room).catch((error: Error) => {
      if (retried || !/^426\b/.test(error.message)) throw error;
      return this.openRoom(room, true);
    });
  }

  private requireMember(memberId: string): SfuMember {
    const member = this.members.get(memberId);
    if (!member) throw new Error('not in an SFU room');
    return member;
  }

  /** Brings the member's subscriber connection to every feed of its room but its own. */
  private syncSubscription(member: SfuMember): void {
    member.chain = member.chain.then(async () => {
      if (member.left || this.closed || this.deaf.has(member.id)) return;
      const capacity = this.maxSpeakers - member.subscribed.size;
      // The ones talking first, then those who talked last: they are the likeliest to be heard.
      const wanted = [...member.room.feeds.keys()]
        .filter((feed) => !this.isOwnFeed(member, feed) && !member.subscribed.has(feed) && this.isForwarded(member.room, feed))
        .sort((a, b) => this.priority(b) - this.priority(a))
        .slice(0, Math.max(0, capacity));
      if (wanted.length === 0) return;
      for (const feed of wanted) member.subscribed.add(feed);
      try {
        const offer = await withRetryWhileUnannounced(() => this.subscribe(member, wanted));
        if (offer) await this.offerAndWait(member, offer.jsep, offer.streams);
      } catch (error) {
        for (const feed of wanted) member.subscribed.delete(feed);
        if (!member.left) this.logger.warn('could not subscribe a member to new speakers', { member: member.id, error: (error as Error).message });
      }
    });
  }

  private async subscribe(member: SfuMember, feeds: number[]): Promise<{ jsep: JanusJsep; streams: VideoRoomStream[] | undefined } | null> {
    const streams = feeds.map((feed) => ({ feed }));
    if (!member.subscriber) {
      const handle = await (await member.session).attach(VideoRoomPlugin);
      if (member.left) {
        await handle.detach().catch(() => undefined);
        return null;
      }
      this.watchSubscriber(member, handle);
      try {
        const joined = await handle.joinSubscriber({ room: member.room.janusId, streams, autoupdate: true });
        member.subscriber = handle;
        return joined.jsep ? { jsep: joined.jsep, streams: joined.streams } : null;
      } catch (error) {
        await handle.detach().catch(() => undefined);
        throw error;
      }
    }
    const updated = await member.subscriber.update({ subscribe: streams });
    return updated.jsep ? { jsep: updated.jsep, streams: updated.streams } : null;
  }

  private queueOffer(member: SfuMember, jsep: JanusJsep, streams: VideoRoomStream[] | undefined): void {
    member.chain = member.chain.then(() => this.offerAndWait(member, jsep, streams));
  }

  /** `streams`: Janus's account of what the offer carries (absent if it gave none). */
  private async offerAndWait(member: SfuMember, jsep: JanusJsep, streams: VideoRoomStream[] | undefined): Promise<void> {
    if (member.left) return;
    const answered = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ANSWER_TIMEOUT_MS);
      member.answered = () => {
        clearTimeout(timer);
        member.answered = null;
        resolve();
      };
    });
    member.slots = slotsOf(streams ?? []);
    member.subscribed = new Set(member.slots.values());
    // Janus's own count of the streams the offer carries, which its SDP must agree with: the
    // peer refuses SDP that sends on more. (None when Janus gave no account.)
    const maxStreams = streams?.filter((stream) => stream.active !== false).length;
    this.emit('offer', { member: member.id, sdp: jsep.sdp, streams: this.streamsOf(member), ...(maxStreams !== undefined ? { maxStreams } : {}) });
    await answered;
    this.emitHandoff(member);
    // A speaker who left frees a slot: another may take it.
    if (member.subscribed.size < this.maxSpeakers) this.syncSubscription(member);
  }

  private streamsOf(member: SfuMember): SfuStream[] {
    return [...member.slots].flatMap(([mid, feed]) => {
      const owner = member.room.feeds.get(feed);
      return owner ? [{ mid, member: owner }] : [];
    });
  }

  /**
   * Janus's talking event for a feed, with the release hang-over (see TALKING). `localMember`:
   * the feed's owner when this node carries it; only then is its speaking state this node's to
   * tell (another node's feed only takes part in routing here).
   */
  private heardTalking(room: SfuRoom, feed: number, talking: boolean, localMember: string | null): void {
    const talk = this.talk.get(feed);
    clearTimeout(talk?.release);
    if (talk) talk.release = undefined;
    if (talking) {
      if (talk?.talking) return; // a pause shorter than the hang-over: still the same turn
      this.talk.set(feed, { talking: true, since: Date.now() });
      if (localMember !== null) this.emit('talking', { member: localMember, talking: true });
      this.routeTalker(room, feed);
      return;
    }
    if (!talk?.talking) return;
    talk.release = setTimeout(() => {
      if (this.talk.get(feed) !== talk) return;
      this.talk.set(feed, { talking: false, since: Date.now() });
      if (localMember !== null) this.emit('talking', { member: localMember, talking: false });
    }, TALKING.releaseMs);
    talk.release.unref();
  }

  /**
   * A shared room: joins it as a participant that publishes nothing, to be told of every
   * publisher (other nodes' members publish under their member ids), of feeds that go, and of
   * talking (other nodes' feeds compete for this node's listeners' slots too).
   */
  private async watch(room: SfuRoom): Promise<void> {
    const watcher = await this.session.attach(VideoRoomPlugin);
    room.watcher = watcher;
    watcher.on(VideoRoomPlugin.EVENT.VIDEOROOM_DESTROYED, () => this.roomDestroyed(room));
    watcher.on(VideoRoomPlugin.EVENT.VIDEOROOM_PUB_LIST, (event: { publishers?: VideoRoomPublisher[] }) => this.feedsAnnounced(room, event.publishers ?? [], true));
    const gone = (event: { feed?: number }): void => {
      if (typeof event.feed === 'number') this.remoteFeedGone(room, event.feed);
    };
    watcher.on(VideoRoomPlugin.EVENT.VIDEOROOM_UNPUBLISHED, gone);
    watcher.on(VideoRoomPlugin.EVENT.VIDEOROOM_LEAVING, gone);
    watcher.on(VideoRoomPlugin.EVENT.VIDEOROOM_TALKING, (event: { feed?: number; talking?: boolean }) => {
      // This node's own publishers report their talking on their handles.
      if (typeof event.feed !== 'number' || typeof event.talking !== 'boolean' || !this.isRemoteFeed(room, event.feed)) return;
      this.heardTalking(room, event.feed, event.talking, null);
    });
    let joined;
    try {
      joined = await watcher.joinPublisher({ room: room.janusId, display: WATCHER_DISPLAY });
    } catch (error) {
      await watcher.detach().catch(() => undefined);
      throw error;
    }
    this.feedsAnnounced(room, joined.publishers ?? [], false);
  }

  /**
   * Another node destroyed the shared room while this node's members were joining it (it had
   * seen nobody in it): Janus dropped their handles. The room is forgotten here, and so are they;
   * the SFU rooms join them again (a fresh room) and they publish again.
   */
  private roomDestroyed(room: SfuRoom): void {
    if (this.rooms.get(room.name) !== room) return;
    this.rooms.delete(room.name);
    const members = [...room.members];
    for (const memberId of members) {
      const member = this.members.get(memberId);
      if (!member) continue;
      this.unregister(member);
      if (member.feed !== null) this.forgetTalk(member.feed);
      void endMemberSession(member);
    }
    for (const feed of room.feeds.keys()) this.forgetTalk(feed);
    void room.watcher?.detach().catch(() => undefined);
    this.logger.warn('Janus: a shared room was destroyed under this node\'s members; they join it again', { room: room.name, members: members.length });
    this.emit('room-reset', { room: room.name, members });
  }

  /** A feed published through another node (or through this one before its member moved here). */
  private isRemoteFeed(room: SfuRoom, feed: number): boolean {
    const owner = room.feeds.get(feed);
    return owner !== undefined && this.members.get(owner)?.feed !== feed;
  }

  /**
   * Janus announced publishers: other nodes' feeds join the room's, and this node's listeners get
   * them. A member that moved between nodes has had several feeds; only its newest is heard. A
   * `live` announcement is of a feed just published, so it is the newest; the list a watcher gets
   * when it joins is in no order, and the publish times in the displays order it.
   */
  private feedsAnnounced(room: SfuRoom, publishers: VideoRoomPublisher[], live: boolean): void {
    let added = false;
    for (const { feed, display } of publishers) {
      if (display === undefined || display === WATCHER_DISPLAY || room.feeds.has(feed)) continue;
      const publisher = parsePublisherDisplay(display);
      const newer = !live && feedsOf(room, publisher.member).some((other) => (room.generations.get(other) ?? 0) > publisher.generation);
      if (newer) continue;
      room.feeds.set(feed, publisher.member);
      room.generations.set(feed, publisher.generation);
      this.retireOlderFeeds(room, publisher.member, feed);
      added = true;
    }
    if (!added) return;
    for (const memberId of room.members) {
      const member = this.members.get(memberId);
      if (member) this.syncSubscription(member);
    }
  }

  private remoteFeedGone(room: SfuRoom, feed: number): void {
    if (!this.isRemoteFeed(room, feed)) return;
    room.feeds.delete(feed);
    room.generations.delete(feed);
    this.forgetTalk(feed);
    // Janus sends each subscriber an updated offer without it; a freed slot is filled then.
    for (const memberId of room.members) this.members.get(memberId)?.subscribed.delete(feed);
  }

  /**
   * A member publishes a new feed (it moved to another node, which published it afresh): its
   * older feeds leave the room's, and every listener of one is moved to the new one in a single
   * renegotiation, so nobody hears it twice.
   */
  private retireOlderFeeds(room: SfuRoom, owner: string, newest: number): void {
    for (const feed of feedsOf(room, owner)) if (feed !== newest) this.withdrawFeed(room, feed, newest);
  }

  /**
   * Moves a listener holding `old` to `newest` in one renegotiation, or (newest null) only
   * unsubscribes it; Janus's offer without the old feed frees its slot.
   */
  private async replaceFeed(member: SfuMember, old: number, newest: number | null): Promise<void> {
    const holds = member.subscribed.has(old) || [...member.slots.values()].includes(old);
    if (member.left || !member.subscriber || !holds) return;
    const wanted = newest !== null && !member.subscribed.has(newest) && !this.isOwnFeed(member, newest) && !this.deaf.has(member.id) && this.isForwarded(member.room, newest);
    const subscribe = wanted ? [{ feed: newest }] : [];
    member.subscribed.delete(old);
    for (const { feed } of subscribe) member.subscribed.add(feed);
    try {
      const updated = await withRetryWhileUnannounced(() => member.subscriber!.update({ ...(subscribe.length > 0 ? { subscribe } : {}), unsubscribe: [{ feed: old }] }));
      if (updated.jsep) await this.offerAndWait(member, updated.jsep, updated.streams);
    } catch (error) {
      for (const { feed } of subscribe) member.subscribed.delete(feed);
      if (!member.left) this.logger.warn('could not move a listener off a feed', { member: member.id, feed: old, error: (error as Error).message });
    }
  }

  private forgetTalk(feed: number): void {
    clearTimeout(this.talk.get(feed)?.release);
    this.talk.delete(feed);
  }

  /** Higher for a feed talking now, then for one that talked more recently. */
  private priority(feed: number): number {
    const talk = this.talk.get(feed);
    if (!talk) return 0;
    return talk.talking ? Number.MAX_SAFE_INTEGER : talk.since;
  }

  /** A speaker started talking: every listener not receiving it gets it on a free or quiet slot. */
  private routeTalker(room: SfuRoom, feed: number): void {
    if (!Number.isFinite(this.maxSpeakers)) return;
    for (const memberId of room.members) {
      const member = this.members.get(memberId);
      if (!member || this.isOwnFeed(member, feed) || member.subscribed.has(feed) || this.deaf.has(memberId)) continue;
      if (member.subscribed.size < this.maxSpeakers) {
        this.syncSubscription(member);
        continue;
      }
      member.chain = member.chain.then(() => this.switchSlot(member, feed));
    }
  }

  /** Moves the quietest slot (not talking, talked longest ago) of a full subscription to `feed`. */
  private async switchSlot(member: SfuMember, feed: number): Promise<void> {
    if (member.left || !member.subscriber || member.subscribed.has(feed) || !this.isForwarded(member.room, feed) || this.deaf.has(member.id)) return;
    const victim = [...member.slots]
      .filter(([, slotFeed]) => !this.talk.get(slotFeed)?.talking)
      .sort(([, a], [, b]) => this.priority(a) - this.priority(b))[0];
    if (!victim) return; // every slot carries someone talking now
    const [mid, oldFeed] = victim;
    try {
      await member.subscriber.switch({ streams: [{ feed, mid: PUBLISHER_AUDIO_MID, sub_mid: mid }] });
    } catch (error) {
      this.logger.warn('could not switch a listener to a new speaker', { member: member.id, error: (error as Error).message });
      return;
    }
    member.slots.set(mid, feed);
    member.subscribed.delete(oldFeed);
    member.subscribed.add(feed);
    this.emit('streams', { member: member.id, streams: this.streamsOf(member) });
    this.emitHandoff(member);
  }

  private async flushCandidates(member: SfuMember, target: 'publisher' | 'subscriber'): Promise<void> {
    const handle = target === 'publisher' ? member.publisher : member.subscriber;
    if (!handle) return;
    const pending = member.pendingCandidates[target].splice(0);
    for (const candidate of pending) await sendCandidate(handle, candidate).catch(() => undefined);
  }
}

/**
 * A cluster's members keep their audio through a dead node's Janus session only while Janus
 * keeps that session (its reclaim_session_timeout, README "SFU rooms in a cluster"). At 0, the
 * default, Janus drops it with the node's connection: say so once, at connect.
 */
async function warnIfSessionsDieWithTheirNode(connection: JanodeConnection, url: string, logger: Logger): Promise<void> {
  const info = await connection.getInfo().catch(() => null);
  const reclaim = info?.['reclaim-session-timeout'];
  if (reclaim === 0) {
    logger.warn('this Janus drops a session as soon as its node\'s connection goes (reclaim_session_timeout = 0): when a node dies, the audio of the members it carried stops until they publish again through another node', { janus: url, fix: 'set reclaim_session_timeout = 30 in the general section of janus.jcfg' });
  }
}

/** Ends a member's Janus session: Janus detaches its handles with it (its feed leaves the room). */
async function endMemberSession(member: SfuMember): Promise<void> {
  await member.session.then((session) => session.destroy()).catch(() => undefined);
}

/** A subscriber's audio sections that carry a feed: mid → feed. */
function slotsOf(streams: VideoRoomStream[]): Map<string, number> {
  return new Map(streams.flatMap((stream): Array<[string, number]> => (stream.type === 'audio' && stream.active !== false && stream.feed_id !== undefined ? [[stream.mid, stream.feed_id]] : [])));
}

/** The feeds a member has in a room (several only while it moves between nodes). */
function feedsOf(room: SfuRoom, owner: string): number[] {
  return [...room.feeds].flatMap(([feed, who]) => (who === owner ? [feed] : []));
}

async function sendCandidate(handle: VideoRoomHandle, candidate: CandidateInit): Promise<void> {
  if (candidate === null || candidate.candidate === '') await handle.trickleComplete();
  else await handle.trickle(candidate);
}

async function withRetryWhileUnannounced<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!/^428\b/.test((error as Error).message) || tries >= NOT_YET_ANNOUNCED_RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, NOT_YET_ANNOUNCED_RETRY_MS));
    }
  }
}
