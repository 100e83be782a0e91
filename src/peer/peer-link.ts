// One RTCPeerConnection to one remote peer, carrying audio both ways.
//
// Negotiation follows the roles pinned in PROTOCOL.md: the newcomer sends the first offer, the
// peer already in the room waits for it; afterwards (ICE restarts, glare) the perfect-negotiation
// pattern applies with the lower id polite. Every step runs through one queue, so a description
// and the candidates behind it are applied in arrival order and never interleave.
import { EventEmitter } from 'node:events';
import type { IceServer, PeerInfo, SessionDescription, SignalData } from '../protocol.js';
import type { Logger } from '../log.js';
import { SdpRejected, dtlsFingerprint } from './sdp-guard.js';
import { PacketTally, type PacketFigures } from './connection-stats.js';
import { RTCPeerConnection, connectionConfiguration, openAudioSink, renewIceServers, type RTCIceConnectionState, type RTCPeerConnectionState, type RTCSessionDescriptionInit, type SinkData, type WrtcAudioSink, type WrtcPeerConnection, type WrtcTrack, type WrtcTransceiver } from './wrtc.js';

export interface PeerLinkOptions {
  remote: PeerInfo;
  polite: boolean;
  /** True for the newcomer: it sends the first offer. */
  initiator: boolean;
  iceServers: IceServer[];
  /** False: the track's section stays, but nothing is sent on it (a roommate without `listen`). */
  sending?: boolean;
  /** Our outgoing audio; the link adds it to its own transceiver. null: receive only (no encoder). */
  track: WrtcTrack | null;
  sendSignal: (data: SignalData) => void;
  onAudio: (data: SinkData) => void;
  logger: Logger;
}

interface PeerLinkEvents {
  state: [state: RTCPeerConnectionState];
  /** ICE restarts did not bring the connection back; the owner should replace this link. */
  unrecoverable: [];
  closed: [reason: string];
}

/** How long "disconnected" may last before an ICE restart, and how long a restart may take. */
const DISCONNECTED_GRACE_MS = 3000;
const RESTART_TIMEOUT_MS = 10_000;
const MAX_ICE_RESTARTS = 2;
/** How often the connection's states are read, in case wrtc dropped a state event: while it is not up, and while it is (spread, see pollStates). */
const STATE_POLL_MS = 1000;
const SETTLED_STATE_POLL_MS = 10_000;
/** How long the polite side waits for the other's offer before renegotiating itself. */
const POLITE_RENEGOTIATION_WAIT_MS = 1000;
// A connection that never connects is the owner's to retry (MeshTopology's safety net).

export class PeerLink extends EventEmitter<PeerLinkEvents> {
  readonly remote: PeerInfo;
  private readonly pc: WrtcPeerConnection;
  private sink: WrtcAudioSink | null = null;
  private queue: Promise<void> = Promise.resolve();
  private ignoreOffer = false;
  private negotiated = false;
  /** A renegotiation asked for while another was under way: made once that one is done. */
  private offerAgain = false;
  /** Remote offers applied so far (see renegotiate). */
  private remoteOffers = 0;
  private closed = false;
  /** Whether our track goes out (options.sending); see setSending. */
  private sending: boolean;
  private iceRestarts = 0;
  private recoveryTimer: NodeJS.Timeout | null = null;
  private statePoll: NodeJS.Timeout | null = null;
  private statePollSettled = false;
  private state: RTCPeerConnectionState = 'new';
  private iceState: RTCIceConnectionState = 'new';
  /** The remote PeerConnection's DTLS fingerprint, once known. */
  remoteFingerprint: string | null = null;

