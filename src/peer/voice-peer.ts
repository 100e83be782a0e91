// A headless voice peer: joins a room, keeps one PeerLink per other member (a full mesh), feeds
// the audio engine with what arrives and sends what the engine captures. Usable as a library:
//
//   const peer = new VoicePeer({ serverUrl, room: 'lobby', name: 'bot', source, sink });
//   await peer.start(); peer.setVolume('alice', 50); ... await peer.stop();
import { EventEmitter } from 'node:events';
import { isPolite, type IceServer, type PeerInfo, type RelayedSignal, type RoomLayout, type RoomUsersUpdated } from '../protocol.js';
import { silentLogger, type Logger } from '../log.js';
import type { AudioSink, AudioSource } from '../audio/backend.js';
import { AudioEngine, type RemoteAudioStatus } from '../audio/engine.js';
import { FRAME_SAMPLES, SAMPLE_RATE, type Frame } from '../audio/format.js';
import { MAX_GAIN } from '../audio/mixer.js';
import { PeerLink } from './peer-link.js';
import { dtlsFingerprint } from './sdp-guard.js';
import { SignallingClient, type JoinedRoom } from './signalling-client.js';
import { nonstandard, type RTCPeerConnectionState, type WrtcAudioSource, type WrtcTrack } from './wrtc.js';

/** Reasons this class closes links for itself; any other close is worth reporting. */
const EXPECTED_CLOSE_REASONS = new Set(['stopping', 'peer left', 'rejoined', 'replaced']);

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
   * Opus packet duration our sender uses, 20 ms by default. 10 ms cuts mouth-to-ear latency by
   * 1–9 ms (benchmark runs here) but doubles the packet rate: an 8-peer mesh at 10 ms saturated this 2-core machine
   * (7.6 % gaps), at 20 ms it ran at 166 % with none. Use 10 for small rooms.
   */
  ptimeMs?: number;
  /**
   * Opus DTX: while we are silent our sender sends a packet every 400 ms instead of 50 a
   * second, to every peer; receivers play comfort noise. Off by default: it saves bandwidth,
   * but on this machine an 8-peer mesh of talkers took 166 % CPU without it and 184 % with it.
   */
  dtx?: boolean;
  logger?: Logger;
  /** Accept a self-signed TLS certificate on the server (development). */
  insecureTls?: boolean;
  /** Sees each decoded frame as it enters a peer's jitter buffer (benchmarks, diagnostics). */
  onRemoteFrame?: (name: string, frame: Frame) => void;
}

export interface PeerStatus {
  id: string;
  name: string;
  connection: RTCPeerConnectionState | 'new';
  audio: RemoteAudioStatus | null;
  /** RTP packets on the connection (peersWithPackets only). */
  packets?: { sent: number; received: number };
}

export interface VoicePeerEvents {
  joined: [info: { self: PeerInfo; peers: PeerInfo[]; map: RoomLayout | null; renamed: boolean; resumed: boolean }];
  'peer-joined': [peer: PeerInfo];
  'peer-left': [peer: PeerInfo];
  'connection-state': [info: { peer: string; state: RTCPeerConnectionState }];
  /** Something went wrong that the peer survives (a rejected connection, a server error). */
  problem: [info: { message: string; peer?: string }];
  disconnected: [info: { reason: string }];
  /** The peer cannot go on (an audio device failed); stop() it. */
  fatal: [info: { message: string }];
  /** The capture source ran out (a non-looping file). */
  'source-ended': [];
  'server-shutdown': [info: { message: string }];
}

export class VoicePeer extends EventEmitter<VoicePeerEvents> {
  private readonly logger: Logger;
  private readonly signalling: SignallingClient;
  private readonly engine: AudioEngine;
  private readonly links = new Map<string, PeerLink>();
  private readonly members = new Map<string, PeerInfo>();
  private readonly audioSource: WrtcAudioSource;
  private readonly track: WrtcTrack;
  private iceServers: IceServer[] = [];
  private self: PeerInfo | null = null;
  private stopping: Promise<void> | null = null;
  private started = false;

