// A headless voice peer: joins a room, keeps the room's member list (with each member's state),
// feeds the audio engine with what its media topology delivers and sends what the engine
// captures. Usable as a library:
//
//   const peer = new VoicePeer({ serverUrl, room: 'lobby', name: 'bot', source, sink });
//   await peer.start(); peer.setVolume('alice', 50); ... await peer.stop();
import { EventEmitter } from 'node:events';
import { isPolite, mayBeHeard, mayHear, type IceServer, type Member, type PeerInfo, type MemberLeftReason, type MemberState, type Place, type Position, type RoomLayout, type SelfState } from '../protocol.js';
import { SILENT, hear, hearingRules, type HearingRules } from '../audio/spatial.js';
import { silentLogger, type Logger } from '../log.js';
import type { AudioSink, AudioSource } from '../audio/backend.js';
import { DeviceError } from '../audio/device/device-error.js';
import { AudioEngine, type RemoteAudioStatus } from '../audio/engine.js';
import type { Frame } from '../audio/format.js';
import { MAX_GAIN } from '../audio/mixer.js';
import type { MixObserver } from '../audio/mix-observer.js';
import type { MediaMode } from '../protocol.js';
import type { MediaState, MediaTopology } from './media-topology.js';
import type { PacketFigures } from './connection-stats.js';
import { MeshTopology } from './mesh-topology.js';
import { SfuTopology } from './sfu-topology.js';
import { SwitchReadiness, isAudible } from './switch-readiness.js';
import { SignallingClient, type JoinError, type JoinedRoom } from './signalling-client.js';
import { PtimePolicy, type PtimeSetting } from './ptime-policy.js';
import { Walker } from './walker.js';
import type { RTCPeerConnectionState } from './wrtc.js';

/** A media change completes after this long even if the new path never carried everyone. */
const SWITCH_TIMEOUT_MS = 3000;
/**
 * After a switch, the old path keeps sending our audio (unplayed what it brings) this long:
 * closing a mesh link ends it for both ends, and a roommate whose new path is not ready yet
 * would otherwise hear a gap until it is (250 ms seen in a loaded test run).
 */
const OLD_PATH_GRACE_MS = 2000;

export interface VoicePeerOptions {
  serverUrl: string;
  room: string;
  name: string;
  source: AudioSource;
  sink: AudioSink;
  recordDir?: string;
  /** Initial volumes by peer name, percent 0–200. */
  volumes?: Record<string, number>;
  /**
   * Opus packet duration our sender uses. `auto` (the default): 10 ms in a mesh of up to four
   * members, 20 ms above and in SFU rooms (ptime-policy.ts). 10 ms cuts mouth-to-ear latency
   * by about 10 ms but doubles the packet rate, which costs CPU in bigger meshes (BENCHMARKS.md).
   */
  ptimeMs?: PtimeSetting;
  /**
   * Opus DTX: while we are silent our sender sends a packet every 400 ms instead of 50 a
   * second, to every peer; receivers play comfort noise. Off by default: it saves bandwidth,
   * but cost CPU in the mesh when it was measured (CHANGELOG.md).
   */
  dtx?: boolean;
  logger?: Logger;
  /** Accept a self-signed TLS certificate on the server (development). */
  insecureTls?: boolean;
  /** Sees each decoded frame as it enters a peer's jitter buffer (benchmarks, diagnostics). */
  onRemoteFrame?: (name: string, frame: Frame) => void;
  /** Send nothing (a broadcast's listener): no encoder runs at all, in SFU and mesh rooms. */
  listenOnly?: boolean;
  /** How long to try getting back to a lost server before giving up ('fatal'); default 60 s. */
  reconnectTimeoutMs?: number;
  /** Listens along with the audio engine: what we send and what each peer adds to the mix. */
  observer?: MixObserver;
  /**
   * A room token (README, "Access control"), sent with every join and rejoin. A server that
   * requires tokens names the peer after the token (`name` is then ignored) and refuses joins
   * without a valid one.
   */
  token?: string;
  /**
   * In a room with a map, hear each roommate from where it stands (nearer is louder, left is
   * left; a stereo mix if the sink takes it). Default true; false mixes as in a room without a
   * map (we still stand somewhere, for the others).
   */
  spatial?: boolean;
  /** Rooms with a map: where to enter (a spot's name, or a point in metres); default the map's entry. */
  at?: Place;
}

