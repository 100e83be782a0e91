// The mesh: one PeerLink (RTCPeerConnection) per roommate, all sending the same track of our
// audio. Negotiation follows the roles pinned in PROTOCOL.md; a safety net re-offers a pair
// that is not connected in time, by the rules in retry-policy.ts.
import { EventEmitter } from 'node:events';
import { FRAME_SAMPLES, SAMPLE_RATE, type Frame } from '../audio/format.js';
import type { Logger } from '../log.js';
import { isPolite, type IceServer, type PeerInfo, type RelayedSignal, type SignalData } from '../protocol.js';
import type { MediaState, MediaTopology, MediaTopologyEvents, MediaTopologyOptions } from './media-topology.js';
import { PeerLink } from './peer-link.js';
import type { PacketFigures } from './connection-stats.js';
import { decideRetry, retryDelayMs } from './retry-policy.js';
import { SdpRejected, candidateProblem, dtlsFingerprint, sanitizeRemoteDescription } from './sdp-guard.js';
import { TokenBucket } from '../server/rate-limiter.js';
import { nonstandard, type WrtcAudioSource, type WrtcTrack } from './wrtc.js';

/** Reasons this class closes links for itself; any other close is worth reporting. */
const EXPECTED_CLOSE_REASONS = new Set(['stopping', 'peer left', 'rejoined', 'replaced', 'retry']);

/** Signals from an id we do not know yet are held this long (and at most this many) for it. */
const PENDING_SIGNAL_MS = 5000;
const MAX_PENDING_SIGNALS = 64;

/**
 * How often a roommate may force us to build a new connection (an offer with a new DTLS
 * fingerprint, or any offer while we have none): a burst of 3, then one every 10 s, so at most
 * about 3 per 30 s in the long run. Each costs a PeerConnection with its threads and ports; the
 * safety net's own re-offers (5, 10, 20 s apart) stay well inside. README.md documents it.
 */
export const REMOTE_REBUILD_BURST = 3;
export const REMOTE_REBUILD_INTERVAL_MS = 10_000;

export interface MeshOptions extends MediaTopologyOptions {
  /** Opus packet duration our sender uses (10 or 20 ms). */
  ptimeMs: number;
  /** Opus DTX for our sender. */
  dtx: boolean;
  /** Receive only: links carry nobody's encoder of ours. */
  listenOnly?: boolean;
}

/** What the mesh keeps per roommate. */
interface Pair {
  peer: PeerInfo;
  weAreNewcomer: boolean;
  link: PeerLink | null;
  /** Safety-net checks made since the pair last needed one. */
  attempts: number;
  retryTimer: NodeJS.Timeout | null;
  /** New connections this roommate may still force (REMOTE_REBUILD_*). */
  remoteRebuilds: TokenBucket;
}

interface PendingSignals {
  signals: RelayedSignal[];
  timer: NodeJS.Timeout;
}

export class MeshTopology extends EventEmitter<MediaTopologyEvents> implements MediaTopology {
  readonly kind = 'mesh';
  private readonly pairs = new Map<string, Pair>();
  private readonly pending = new Map<string, PendingSignals>();
  private readonly audioSource: WrtcAudioSource = new nonstandard.RTCAudioSource();
  private readonly track: WrtcTrack = this.audioSource.createTrack();
  private readonly logger: Logger;
  private self: PeerInfo | null = null;
  private iceServers: IceServer[] = [];
  /** Roommates who may not hear (no `listen` grant): their links carry nothing from us. */
  private readonly deaf = new Set<string>();
  private closed = false;
  /** The packet time our sender is told to use, through the remote descriptions we apply. */
  private ptimeMs: number;
  retries = 0;

  constructor(private readonly options: MeshOptions) {
    super();
    this.logger = options.logger;
    this.ptimeMs = options.ptimeMs;
  }

  setPtime(ptimeMs: number): void {
    if (ptimeMs === this.ptimeMs) return;
    this.ptimeMs = ptimeMs;
    // Our sender takes its packet time from the remote description (sdp-guard.ts writes a=ptime
    // into it): one more offer/answer per link sets it, on both sides, with no new connection.
    for (const pair of this.pairs.values()) pair.link?.renegotiate();
  }

  reset(self: PeerInfo, iceServers: IceServer[]): void {
    for (const id of [...this.pairs.keys()]) this.dropPair(id, 'rejoined');
    for (const id of [...this.pending.keys()]) this.clearPending(id);
    this.deaf.clear();
    this.self = self;
    this.iceServers = iceServers;
  }