  constructor(private readonly options: PeerLinkOptions) {
    super();
    this.remote = options.remote;
    this.sending = options.sending ?? true;
    this.pc = new RTCPeerConnection(connectionConfiguration(options.iceServers));
    this.pc.onicecandidate = ({ candidate }) => {
      if (!candidate || this.closed) return;
      options.sendSignal({ candidate: { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } });
    };
    this.pc.ontrack = ({ track }) => {
      if (track.kind !== 'audio' || this.closed) return;
      this.sink?.stop();
      this.sink = openAudioSink(track, (data) => {
        if (!this.closed) options.onAudio(data);
      });
    };
    this.pc.onnegotiationneeded = () => {
      // Roles: only the newcomer starts; after the first exchange either side may renegotiate.
      if (options.initiator || this.negotiated) this.enqueue(() => this.makeOffer());
    };
    this.pc.onconnectionstatechange = () => this.followStates('event');
    this.pc.oniceconnectionstatechange = () => this.followStates('event');
    if (options.initiator) {
      // addTrack, not addTransceiver: when glare rolls our offer back, a remote offer takes over
      // a transceiver that addTrack made (JSEP 5.10), so the track keeps one m-section.
      if (options.track) this.pc.addTrack(options.track);
      else this.pc.addTransceiver('audio', { direction: 'recvonly' });
      if (options.track && !this.sending) this.applySending();
    }
    this.pollStates();
  }

  /**
   * Sends our track, or nothing, on the section it has (replaceTrack: no renegotiation). Used to
   * send nothing to a roommate who may not hear (no `listen` grant): enforced by the sender.
   */
  setSending(sending: boolean): void {
    if (this.closed || this.sending === sending) return;
    this.sending = sending;
    this.applySending();
  }

  private get outgoingTrack(): WrtcTrack | null {
    return this.sending ? (this.options.track ?? null) : null;
  }

  private applySending(): void {
    if (!this.options.track) return;
    // Not compared with sender.track: that changes only once an earlier replaceTrack resolves,
    // and a quick off-on must still end on.
    for (const transceiver of this.pc.getTransceivers()) {
      if (transceiver.direction === 'sendrecv' || transceiver.direction === 'sendonly') this.replaceOutgoing(transceiver);
    }
  }

  private replaceOutgoing(transceiver: WrtcTransceiver): void {
    transceiver.sender.replaceTrack(this.outgoingTrack).catch((error: Error) => this.options.logger.warn('could not change what we send', { peer: this.remote.name, error: error.message }));
  }

  /**
   * Offers again with nothing changed, so that both sides apply their descriptions anew (a new
   * packet time). Before the first exchange there is nothing to redo: it will use the new one.
   * Under `--ptime auto` both sides change at the same moment, and one exchange serves both: the
   * impolite side offers at once, the polite side only if no offer came meanwhile (no glare).
   */
  renegotiate(): void {
    if (this.closed || !this.negotiated) return;
    if (!this.options.polite) return this.enqueue(() => this.makeOffer());
    const offersSoFar = this.remoteOffers;
    setTimeout(() => {
      if (!this.closed && this.remoteOffers === offersSoFar) this.enqueue(() => this.makeOffer());
    }, POLITE_RENEGOTIATION_WAIT_MS).unref();
  }

  /** RTP packets this connection has sent and received (DTX shows as few sent in silence), and its receive buffer's delay. */
  async connectionFigures(): Promise<PacketFigures> {
    const figures = new PacketTally();
    if (this.closed) return figures.result();
    try {
      const report = await this.pc.getStats();
      report.forEach((entry) => figures.add(entry));
    } catch {
      // Closed while asking: no figures, not an error.
    }
    return figures.result();
  }

  /** As of the last change seen (an event, or a read: see pollStates): wrtc answers the getter through its busy signalling thread (see SfuTopology). */
  get connectionState(): RTCPeerConnectionState {
    return this.state;
  }

  /** Applies a remote description or candidate, already checked by the owner (sdp-guard.ts). */
  handleSignal(data: SignalData): void {
    this.enqueue(async () => {
      if ('description' in data) await this.applyDescription(data.description);
      else await this.applyCandidate(data.candidate);
    });
  }

  /** Fresh ICE servers for the ICE restarts to come (renewed TURN credentials). */
  renewIceServers(iceServers: IceServer[]): void {
    if (this.closed) return;
    if (!renewIceServers(this.pc, iceServers)) this.options.logger.warn('could not hand the connection fresh ICE servers; its next ICE restart may not reach the relay', { peer: this.remote.name });
  }

