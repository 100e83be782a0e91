// The seam between a voice peer and the way its audio travels. A topology takes the room's
// membership and signals, sends our captured 10 ms frames, and delivers decoded audio per
// remote member. The mesh (one RTCPeerConnection per roommate) is the first implementation;
// an SFU (one connection to a media server) is the second. The peer, the engine and the CLI
// know only this interface.
import type { EventEmitter } from 'node:events';
import type { Frame } from '../audio/format.js';
import type { PcmChunk } from '../audio/frame-assembler.js';
import type { Logger } from '../log.js';
import type { IceServer, PeerInfo, RelayedSignal, SfuOffer, SfuStream, SignalData } from '../protocol.js';
import type { RTCPeerConnectionState } from './wrtc.js';
import type { PacketFigures } from './connection-stats.js';

/**
 * A roommate's media state: a WebRTC connection state, `never-started` (no attempt yet), or, in
 * an SFU room, `not-forwarded` (our subscriber connection is up, but the media server does not
 * send us this member now: it is not among the loudest speakers, or may not be heard).
 */
export type MediaState = RTCPeerConnectionState | 'never-started' | 'not-forwarded';

export interface MediaTopologyEvents {
  'connection-state': [info: { peer: PeerInfo; state: RTCPeerConnectionState }];
  /** Something went wrong that the peer survives (a rejected connection, an undeliverable signal). */
  problem: [info: { message: string; peer?: string }];
  /** The safety net tried a pair again: it was not connected in time. */
  retry: [info: { peer: PeerInfo; attempt: number; by: 'newcomer' | 'impolite'; state: MediaState }];
}

export interface MediaTopologyOptions {
  /** Hands a signal to the server for a roommate. */
  sendSignal: (to: string, data: SignalData) => void;
  /** Decoded audio from one roommate, as it arrives. */
  onAudio: (peer: PeerInfo, chunk: PcmChunk) => void;
  logger: Logger;
}

export interface MediaTopology extends EventEmitter<MediaTopologyEvents> {
  readonly kind: 'mesh' | 'sfu';
  /** We (re)joined the room as `self`: everything from an earlier membership is dropped. */
  reset(self: PeerInfo, iceServers: IceServer[]): void;
  /**
   * Fresh ICE servers (the server renews time-limited TURN credentials while we stay): every
   * connection made or ICE-restarted from now on uses them.
   */
  renewIceServers(iceServers: IceServer[]): void;
  /** A roommate to exchange audio with. `weAreNewcomer` is true when it was here before us. */
  addMember(peer: PeerInfo, weAreNewcomer: boolean): void;
  removeMember(id: string): void;
  /**
   * Whether a roommate may hear us (its `listen` grant). A mesh sends nothing to one who may
   * not, from its first connection on; in SFU rooms the server enforces it.
   */
  setListening(id: string, listening: boolean): void;
  /**
   * The Opus packet duration we send (ptime-policy.ts). A mesh renegotiates each link (no new
   * connection); SFU rooms keep the one they started with (their rooms are large: 20 ms under auto).
   */
  setPtime(ptimeMs: number): void;
  /** A roommate's signal (mesh negotiation). */
  handleSignal(signal: RelayedSignal): void;
  /** The server's offer for our subscriber connection (SFU rooms). */
  handleServerOffer(offer: SfuOffer): void;
  /** Our subscriber sections carry other members now (SFU rooms). */
  handleServerStreams(streams: SfuStream[]): void;
  /** Our captured frame (10 ms, 48 kHz mono), sent to the room. */
  send(frame: Frame): void;
  stateOf(id: string): MediaState;
  /** RTP packets sent to and received from a roommate, and WebRTC's receive-buffer delay for it, where the topology can tell. */
  connectionFigures(id: string): Promise<PacketFigures | null>;
  /** How many times the safety net has retried a pair. */
  readonly retries: number;
  /** RTCPeerConnections open now (a mesh: one per connected roommate). */
  readonly connectionCount: number;
  close(): void;
}
