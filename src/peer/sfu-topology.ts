// SFU rooms: our audio goes once to the server's media server (Janus) on a publisher
// connection, and the speakers' come back on one subscriber connection with a receive-only
// audio section per speaker forwarded (all of them, or the K loudest with --max-speakers). Janus makes every subscriber offer; the server tells us which mid
// carries which member, so decoded audio is delivered per member as in the mesh.
import { EventEmitter } from 'node:events';
import { FRAME_SAMPLES, SAMPLE_RATE, type Frame } from '../audio/format.js';
import type { Logger } from '../log.js';
import type { IceServer, PeerInfo, RelayedSignal, SfuCandidate, SfuOffer, SfuStream } from '../protocol.js';
import type { MediaState, MediaTopology, MediaTopologyEvents } from './media-topology.js';
import { SdpRejected, sanitizeRemoteDescription } from './sdp-guard.js';
import { PacketTally, type PacketFigures } from './connection-stats.js';
import { RTCPeerConnection, connectionConfiguration, nonstandard, openAudioSink, renewIceServers, type RTCPeerConnectionState, type SinkData, type WrtcAudioSink, type WrtcAudioSource, type WrtcPeerConnection, type WrtcTrack } from './wrtc.js';

/**
 * A subscriber connection has at most this many sections, inactive ones included. Those that
 * carry audio are bounded by the room's forwarded speakers (the offer's maxStreams), and Janus
 * reuses a section freed by a speaker for the next one (twelve speakers in turn on two slots
 * left two sections), so only a room that forwards every speaker comes near this.
 */
const MAX_SUBSCRIBER_SECTIONS = 256;
const MAX_PUBLISH_ATTEMPTS = 3;
const PUBLISH_RETRY_MS = 2000;

export interface SfuOptions {
  /** Sends our publisher offer to the server; resolves with the media server's answer. */
  publish: (sdp: string) => Promise<string>;
  /** Our answer to the server's subscriber offer. */
  answer: (sdp: string) => void;
  candidate: (target: SfuCandidate['target'], candidate: SfuCandidate['candidate']) => void;
  onAudio: (peer: PeerInfo, chunk: SinkData) => void;
  /** Publish nothing (a listener of a broadcast): no encoder at all. */
  listenOnly: boolean;
  ptimeMs: number;
  dtx: boolean;
  logger: Logger;
}

export class SfuTopology extends EventEmitter<MediaTopologyEvents> implements MediaTopology {
  readonly kind = 'sfu';
  readonly retries = 0;
  private readonly audioSource: WrtcAudioSource = new nonstandard.RTCAudioSource();
  private readonly track: WrtcTrack = this.audioSource.createTrack();
  private readonly members = new Map<string, PeerInfo>();
  /** mid → member id, from the latest subscriber offer. */
  private streams = new Map<string, string>();
  private readonly sinks = new Map<string, WrtcAudioSink>();
  private publisher: WrtcPeerConnection | null = null;
  private subscriber: WrtcPeerConnection | null = null;
  /**
   * The subscriber connection's state as of its last change event. wrtc answers the
   * connectionState getter through its signalling thread, at ~0.2 ms a call when busy; a load
   * process asking it for 50 peers once a second stalled its audio ticks.
   */
  private subscriberState: RTCPeerConnectionState = 'new';
  private iceServers: IceServer[] = [];
  private offers: Promise<void> = Promise.resolve();
  /** Bumped by reset(): offers queued for an earlier membership are dropped. */
  private generation = 0;
  private closed = false;
  private readonly reported = new Map<string, RTCPeerConnectionState>();

  constructor(private readonly options: SfuOptions) {
    super();
  }

  reset(_self: PeerInfo, iceServers: IceServer[]): void {
    this.generation++;
    this.closeConnections();
    this.members.clear();
    this.streams.clear();
    this.reported.clear();
    this.iceServers = iceServers;
    if (!this.options.listenOnly) void this.startPublishing();
  }

  renewIceServers(iceServers: IceServer[]): void {
    this.iceServers = iceServers;
    for (const pc of [this.publisher, this.subscriber]) {
      if (pc && !renewIceServers(pc, iceServers)) this.options.logger.warn('could not hand a media-server connection fresh ICE servers');
    }
  }

  setPtime(): void {
    // Kept as started: an SFU room is a large room, and Janus forwards each packet to every
    // listener, so 20 ms (see VoicePeer.ptimeFor).
  }

  /** The server does not subscribe a member without `listen` to anyone: nothing to do here. */
  setListening(): void {}

  addMember(peer: PeerInfo): void {
    this.members.set(peer.id, peer);
  }

  removeMember(id: string): void {
    this.members.delete(id);
    this.reported.delete(id);
  }

  handleSignal(signal: RelayedSignal): void {
    this.options.logger.debug('ignoring a peer signal in an SFU room', { from: signal.from });
  }

  handleServerOffer(offer: SfuOffer): void {
    const generation = this.generation;
    this.offers = this.offers.then(() => (generation === this.generation ? this.applyOffer(offer) : undefined)).catch((error: Error) => {
      if (this.closed) return; // an offer that crossed our leaving
      const reason = error instanceof SdpRejected ? `rejected the media server's offer: ${error.message}` : `subscriber negotiation failed: ${error.message}`;
      this.options.logger.warn(reason);
      this.emit('problem', { message: reason });
    });
  }

  handleServerStreams(streams: SfuStream[]): void {
    // Applied in order with the offers: a switch never overtakes the offer that made its section.
    this.offers = this.offers.then(() => {
      this.streams = new Map(streams.map(({ mid, member }) => [mid, member]));
      this.reportStates();
    });
  }