export interface PeerStatus {
  id: string;
  name: string;
  /** The member's state as the room knows it (muted, speaking, …). */
  state: MemberState;
  /** The media path to this member: a connection state, `never-started`, or `not-forwarded` (SFU rooms). */
  connection: MediaState;
  audio: RemoteAudioStatus | null;
  /** RTP packets on the connection, and WebRTC's receive-buffer delay (peersWithPackets only). */
  packets?: PacketFigures;
}

/** The 'fatal' code of a fault in voxroom itself (a tick that threw), as opposed to the outside world failing. */
export const INTERNAL_FAULT = 'internal-fault';
/** The 'fatal' code of an audio device that stopped (an output file that failed has none). */
export const DEVICE_FAILURE = 'device';

export interface VoicePeerEvents {
  joined: [info: { self: Member; peers: Member[]; map: RoomLayout | null; renamed: boolean; resumed: boolean }];
  'peer-joined': [peer: Member];
  /** `reason`: it left, lost the server (its grace ran out), was replaced by a new session, or was kicked. */
  'peer-left': [peer: Member, reason: MemberLeftReason];
  /** Our own state as the server has it changed (an admin muted us on the server, a grant changed, a move). */
  'self-updated': [self: Member];
  /** A roommate's state changed (muted, speaking, …). */
  'peer-updated': [peer: Member];
  'connection-state': [info: { peer: string; state: RTCPeerConnectionState }];
  /** The room now carries audio another way (its media server was lost, or is back). */
  'media-changed': [info: { media: MediaMode; reason: string }];
  /** Spatial rooms: we stand somewhere else, or face another way (as the server announced it). */
  moved: [position: Position];
  /** The safety net re-offered a pair that was not connected in time. */
  retry: [info: { peer: string; attempt: number; by: 'newcomer' | 'impolite'; state: MediaState }];
  /** Something went wrong that the peer survives (a rejected connection, a server error). */
  problem: [info: { message: string; peer?: string }];
  disconnected: [info: { reason: string }];
  /**
   * The peer cannot go on; stop() it, which finalises every file. `code`: INTERNAL_FAULT (a fault
   * in voxroom), DEVICE_FAILURE (an audio device), the server's refusal or `unreachable` (it gave
   * up on the server), none (an output file or a disk failed).
   */
  fatal: [info: { message: string; code?: string }];
  /**
   * The peer has left the room for good: another session joined under its name
   * (`session-replaced`), or the server refused its token on a rejoin (`token-expired`, …).
   * It no longer reconnects; stop() it.
   */
  refused: [info: { code: JoinError['code']; message: string }];
  /** The capture source ran out (a non-looping file). */
  'source-ended': [];
  'server-shutdown': [info: { message: string }];
}

export class VoicePeer extends EventEmitter<VoicePeerEvents> {
  private readonly logger: Logger;
  private readonly signalling: SignallingClient;
  private readonly engine: AudioEngine;
  /** The topology whose audio plays. */
  private topology: MediaTopology;
  /** One being brought up beside it after a media change (make-before-break), not yet heard. */
  private incoming: { topology: MediaTopology; readiness: SwitchReadiness; timer: NodeJS.Timeout } | null = null;
  /** The path we just switched from, still sending for OLD_PATH_GRACE_MS (see there). */
  private outgoing: { topology: MediaTopology; timer: NodeJS.Timeout } | null = null;
  private readonly members = new Map<string, Member>();
  private ptime: PtimePolicy;
  /** A pending check of the packet time (auto waits for a shrunk room to settle). */
  private ptimeTimer: NodeJS.Timeout | null = null;
  /**
   * Roommates not back yet after the server came back (a restarted server knows only those
   * that have resumed): kept, away, for the room's grace, then dropped.
   */
  private readonly awayTimers = new Map<string, NodeJS.Timeout>();
  private self: Member | null = null;
  private iceServers: IceServer[] = [];
  private stopping: Promise<void> | null = null;
  private started = false;
  /** The room's hearing rules while we hear it spatially; null: a room without a map, or spatial off. */
  private hearingRules: HearingRules | null = null;
  private readonly walker: Walker;