  setListening(id: string, listening: boolean): void {
    if (listening === !this.deaf.has(id)) return;
    if (listening) this.deaf.delete(id);
    else this.deaf.add(id);
    this.pairs.get(id)?.link?.setSending(listening);
  }

  renewIceServers(iceServers: IceServer[]): void {
    this.iceServers = iceServers;
    for (const pair of this.pairs.values()) pair.link?.renewIceServers(iceServers);
  }

  addMember(peer: PeerInfo, weAreNewcomer: boolean): void {
    if (this.closed || this.pairs.has(peer.id)) return;
    const pair: Pair = { peer, weAreNewcomer, link: null, attempts: 0, retryTimer: null, remoteRebuilds: new TokenBucket(1000 / REMOTE_REBUILD_INTERVAL_MS, REMOTE_REBUILD_BURST, performance.now()) };
    this.pairs.set(peer.id, pair);
    // The newcomer offers; the roommate already here waits for that offer.
    if (weAreNewcomer) this.createLink(pair, true);
    this.watch(pair);
    const held = this.pending.get(peer.id);
    if (held) {
      this.clearPending(peer.id);
      for (const signal of held.signals) this.handleSignal(signal);
    }
  }

  removeMember(id: string): void {
    this.deaf.delete(id);
    this.dropPair(id, 'peer left');
    this.clearPending(id);
  }

  handleSignal(signal: RelayedSignal): void {
    if (this.closed) return;
    const { from } = signal;
    const pair = this.pairs.get(from);
    if (!pair) return this.hold(signal);
    // Remote input is checked before it can cost anything: a refused offer builds no connection
    // and leaves the current one alone.
    let data: SignalData;
    try {
      data = this.checked(signal.data);
    } catch (error) {
      if (!(error instanceof SdpRejected)) throw error;
      return this.refuse(pair, `refused a signal from ${pair.peer.name}: ${error.message}`);
    }
    const offer = 'description' in data && data.description.type === 'offer' ? data.description : null;
    // An offer with a new DTLS fingerprint comes from a fresh remote connection: start anew.
    const fresh = offer !== null && (!pair.link || (pair.link.remoteFingerprint !== null && dtlsFingerprint(offer.sdp) !== pair.link.remoteFingerprint));
    if (fresh && !pair.remoteRebuilds.take(performance.now())) {
      return this.refuse(pair, `${pair.peer.name} asks for new connections too often (at most ${REMOTE_REBUILD_BURST} at once, then one every ${REMOTE_REBUILD_INTERVAL_MS / 1000} s); offer refused`);
    }
    if (fresh && pair.link) {
      this.logger.debug('offer from a fresh connection; replacing ours', { peer: pair.peer.name });
      pair.link.close('replaced');
      pair.link = null;
    }
    if (!pair.link) {
      if (!offer) {
        this.logger.debug('signal for a connection we do not have', { peer: pair.peer.name, kind: 'candidate' in data ? 'candidate' : data.description.type });
        return;
      }
      this.createLink(pair, false);
    }
    pair.link!.handleSignal(data);
  }

  /** A remote description made safe for wrtc, or a candidate checked; throws SdpRejected. */
  private checked(data: SignalData): SignalData {
    if ('candidate' in data) {
      const problem = candidateProblem(data.candidate.candidate);
      if (problem) throw new SdpRejected(problem);
      return data;
    }
    // A mesh link carries exactly one audio section (the defaults of sdp-guard's policy).
    return { description: sanitizeRemoteDescription(data.description, { ptimeMs: this.ptimeMs, dtx: this.options.dtx }) };
  }

  /** Hostile or broken input from a roommate: reported, never fatal, the link left as it is. */
  private refuse(pair: Pair, message: string): void {
    this.logger.warn(message, { peer: pair.peer.name });
    this.emit('problem', { peer: pair.peer.name, message });
  }

  handleServerOffer(): void {
    this.emit('problem', { message: 'the server sent an SFU offer, but this room uses the mesh; ignored' });
  }

  handleServerStreams(): void {
    // Only SFU rooms map streams to members.
  }

  send(frame: Frame): void {
    if (this.options.listenOnly) return;
    // wrtc checks the whole underlying buffer's size: a view into a larger one (a frame that
    // came over IPC, say) must be copied.
    if (frame.byteOffset !== 0 || frame.buffer.byteLength !== frame.byteLength) frame = frame.slice();
    this.audioSource.onData({ samples: frame, sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: FRAME_SAMPLES });
  }

  stateOf(id: string): MediaState {
    return this.pairs.get(id)?.link?.connectionState ?? 'never-started';
  }