  constructor(private readonly options: VoicePeerOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    // The engine first: it may refuse its options (a recording folder it cannot create), and
    // then no native track exists yet that would need stopping.
    this.engine = new AudioEngine({
      source: options.source,
      sink: options.sink,
      recordDir: options.recordDir,
      volumes: options.volumes,
      onRemoteFrame: options.onRemoteFrame,
      onCapturedFrame: (frame) => this.send(frame),
      onSourceEnded: () => this.emit('source-ended'),
      onBackendFailure: (error) => this.emit('fatal', { message: error.message }),
    });
    this.audioSource = new nonstandard.RTCAudioSource();
    this.track = this.audioSource.createTrack();
    this.signalling = new SignallingClient(options.serverUrl, options.room, options.name, this.logger, { rejectUnauthorized: !options.insecureTls });
    this.signalling.on('joined', (room, resumed) => this.onJoined(room, resumed));
    this.signalling.on('room-users-updated', (update) => this.onRoomUsers(update));
    this.signalling.on('signal', (signal) => this.onSignal(signal));
    this.signalling.on('server-error', (error) => this.emit('problem', { message: `server: ${error.message} (${error.code})` }));
    this.signalling.on('server-shutdown', (message) => this.emit('server-shutdown', { message }));
    this.signalling.on('disconnected', (reason) => {
      this.logger.warn('lost the signalling connection; reconnecting', { reason });
      this.emit('disconnected', { reason });
    });
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

  /** Leaves the room and releases everything, in order: clock, links, signalling, track, files. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const link of this.links.values()) link.close('stopping');
      this.links.clear();
      await this.signalling.close();
      await this.engine.stop();
      this.track.stop();
    })();
    return this.stopping;
  }

  setVolume(name: string, percent: number): void {
    if (!Number.isFinite(percent) || percent < 0 || percent > MAX_GAIN * 100) throw new RangeError(`volume must be 0–${MAX_GAIN * 100} %, not ${percent}`);
    this.engine.setVolume(name, percent);
  }

  set muted(value: boolean) {
    this.engine.muted = value;
  }

  get muted(): boolean {
    return this.engine.muted;
  }

  get identity(): PeerInfo | null {
    return this.self;
  }

  peers(): PeerStatus[] {
    return [...this.members.values()].map((member) => ({
      id: member.id,
      name: member.name,
      connection: this.links.get(member.id)?.connectionState ?? 'new',
      audio: this.engine.remoteStatus(member.name),
    }));
  }

  /** peers(), with the RTP packets sent to and received from each (from the connections' stats). */
  async peersWithPackets(): Promise<PeerStatus[]> {
    return Promise.all(
      this.peers().map(async (status) => {
        const link = this.links.get(status.id);
        return link ? { ...status, packets: await link.packetCounts() } : status;
      }),
    );
  }

  status() {
    return { self: this.self, room: this.options.room, server: this.options.serverUrl, peers: this.members.size, links: this.links.size, audio: this.engine.stats };
  }

  private send(frame: Frame): void {
    // wrtc checks the whole underlying buffer's size: a view into a larger one (a frame that
    // came over IPC, say) must be copied.
    if (frame.byteOffset !== 0 || frame.buffer.byteLength !== frame.byteLength) frame = frame.slice();
    this.audioSource.onData({ samples: frame, sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: FRAME_SAMPLES });
  }

  private onJoined(room: JoinedRoom, resumed: boolean): void {
    // After a resume we have a new id: every old connection is gone on the other side too.
    for (const link of this.links.values()) link.close('rejoined');
    this.links.clear();
    for (const member of this.members.values()) this.engine.detachRemote(member.name);
    this.members.clear();
    this.self = room.self;
    this.iceServers = room.iceServers;
    this.logger.info(resumed ? 'rejoined the room' : 'joined the room', { room: this.options.room, name: room.self.name, peers: room.peers.length });
    this.emit('joined', { self: room.self, peers: room.peers, map: room.map, renamed: room.renamed, resumed });
    // The newcomer offers to everyone already there.
    for (const peer of room.peers) this.addMember(peer, true);
  }

  private onRoomUsers(update: RoomUsersUpdated): void {
    if (!this.self || update.room !== this.options.room) return;
    const present = new Map(update.peers.filter((p) => p.id !== this.self!.id).map((p) => [p.id, p]));
    for (const [id, member] of this.members) if (!present.has(id)) this.removeMember(member);
    // Members we have not seen yet are newcomers: they will offer to us.
    for (const peer of present.values()) if (!this.members.has(peer.id)) this.addMember(peer, false);
  }

  private addMember(peer: PeerInfo, initiator: boolean): void {
    this.members.set(peer.id, peer);
    this.engine.attachRemote(peer.name);
    this.logger.info('peer joined', { peer: peer.name });
    this.emit('peer-joined', peer);
    this.createLink(peer, initiator);
  }

  private removeMember(peer: PeerInfo): void {
    this.members.delete(peer.id);
    this.links.get(peer.id)?.close('peer left');
    this.links.delete(peer.id);
    this.engine.detachRemote(peer.name);
    this.logger.info('peer left', { peer: peer.name });
    this.emit('peer-left', peer);
  }

  private createLink(peer: PeerInfo, initiator: boolean): PeerLink {
    const self = this.self!;
    const link = new PeerLink({
      remote: peer,
      polite: isPolite(self.id, peer.id),
      initiator,
      iceServers: this.iceServers,
      track: this.track,
      ptimeMs: this.options.ptimeMs ?? 20,
      dtx: this.options.dtx ?? false,
      sendSignal: (data) => this.signalling.sendSignal(peer.id, data),
      onAudio: (data) => this.engine.push(peer.name, data),
      logger: this.logger.child({ peer: peer.name }),
    });
    link.on('state', (state) => {
      this.logger.debug('connection state', { peer: peer.name, state });
      this.emit('connection-state', { peer: peer.name, state });
    });
    link.on('closed', (reason) => {
      if (this.links.get(peer.id) === link) this.links.delete(peer.id);
      if (!EXPECTED_CLOSE_REASONS.has(reason)) {
        this.emit('problem', { peer: peer.name, message: `connection to ${peer.name} closed: ${reason}` });
      }
    });
    link.on('unrecoverable', () => {
      // The impolite side (higher id) builds the fresh connection; the polite side waits for its offer.
      if (isPolite(self.id, peer.id)) return;
      link.close('replaced');
      if (this.members.has(peer.id)) this.createLink(peer, true);
    });
    this.links.set(peer.id, link);
    return link;
  }

  private onSignal({ from, data }: RelayedSignal): void {
    const member = this.members.get(from);
    if (!member) {
      this.logger.debug('signal from a peer not (yet) in our list', { from });
      return;
    }
    let link = this.links.get(from);
    const isOffer = 'description' in data && data.description.type === 'offer';
    // An offer with a new DTLS fingerprint comes from a fresh remote connection: start anew.
    if (link && isOffer && link.remoteFingerprint !== null && dtlsFingerprint(data.description.sdp) !== link.remoteFingerprint) {
      link.close('replaced');
      link = undefined;
    }
    if (!link) {
      if (!isOffer) return;
      link = this.createLink(member, false);
    }
    link.handleSignal(data);
  }
}