  constructor(private readonly options: VoicePeerOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    this.ptime = new PtimePolicy(options.ptimeMs ?? 'auto');
    // The engine first: it may refuse its options (a recording folder it cannot create), and
    // then no native track exists yet that would need stopping.
    this.engine = new AudioEngine({
      source: options.source,
      sink: options.sink,
      recordDir: options.recordDir,
      volumes: options.volumes,
      onRemoteFrame: options.onRemoteFrame,
      observer: options.observer,
      onCapturedFrame: (frame) => {
        this.topology.send(frame);
        this.incoming?.topology.send(frame);
        this.outgoing?.topology.send(frame);
      },
      capture: !options.listenOnly,
      onSpeakingChange: (speaking) => this.publishState({ speaking }),
      onSourceEnded: () => this.emit('source-ended'),
      onBackendFailure: (error) => this.emit('fatal', { message: error.message, ...(error instanceof DeviceError ? { code: DEVICE_FAILURE } : {}) }),
      onFault: (error) => this.emit('fatal', { message: error.message, code: INTERNAL_FAULT }),
      onRecordingProblem: (message) => this.emit('problem', { message }),
    });
    this.signalling = new SignallingClient(options.serverUrl, options.room, options.name, this.logger, { rejectUnauthorized: !options.insecureTls, token: options.token, reconnectTimeoutMs: options.reconnectTimeoutMs, ...(options.at ? { at: options.at } : {}) });
    this.walker = new Walker(async (request) => {
      const answer = await this.signalling.move(request);
      this.updateSelf({ ...this.self!.state, position: answer.position });
      return answer;
    });
    this.topology = this.createTopology('mesh');
    this.signalling.on('joined', (room, resumed) => this.onJoined(room, resumed));
    this.signalling.on('member-joined', ({ member }) => this.addMember(member, false));
    this.signalling.on('member-left', ({ id, reason }) => this.removeMember(id, reason));
    this.signalling.on('member-updated', ({ id, state }) => this.updateMember(id, state));
    this.signalling.on('signal', (signal) => {
      const mesh = this.topologyOf('mesh');
      if (mesh) mesh.handleSignal(signal);
      else this.logger.info('a peer signal arrived in an SFU room; ignored', { from: signal.from });
    });
    this.signalling.on('sfu-offer', (offer) => this.topologyOf('sfu')?.handleServerOffer(offer));
    this.signalling.on('sfu-streams', (streams) => this.topologyOf('sfu')?.handleServerStreams(streams));
    this.signalling.on('ice-servers', (iceServers) => this.renewIceServers(iceServers));
    this.signalling.on('media-changed', ({ room, media, reason }) => {
      if (room === this.options.room) this.switchMedia(media, reason);
    });
    this.signalling.on('signal-undelivered', ({ to, reason }) => {
      const member = this.members.get(to);
      // A candidate trickling to a member that has just left is expected; anything else is not.
      if (!member) return this.logger.debug('signal to a peer that has left', { to, reason });
      this.logger.warn('a signal could not be delivered', { peer: member.name, reason });
      this.emit('problem', { peer: member.name, message: `a signal to ${member.name} could not be delivered: ${reason}` });
    });
    this.signalling.on('server-error', (error) => this.emit('problem', { message: `server: ${error.message} (${error.code})` }));
    this.signalling.on('server-shutdown', (message) => this.emit('server-shutdown', { message }));
    this.signalling.on('refused', ({ code, message }) => {
      this.logger.warn('the server will not have us back', { code, message });
      this.emit('refused', { code, message });
    });
    this.signalling.on('disconnected', (reason) => {
      this.logger.warn('lost the signalling connection; reconnecting (audio carries on)', { reason });
      this.emit('disconnected', { reason });
    });
    this.signalling.on('gave-up', (error) => this.emit('fatal', { message: error.message, code: error.code }));
  }