  async connectionFigures(id: string): Promise<PacketFigures | null> {
    const link = this.pairs.get(id)?.link;
    return link ? link.connectionFigures() : null;
  }

  get connectionCount(): number {
    return [...this.pairs.values()].filter((pair) => pair.link !== null).length;
  }

  close(): void {
    if (this.closed) return;
    for (const id of [...this.pairs.keys()]) this.dropPair(id, 'stopping');
    for (const id of [...this.pending.keys()]) this.clearPending(id);
    this.closed = true;
    this.track.stop();
  }

  private createLink(pair: Pair, initiator: boolean): PeerLink {
    const self = this.self!;
    const { peer } = pair;
    const link = new PeerLink({
      remote: peer,
      polite: isPolite(self.id, peer.id),
      initiator,
      iceServers: this.iceServers,
      track: this.options.listenOnly ? null : this.track,
      sending: !this.deaf.has(peer.id),
      sendSignal: (data) => this.options.sendSignal(peer.id, data),
      onAudio: (data) => this.options.onAudio(peer, data),
      logger: this.logger.child({ peer: peer.name }),
    });
    link.on('state', (state) => {
      if (pair.link !== link) return;
      this.logger.debug('connection state', { peer: peer.name, state });
      this.emit('connection-state', { peer, state });
      if (state === 'connected') this.unwatch(pair);
    });
    link.on('closed', (reason) => {
      if (pair.link === link) pair.link = null;
      if (!EXPECTED_CLOSE_REASONS.has(reason)) this.emit('problem', { peer: peer.name, message: `connection to ${peer.name} closed: ${reason}` });
    });
    link.on('unrecoverable', () => {
      // ICE restarts did not bring a connection back: the impolite side (higher id) builds the
      // fresh connection; the polite side waits for its offer. Either way the pair is watched again.
      if (pair.link !== link) return;
      if (!isPolite(self.id, peer.id)) {
        link.close('replaced');
        this.createLink(pair, true);
      }
      pair.attempts = Math.max(pair.attempts, 1);
      this.watch(pair);
    });
    pair.link = link;
    return link;
  }

  /** Checks the pair later; re-offers by the pinned roles if it is not connected by then. */
  private watch(pair: Pair): void {
    if (pair.retryTimer || this.closed) return;
    pair.retryTimer = setTimeout(() => {
      pair.retryTimer = null;
      if (this.pairs.get(pair.peer.id) !== pair || this.closed) return;
      const state = this.stateOf(pair.peer.id);
      if (state === 'connected') return;
      pair.attempts++;
      const decision = decideRetry(pair.attempts, pair.weAreNewcomer, isPolite(this.self!.id, pair.peer.id));
      if (decision.act) {
        this.retries++;
        this.logger.info('pair not connected in time; offering a fresh connection', { peer: pair.peer.name, attempt: pair.attempts, by: decision.by, state });
        this.emit('retry', { peer: pair.peer, attempt: pair.attempts, by: decision.by, state });
        pair.link?.close('retry');
        this.createLink(pair, true);
      }
      this.watch(pair);
    }, retryDelayMs(pair.attempts + 1));
  }

  private unwatch(pair: Pair): void {
    if (pair.retryTimer) clearTimeout(pair.retryTimer);
    pair.retryTimer = null;
    pair.attempts = 0;
  }

  private dropPair(id: string, reason: string): void {
    const pair = this.pairs.get(id);
    if (!pair) return;
    this.unwatch(pair);
    pair.link?.close(reason);
    this.pairs.delete(id);
  }

  /**
   * A signal from an id we do not know yet: held for a moment (in a cluster a signal from
   * another node's member can overtake the news of its sender: PROTOCOL.md, Order), then
   * reported, never dropped in silence.
   */
  private hold(signal: RelayedSignal): void {
    const held = this.pending.get(signal.from);
    if (held) {
      if (held.signals.length < MAX_PENDING_SIGNALS) held.signals.push(signal);
      return;
    }
    const timer = setTimeout(() => {
      const expired = this.pending.get(signal.from);
      this.pending.delete(signal.from);
      if (!expired) return;
      const message = `dropped ${expired.signals.length} signal(s) from ${signal.from}: no such member in this room`;
      this.logger.warn(message, { from: signal.from });
      this.emit('problem', { message });
    }, PENDING_SIGNAL_MS);
    timer.unref();
    this.pending.set(signal.from, { signals: [signal], timer });
  }

  private clearPending(id: string): void {
    const held = this.pending.get(id);
    if (held) clearTimeout(held.timer);
    this.pending.delete(id);
  }
}