  /** Closes the connection and its native handles, in order: sink, connection. Idempotent. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.clearRecoveryTimer();
    this.pollStates();
    this.sink?.stop();
    this.sink = null;
    this.pc.onicecandidate = null;
    this.pc.ontrack = null;
    this.pc.onnegotiationneeded = null;
    this.pc.onconnectionstatechange = null;
    this.pc.oniceconnectionstatechange = null;
    this.pc.close();
    this.state = 'closed';
    this.emit('closed', reason);
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (this.closed) return;
      try {
        await step();
      } catch (error) {
        this.fail(error as Error);
      }
    });
  }

  private async makeOffer(): Promise<void> {
    if (this.pc.signalingState !== 'stable') {
      this.offerAgain = true;
      return;
    }
    this.offerAgain = false;
    const offer = await this.pc.createOffer();
    if (this.closed || this.pc.signalingState !== 'stable') {
      this.offerAgain = true;
      return;
    }
    await this.pc.setLocalDescription(offer);
    this.sendDescription(offer);
  }

  private async applyDescription(description: SessionDescription): Promise<void> {
    if (description.type === 'rollback' || description.type === 'pranswer') {
      this.options.logger.debug('ignoring remote description type', { peer: this.remote.name, type: description.type });
      return;
    }
    const collision = description.type === 'offer' && this.pc.signalingState !== 'stable';
    this.ignoreOffer = !this.options.polite && collision;
    if (this.ignoreOffer) {
      this.options.logger.debug('glare: ignoring the remote offer (impolite side)', { peer: this.remote.name });
      return;
    }
    // wrtc has no implicit rollback: the polite side rolls back its own offer explicitly.
    if (collision) await this.pc.setLocalDescription({ type: 'rollback' });
    if (description.type === 'answer' && this.pc.signalingState !== 'have-local-offer') {
      this.options.logger.debug('ignoring an answer that matches no offer', { peer: this.remote.name });
      return;
    }
    await this.pc.setRemoteDescription(description);
    this.remoteFingerprint = dtlsFingerprint(description.sdp);
    if (description.type === 'offer') {
      this.remoteOffers++;
      this.attachTrackToOfferedTransceiver();
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this.sendDescription(answer);
    }
    this.negotiated = true;
    if (this.offerAgain && this.pc.signalingState === 'stable') this.enqueue(() => this.makeOffer());
  }

  /**
   * The answerer sends on the transceiver the offer is about (the one with a mid), rather than
   * adding a second one. A receive-only transceiver of our own offer, rolled back in glare, is
   * not taken over by the remote offer: it is stopped, or the next offer would carry two audio
   * sections, which the remote side refuses (sdp-guard.ts) and the pair would stay one-way.
   */
  private attachTrackToOfferedTransceiver(): void {
    const audio = this.pc.getTransceivers().filter((t) => t.receiver.track.kind === 'audio' && t.direction !== 'stopped' && t.currentDirection !== 'stopped');
    const transceiver = audio.find((t) => t.mid !== null);
    if (!transceiver) throw new SdpRejected('the offer has no audio transceiver to answer');
    for (const orphan of audio) if (orphan.mid === null) orphan.stop();
    if (!this.options.track) {
      transceiver.direction = 'recvonly';
    } else if (transceiver.direction !== 'sendrecv' || transceiver.sender.track !== this.outgoingTrack) {
      if (transceiver.sender.track !== this.outgoingTrack) this.replaceOutgoing(transceiver);
      transceiver.direction = 'sendrecv';
    }
  }

  private async applyCandidate(candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): Promise<void> {
    try {
      await this.pc.addIceCandidate({ candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null });
    } catch (error) {
      // Candidates for an offer we ignored in glare are expected to fail.
      if (!this.ignoreOffer) this.options.logger.debug('ICE candidate not applied', { peer: this.remote.name, error: (error as Error).message });
    }
  }

  /**
   * Sends the description we created, never pc.localDescription: wrtc serializes that getter on
   * the JS thread while its signalling thread adds gathered candidates to it, and the race
   * segfaults (seen here about once in 80 connections). Candidates trickle separately anyway.
   */
  private sendDescription(description: RTCSessionDescriptionInit): void {
    if (this.closed || !description.sdp) return;
    this.options.sendSignal({ description: { type: description.type, sdp: description.sdp } });
  }