  /** Connects, joins and starts the audio clock. Rejects (a JoinError) when the join fails. */
  async start(): Promise<JoinedRoom> {
    if (this.started) throw new Error('this peer was already started');
    this.started = true;
    try {
      const joined = await this.signalling.join();
      this.engine.start();
      return joined;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Leaves the room and releases everything, in order: media, signalling, clock and files. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.clearAwayTimers();
      if (this.ptimeTimer) clearTimeout(this.ptimeTimer);
      this.walker.stop();
      this.dropIncoming();
      this.dropOutgoing();
      this.topology.close();
      await this.signalling.close();
      await this.engine.stop();
    })();
    return this.stopping;
  }

  setVolume(name: string, percent: number): void {
    if (!Number.isFinite(percent) || percent < 0 || percent > MAX_GAIN * 100) throw new RangeError(`volume must be 0–${MAX_GAIN * 100} %, not ${percent}`);
    this.engine.setVolume(name, percent);
  }

  /** Sends from another source from now on (the old one is closed): a bot switching input. */
  replaceSource(source: AudioSource): Promise<void> {
    return this.engine.replaceSource(source);
  }

  /** Spatial rooms: where we stand and face (null in a room without a map). */
  get position(): Position | null {
    return this.self?.state.position ?? null;
  }

  /** Whether we hear the room spatially (it has a map, and spatial is not switched off). */
  get spatial(): boolean {
    return this.hearingRules !== null;
  }

  /**
   * Walks to (x, y) at walking speed (the server's 5 m/s); resolves where we stand when the walk
   * ends. Rejects with a MoveError (outside-room, not-spatial, …) when the server refuses.
   */
  moveTo(x: number, y: number): Promise<Position> {
    return this.walker.walkTo(x, y);
  }

  /** Jumps to a named spot of the map. */
  goto(spot: string): Promise<Position> {
    return this.walker.once({ spot });
  }

  /** Admins (a token with the admin grant): removes a roommate by id; it cannot resume. Rejects with an AdminError. */
  async kick(id: string): Promise<void> {
    await this.signalling.kick(id);
  }

  /** Admins: silences a roommate for everyone (no client plays it, the SFU does not forward it), or lets it be heard again. */
  async serverMute(id: string, muted: boolean): Promise<void> {
    await this.signalling.serverMute(id, muted);
  }

  /** Turns to face `degrees` (clockwise, 0 = up the map). */
  face(degrees: number): Promise<Position> {
    return this.walker.once({ facing: degrees });
  }

  set muted(value: boolean) {
    this.engine.muted = value;
    this.publishState({ muted: value });
  }

  get muted(): boolean {
    return this.engine.muted;
  }

  get identity(): Member | null {
    return this.self;
  }

  /** How many times the safety net re-offered a pair that was not connected in time. */
  get retries(): number {
    return this.topology.retries;
  }

  peers(): PeerStatus[] {
    return [...this.members.values()].map((member) => this.statusOf(member));
  }

  /** The roommates as the room knows them, without asking the media layer (cheap). */
  roommates(): Member[] {
    return [...this.members.values()];
  }

  /** One roommate's status, as in peers(). */
  peerStatus(id: string): PeerStatus | null {
    const member = this.members.get(id);
    return member ? this.statusOf(member) : null;
  }

  private statusOf(member: Member): PeerStatus {
    return {
      id: member.id,
      name: member.name,
      state: { ...member.state },
      connection: this.topology.stateOf(member.id),
      audio: this.engine.remoteStatus(member.name),
    };
  }

  /** peers(), with the RTP packets sent to and received from each and NetEq's delay (from the connections' stats). */
  async peersWithPackets(): Promise<PeerStatus[]> {
    return Promise.all(
      this.peers().map(async (status) => {
        const packets = await this.topology.connectionFigures(status.id);
        return packets ? { ...status, packets } : status;
      }),
    );
  }

  status() {
    return {
      self: this.self,
      room: this.options.room,
      server: this.options.serverUrl,
      media: this.topology.kind,
      peers: this.members.size,
      links: this.topology.connectionCount,
      retries: this.topology.retries,
      ptimeMs: this.ptimeMs,
      audio: this.engine.stats,
    };
  }

  private onJoined(room: JoinedRoom, resumed: boolean): void {
    if (resumed && room.resumed && this.self?.id === room.self.id) return this.resumeInPlace(room);
    // A new identity (a first join, or a server that could not take us back): every old
    // connection is gone on the other side too.
    this.clearAwayTimers();
    for (const member of this.members.values()) this.engine.detachRemote(member.name);
    this.members.clear();
    this.self = room.self;
    this.iceServers = room.iceServers;
    this.hearingRules = room.map && this.options.spatial !== false ? hearingRules(room.map) : null;
    // A stereo mix from the first join on (the sink's format is fixed once it is written to).
    if (this.hearingRules && this.engine.useStereo() === 1) this.logger.info('a spatial room, but the output takes mono only: each peer is heard at its distance, without the pan');
    // The room says how it carries audio; a peer follows it on every (re)join.
    const media: MediaMode = room.media ?? 'mesh';
    this.dropIncoming();
    this.dropOutgoing();
    if (this.topology.kind !== media) {
      this.topology.close();
      this.topology = this.createTopology(media);
    }
    this.topology.reset(room.self, room.iceServers);
    // The room's size decides the packet time before the first offers go out.
    this.topology.setPtime(this.ptime.reset(room.peers.length + 1));
    this.logger.info(resumed ? 'rejoined the room' : 'joined the room', { room: this.options.room, name: room.self.name, peers: room.peers.length });
    this.emit('joined', { self: room.self, peers: room.peers, map: room.map, renamed: room.renamed, resumed });
    // The room's idea of our state may be older than ours (a change made while disconnected).
    const ours = { muted: this.engine.muted, speaking: this.engine.isSpeaking };
    if (ours.muted !== room.self.state.muted || ours.speaking !== room.self.state.speaking) this.publishState(ours);
    // The newcomer offers to everyone already there.
    for (const peer of room.peers) this.addMember(peer, true);
  }

  /**
   * Back in our place after a lost server connection, under the same id: the links and the mix
   * went on meanwhile and stay. The ack's list is reconciled with ours: newcomers are offered
   * to, state changes applied; roommates missing from it (not back yet on a restarted server)
   * stay, away, for the grace, and are dropped if they do not return.
   */
  private resumeInPlace(room: JoinedRoom): void {
    const before = this.self?.state.position;
    this.self = room.self;
    // The connections kept make their next ICE restarts with the new ack's credentials.
    this.renewIceServers(room.iceServers);
    const listed = new Set(room.peers.map((peer) => peer.id));
    for (const member of [...this.members.values()]) {
      if (listed.has(member.id)) continue;
      this.updateMember(member.id, { ...member.state, away: true });
      this.dropIfNotBack(member.id, room.resumeGraceMs);
    }
    this.logger.info('back in the room; connections kept', { room: this.options.room, name: room.self.name, peers: room.peers.length, mediaKept: room.mediaKept });
    this.emit('joined', { self: room.self, peers: room.peers, map: room.map, renamed: false, resumed: true });
    const ours = { muted: this.engine.muted, speaking: this.engine.isSpeaking };
    if (ours.muted !== room.self.state.muted || ours.speaking !== room.self.state.speaking) this.publishState(ours);
    for (const peer of room.peers) this.addMember(peer, true);
    // Where the server has us now (a restarted one may have put us elsewhere): everyone is
    // heard from there, including members whose own state did not change.
    const position = room.self.state.position;
    if (position && !samePosition(before, position)) {
      for (const member of this.members.values()) this.placeRemote(member);
      this.emit('moved', { ...position });
    }
    // A restarted server has none of our media-server handles: publish and subscribe afresh,
    // make-before-break. (Its media may also have changed while we were away.)
    const media: MediaMode = room.media ?? 'mesh';
    if (!room.mediaKept || media !== this.topology.kind) this.switchMedia(media, room.mediaKept ? 'the room changed how it carries audio while we were away' : 'the server was restarted');
  }

  private mayBeHeardNow(id: string): boolean {
    const member = this.members.get(id);
    return member === undefined || mayBeHeard(member.state);
  }

  private dropIfNotBack(id: string, graceMs: number): void {
    clearTimeout(this.awayTimers.get(id));
    const timer = setTimeout(() => {
      this.awayTimers.delete(id);
      if (this.members.get(id)?.state.away) this.removeMember(id, 'disconnected');
    }, graceMs);
    timer.unref();
    this.awayTimers.set(id, timer);
  }

  private clearAwayTimers(): void {
    for (const timer of this.awayTimers.values()) clearTimeout(timer);
    this.awayTimers.clear();
  }

  /**
   * The room's media changed under us (or restarted): a new topology with every roommate is brought up beside
   * the old one, and takes over once it carries everyone the old one did (make-before-break;
   * after 3 s at the latest). In a mesh that nobody joined last, the impolite peer of each pair
   * offers (both sides agree on that).
   */
  private switchMedia(media: MediaMode, reason: string): void {
    if (!this.self) return;
    // A change to the same kind is a restart (its media server came back): a fresh path too.
    this.dropIncoming();
    this.dropOutgoing();
    this.logger.warn('the room changes how it carries audio', { media, reason });
    const topology = this.createTopology(media);
    const readiness = new SwitchReadiness();
    const timer = setTimeout(() => this.promoteIncoming('timeout'), SWITCH_TIMEOUT_MS);
    this.incoming = { topology, readiness, timer };
    topology.reset(this.self, this.iceServers);
    for (const member of this.members.values()) {
      topology.setListening(member.id, mayHear(member.state));
      topology.addMember(member, !isPolite(this.self.id, member.id));
    }
    this.emit('media-changed', { media, reason });
  }

  /** The incoming topology takes over: its audio plays from now on, the old one closes. */
  private promoteIncoming(why: 'ready' | 'timeout'): void {
    const incoming = this.incoming;
    if (!incoming) return;
    clearTimeout(incoming.timer);
    this.incoming = null;
    const old = this.topology;
    this.topology = incoming.topology;
    this.dropOutgoing();
    this.outgoing = { topology: old, timer: setTimeout(() => this.dropOutgoing(), OLD_PATH_GRACE_MS) };
    this.outgoing.timer.unref();
    this.logger.info('switched media', { media: this.topology.kind, why });
  }

  private dropIncoming(): void {
    if (!this.incoming) return;
    clearTimeout(this.incoming.timer);
    this.incoming.topology.close();
    this.incoming = null;
  }

  private dropOutgoing(): void {
    if (!this.outgoing) return;
    clearTimeout(this.outgoing.timer);
    this.outgoing.topology.close();
    this.outgoing = null;
  }

  /** Fresh ICE servers (renewed TURN credentials) for every connection made or ICE-restarted from now on. */
  private renewIceServers(iceServers: IceServer[]): void {
    this.iceServers = iceServers;
    this.topology.renewIceServers(iceServers);
    this.incoming?.topology.renewIceServers(iceServers);
    this.logger.debug('fresh ICE servers', { turnUsers: iceServers.filter((server) => server.username !== undefined).map((server) => server.username) });
  }

  /** The topology (playing or incoming) of this kind, if any: where its signals go. */
  private topologyOf(kind: MediaMode): MediaTopology | null {
    if (this.incoming?.topology.kind === kind) return this.incoming.topology;
    return this.topology.kind === kind ? this.topology : null;
  }

  private createTopology(kind: MediaMode): MediaTopology {
    // Only the playing topology's audio reaches the engine; an incoming one's is counted until
    // it carries everyone.
    let topology: MediaTopology | null = null;
    const onAudio = (peer: PeerInfo, chunk: Parameters<AudioEngine['push']>[1]): void => {
      if (topology === this.topology) {
        this.engine.push(peer.name, chunk);
        // (Optional chaining: no audibility scan unless a switch is under way.) A member that may
        // not be heard (server-muted, no speak grant) is unplayed here and never forwarded by
        // the SFU: the new path is not waited for it.
        this.incoming?.readiness.heardOnOld(peer.name, isAudible(chunk.samples) && this.mayBeHeardNow(peer.id));
      } else if (topology !== null && this.incoming?.topology === topology) {
        this.incoming.readiness.heardOnNew(peer.name, isAudible(chunk.samples));
        if (this.incoming.readiness.ready) this.promoteIncoming('ready');
      }
    };
    const ptimeMs = this.ptimeFor(kind);
    const dtx = this.options.dtx ?? false;
    topology =
      kind === 'sfu'
        ? new SfuTopology({
            publish: (sdp) => this.signalling.sfuPublish(sdp),
            answer: (sdp) => this.signalling.sfuAnswer(sdp),
            candidate: (target, candidate) => this.signalling.sfuCandidate(target, candidate),
            onAudio,
            listenOnly: this.options.listenOnly ?? false,
            ptimeMs,
            dtx,
            logger: this.logger,
          })
        : new MeshTopology({ ptimeMs, dtx, listenOnly: this.options.listenOnly ?? false, logger: this.logger, sendSignal: (to, data) => this.signalling.sendSignal(to, data), onAudio });
    const created = topology;
    created.on('connection-state', ({ peer, state }) => this.emit('connection-state', { peer: peer.name, state }));
    created.on('retry', ({ peer, ...info }) => this.emit('retry', { peer: peer.name, ...info }));
    created.on('problem', (info) => this.emit('problem', info));
    return created;
  }

  private addMember(member: Member, weAreNewcomer: boolean): void {
    if (!this.self || member.id === this.self.id) return;
    // Known already: a roommate back on a restarted server (its link never went away).
    if (this.members.has(member.id)) return this.updateMember(member.id, member.state);
    this.members.set(member.id, member);
    this.updatePtime();
    this.engine.attachRemote(member.name);
    this.engine.setAudible(member.name, mayBeHeard(member.state));
    this.placeRemote(member);
    this.logger.info('peer joined', { peer: member.name });
    this.emit('peer-joined', member);
    for (const topology of [this.topology, this.incoming?.topology]) {
      topology?.setListening(member.id, mayHear(member.state));
      topology?.addMember(member, weAreNewcomer);
    }
  }

  /** The room's size changed: the packet time may change with it (PtimePolicy). */
  private updatePtime(): void {
    if (this.ptimeTimer) clearTimeout(this.ptimeTimer);
    this.ptimeTimer = null;
    const { ptimeMs, recheckInMs } = this.ptime.update(this.members.size + 1, Date.now());
    // An SFU topology keeps its own (see ptimeFor).
    for (const topology of [this.topology, this.incoming?.topology]) topology?.setPtime(ptimeMs);
    if (recheckInMs !== null) {
      this.ptimeTimer = setTimeout(() => this.updatePtime(), recheckInMs);
      this.ptimeTimer.unref();
    }
  }

  /**
   * Changes the packet time while in the room (`auto`, 10 or 20): a mesh renegotiates each link
   * (no new connection); SFU rooms keep theirs until the next switch or rejoin.
   */
  setPtime(setting: PtimeSetting): void {
    this.ptime = new PtimePolicy(setting);
    this.ptime.reset(this.members.size + 1);
    this.updatePtime();
  }

  /** The Opus packet duration we send now, in ms. */
  get ptimeMs(): number {
    return this.ptimeFor(this.topology.kind);
  }

  /** SFU rooms are large rooms: 20 ms there unless forced; a mesh follows the policy. */
  private ptimeFor(kind: MediaMode): number {
    if (kind === 'sfu') return this.ptime.setting === 'auto' ? 20 : this.ptime.setting;
    return this.ptime.ptimeMs;
  }

  private removeMember(id: string, reason: MemberLeftReason): void {
    clearTimeout(this.awayTimers.get(id));
    this.awayTimers.delete(id);
    const member = this.members.get(id);
    if (!member) return;
    this.members.delete(id);
    this.signalling.forgetHeldSignals(id);
    this.updatePtime();
    this.topology.removeMember(id);
    this.incoming?.topology.removeMember(id);
    this.outgoing?.topology.removeMember(id);
    this.engine.detachRemote(member.name);
    this.logger.info('peer left', { peer: member.name, reason });
    this.emit('peer-left', member, reason);
  }

  private updateMember(id: string, state: MemberState): void {
    if (this.self && id === this.self.id) return this.updateSelf(state);
    const member = this.members.get(id);
    if (!member) return;
    if (!state.away && this.awayTimers.has(id)) {
      clearTimeout(this.awayTimers.get(id));
      this.awayTimers.delete(id);
    }
    const updated = { ...member, state };
    this.members.set(id, updated);
    if (!samePosition(member.state.position, state.position)) this.placeRemote(updated);
    // Grants are enforced where the media is: a member without speak, or server-muted, is not
    // played whatever its own client sends.
    this.engine.setAudible(member.name, mayBeHeard(state));
    this.topology.setListening(id, mayHear(state));
    this.incoming?.topology.setListening(id, mayHear(state));
    this.emit('peer-updated', updated);
  }

  /** Our own state as the server has it (an update, or a move's answer): moving re-places everyone. */
  private updateSelf(state: MemberState): void {
    if (!this.self) return;
    const before = this.self.state.position;
    this.self = { ...this.self, state };
    this.emit('self-updated', { ...this.self });
    if (samePosition(before, state.position) || !state.position) return;
    for (const member of this.members.values()) this.placeRemote(member);
    this.emit('moved', { ...state.position });
  }

  /** Where we hear a roommate from, from where both of us stand (spatial rooms only). */
  private placeRemote(member: Member): void {
    const rules = this.hearingRules;
    const listener = this.self?.state.position;
    if (!rules || !listener) return;
    const speaker = member.state.position;
    // A member the server has not placed (it cannot be, in a room with a map) is not heard.
    this.engine.setHearing(member.name, speaker ? hear(listener, speaker, rules) : SILENT);
  }

  private publishState(patch: Partial<SelfState>): void {
    this.signalling.updateState(patch);
  }
}

function samePosition(a: Position | undefined, b: Position | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.x === b.x && a.y === b.y && a.facing === b.facing);
}