  send(frame: Frame): void {
    if (this.options.listenOnly) return;
    if (frame.byteOffset !== 0 || frame.buffer.byteLength !== frame.byteLength) frame = frame.slice();
    this.audioSource.onData({ samples: frame, sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: FRAME_SAMPLES });
  }

  stateOf(id: string): MediaState {
    if (!this.subscriber) return 'never-started';
    return [...this.streams.values()].includes(id) ? this.subscriberState : 'not-forwarded';
  }

  async connectionFigures(id: string): Promise<PacketFigures | null> {
    const mid = [...this.streams].find(([, member]) => member === id)?.[0];
    if (!this.subscriber || mid === undefined) return null;
    const figures = new PacketTally();
    try {
      const report = await this.subscriber.getStats();
      report.forEach((entry) => {
        if (entry.type === 'inbound-rtp' && entry['mid'] === mid) figures.add(entry);
      });
    } catch {
      return null;
    }
    return figures.result();
  }

  get connectionCount(): number {
    return [this.publisher, this.subscriber].filter((pc) => pc !== null).length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeConnections();
    this.track.stop();
  }

  private newConnection(target: SfuCandidate['target']): WrtcPeerConnection {
    const pc = new RTCPeerConnection(connectionConfiguration(this.iceServers));
    pc.onicecandidate = ({ candidate }) => {
      if (this.closed) return;
      this.options.candidate(target, candidate ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } : null);
    };
    pc.onconnectionstatechange = () => {
      if (this.closed) return;
      const state = pc.connectionState;
      this.options.logger.debug('SFU connection state', { target, state });
      if (target === 'subscriber' && pc === this.subscriber) {
        this.subscriberState = state;
        this.reportStates();
      }
      if (state === 'failed') this.emit('problem', { message: `the ${target} connection to the media server failed` });
    };
    return pc;
  }

  /** Publishes our audio; a failure is reported and tried again (3 times, 2 s apart). */
  private async startPublishing(attempt = 1): Promise<void> {
    const generation = this.generation;
    const pc = this.newConnection('publisher');
    this.publisher = pc;
    try {
      pc.addTransceiver(this.track, { direction: 'sendonly' });
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const answer = await this.options.publish(offer.sdp!);
      if (this.publisher !== pc) return;
      const safe = sanitizeRemoteDescription({ type: 'answer', sdp: answer }, { ptimeMs: this.options.ptimeMs, dtx: this.options.dtx, audioOnly: true, maxMediaSections: 1, directions: ['recvonly', 'inactive'], requireOpus: true });
      await pc.setRemoteDescription(safe);
    } catch (error) {
      if (this.publisher !== pc || this.closed) return;
      const retry = attempt < MAX_PUBLISH_ATTEMPTS;
      const message = `publishing to the media server failed: ${(error as Error).message}${retry ? '; trying again' : ''}`;
      this.options.logger.warn(message);
      this.emit('problem', { message });
      pc.close();
      this.publisher = null;
      if (retry) {
        setTimeout(() => {
          if (!this.closed && generation === this.generation && this.publisher === null) void this.startPublishing(attempt + 1);
        }, PUBLISH_RETRY_MS).unref();
      }
    }
  }

  private async applyOffer(offer: SfuOffer): Promise<void> {
    if (this.closed) return;
    const safe = sanitizeRemoteDescription(
      { type: 'offer', sdp: offer.sdp },
      { ptimeMs: this.options.ptimeMs, dtx: false, audioOnly: true, maxMediaSections: MAX_SUBSCRIBER_SECTIONS, ...(isCount(offer.maxStreams) ? { maxSendingSections: offer.maxStreams } : {}), directions: ['sendonly', 'inactive'], requireOpus: true },
    );
    this.streams = new Map(offer.streams.map(({ mid, member }) => [mid, member]));
    let pc = this.subscriber;
    if (!pc) {
      pc = this.newConnection('subscriber');
      pc.ontrack = ({ track, transceiver }) => this.listen(track, transceiver.mid);
      this.subscriber = pc;
      this.subscriberState = 'new';
    }
    await pc.setRemoteDescription(safe);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (answer.sdp) this.options.answer(answer.sdp);
    this.reportStates();
  }

  /** One sink per stream (mid); the member it carries is looked up per chunk, as offers remap mids. */
  private listen(track: WrtcTrack, mid: string | null): void {
    if (track.kind !== 'audio' || mid === null || this.closed) return;
    this.sinks.get(mid)?.stop();
    const sink = openAudioSink(track, (data) => {
      const memberId = this.streams.get(mid);
      const member = memberId ? this.members.get(memberId) : undefined;
      if (member && !this.closed) this.options.onAudio(member, data);
    });
    this.sinks.set(mid, sink);
  }

  /** Emits a connection state per member whose stream the subscriber connection carries. */
  private reportStates(): void {
    if (!this.subscriber) return;
    const state = this.subscriberState;
    for (const memberId of this.streams.values()) {
      const member = this.members.get(memberId);
      if (!member || this.reported.get(memberId) === state) continue;
      this.reported.set(memberId, state);
      this.emit('connection-state', { peer: member, state });
    }
  }

  private closeConnections(): void {
    for (const sink of this.sinks.values()) sink.stop();
    this.sinks.clear();
    for (const pc of [this.publisher, this.subscriber]) {
      if (!pc) continue;
      pc.onicecandidate = null;
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      pc.close();
    }
    this.publisher = null;
    this.subscriber = null;
    this.subscriberState = 'new';
  }
}

/** A count the server may bound an offer by (what it sends is not validated on arrival). */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