  /** Acts on the connection's and ICE's states when they changed, whoever noticed (`seenBy`). */
  private followStates(seenBy: 'event' | 'poll'): void {
    if (this.closed) return;
    const state = this.pc.connectionState;
    const iceState = this.pc.iceConnectionState;
    if (state === this.state && iceState === this.iceState) return;
    if (seenBy === 'poll') this.options.logger.debug('a state change without its event', { peer: this.remote.name, state, iceState, was: this.state, iceWas: this.iceState });
    if (iceState !== this.iceState) {
      this.options.logger.debug('ICE state', { peer: this.remote.name, state: iceState });
      this.iceState = iceState;
      this.watchIce(iceState);
    }
    if (state !== this.state) {
      this.state = state;
      this.emit('state', state);
    }
    this.pollStates();
  }

  /**
   * wrtc can miss a state event: in network.test.ts, after two ICE restarts crossed, one side
   * read "disconnected" from its last event and then heard of no change for 40 s, though its
   * ICE was connected again (its restart timer found it so) and the other side stayed
   * connected. So the states are also read: once a second while the connection is not up, and
   * every 10–15 s while it is (a lost event of its failure would leave it shown up and never
   * restarted). Each read waits for wrtc's busy signalling thread (see connectionState): a load
   * process reading 50 links at once every second stalled its audio ticks, so a settled link's
   * reads come at its own random phase.
   */
  private pollStates(): void {
    if (this.closed) {
      if (this.statePoll) clearTimeout(this.statePoll);
      this.statePoll = null;
      return;
    }
    const settled = this.state === 'connected' && (this.iceState === 'connected' || this.iceState === 'completed');
    if (this.statePoll && settled === this.statePollSettled) return;
    if (this.statePoll) clearTimeout(this.statePoll);
    this.statePollSettled = settled;
    const delayMs = settled ? SETTLED_STATE_POLL_MS + Math.random() * SETTLED_STATE_POLL_MS / 2 : STATE_POLL_MS;
    this.statePoll = setTimeout(() => {
      this.statePoll = null;
      this.followStates('poll');
      this.pollStates();
    }, delayMs);
    this.statePoll.unref();
  }

  /** ICE recovery: restart after a failure or a long disconnection; give up after a few tries. */
  private watchIce(state: RTCIceConnectionState): void {
    if (state === 'connected' || state === 'completed') {
      this.iceRestarts = 0;
      this.clearRecoveryTimer();
    } else if (state === 'disconnected') {
      this.scheduleRecovery(DISCONNECTED_GRACE_MS);
    } else if (state === 'failed') {
      this.scheduleRecovery(0);
    }
  }

  private scheduleRecovery(delayMs: number): void {
    if (this.recoveryTimer) return;
    this.recoveryTimer = setTimeout(() => {
      this.recoveryTimer = null;
      if (this.closed) return;
      const state = this.pc.iceConnectionState;
      // Back without an event telling us so (see pollStates): caught up on here.
      if (state === 'connected' || state === 'completed') return this.followStates('poll');
      if (this.iceRestarts >= MAX_ICE_RESTARTS) {
        this.options.logger.info('ICE restarts did not help; replacing the connection', { peer: this.remote.name });
        this.emit('unrecoverable');
        return;
      }
      this.iceRestarts++;
      this.options.logger.info('restarting ICE', { peer: this.remote.name, attempt: this.iceRestarts });
      this.negotiated = true;
      this.pc.restartIce();
      // Check again later: a restart that does not connect counts towards giving up.
      this.scheduleRecovery(RESTART_TIMEOUT_MS);
    }, delayMs);
  }

  private clearRecoveryTimer(): void {
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    this.recoveryTimer = null;
  }

  private fail(error: Error): void {
    const reason = error instanceof SdpRejected ? `rejected remote input: ${error.message}` : `negotiation failed: ${error.message}`;
    this.options.logger.warn('closing the connection', { peer: this.remote.name, reason });
    this.close(reason);
  }
}
