// The one place that loads @roamhq/wrtc (a CommonJS native module) and names its types.
//
// wrtc's own typings re-export the browser's DOM declarations (RTCPeerConnection, MediaStreamTrack,
// EventTarget…). The Node code is compiled without the DOM library — it must not pretend that
// `window` or `document` exist, and a library's .d.ts must not need DOM in its users' projects —
// so through those typings every wrtc object would silently be `any`. Instead this file declares
// the part of the WebRTC API that voxroom uses, with the standard names and shapes, and casts the
// module to it once. The string unions are the WebRTC spec's, so values stay compatible with DOM
// code in a program that does include it.
import wrtc from '@roamhq/wrtc';

export type RTCPeerConnectionState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';
export type RTCIceConnectionState = 'new' | 'checking' | 'connected' | 'completed' | 'disconnected' | 'failed' | 'closed';
export type RTCSignalingState = 'stable' | 'have-local-offer' | 'have-remote-offer' | 'have-local-pranswer' | 'have-remote-pranswer' | 'closed';
export type RTCSdpType = 'offer' | 'answer' | 'pranswer' | 'rollback';
export type RTCRtpTransceiverDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive' | 'stopped';

export interface RTCSessionDescriptionInit {
  type: RTCSdpType;
  sdp?: string;
}

export interface RTCIceCandidateInit {
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface RTCConfiguration {
  iceServers?: { urls: string | string[]; username?: string; credential?: string }[];
  bundlePolicy?: 'balanced' | 'max-bundle' | 'max-compat';
  rtcpMuxPolicy?: 'require';
}

export interface WrtcTrack {
  readonly id: string;
  readonly kind: string;
  enabled: boolean;
  stop(): void;
}

export interface WrtcIceCandidate {
  readonly candidate: string;
  readonly sdpMid: string | null;
  readonly sdpMLineIndex: number | null;
}

export interface WrtcTransceiver {
  readonly mid: string | null;
  readonly sender: { readonly track: WrtcTrack | null; replaceTrack(track: WrtcTrack | null): Promise<void> };
  readonly receiver: { readonly track: WrtcTrack };
  direction: RTCRtpTransceiverDirection;
  readonly currentDirection: RTCRtpTransceiverDirection | null;
  stop(): void;
}

/** One entry of getStats(); the fields beyond `type` depend on it (RTCStats dictionaries). */
export interface WrtcStats {
  readonly type: string;
  readonly packetsSent?: number;
  readonly packetsReceived?: number;
  readonly [field: string]: unknown;
}

export interface WrtcPeerConnection {
  readonly connectionState: RTCPeerConnectionState;
  readonly iceConnectionState: RTCIceConnectionState;
  readonly signalingState: RTCSignalingState;
  onicecandidate: ((event: { readonly candidate: WrtcIceCandidate | null }) => void) | null;
  ontrack: ((event: { readonly track: WrtcTrack; readonly transceiver: WrtcTransceiver }) => void) | null;
  onnegotiationneeded: (() => void) | null;
  onconnectionstatechange: (() => void) | null;
  oniceconnectionstatechange: (() => void) | null;
  addTransceiver(trackOrKind: WrtcTrack | 'audio', init?: { direction?: RTCRtpTransceiverDirection }): WrtcTransceiver;
  addTrack(track: WrtcTrack): unknown;
  getTransceivers(): WrtcTransceiver[];
  createOffer(): Promise<RTCSessionDescriptionInit>;
  createAnswer(): Promise<RTCSessionDescriptionInit>;
  setLocalDescription(description: RTCSessionDescriptionInit): Promise<void>;
  setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void>;
  addIceCandidate(candidate: RTCIceCandidateInit): Promise<void>;
  restartIce(): void;
  setConfiguration(configuration: RTCConfiguration): void;
  getStats(): Promise<{ forEach(visit: (entry: WrtcStats) => void): void }>;
  close(): void;
}

/** What RTCAudioSink delivers per callback (10 ms of Int16 PCM). */
export interface SinkData {
  samples: Int16Array;
  sampleRate: number;
  channelCount?: number;
  bitsPerSample?: number;
  numberOfFrames?: number;
}

/** wrtc's non-standard audio source: PCM in, a track out. */
export interface WrtcAudioSource {
  createTrack(): WrtcTrack;
  onData(data: SinkData): void;
}

/** wrtc's non-standard audio sink: a remote track's decoded PCM, 10 ms per callback. */
export interface WrtcAudioSink {
  readonly stopped: boolean;
  /** What wrtc's native side calls with each event (its EventTarget's, unless replaced; see openAudioSink). */
  dispatchEvent(event: { readonly type: string }): void;
  stop(): void;
}

interface WrtcModule {
  RTCPeerConnection: new (configuration?: RTCConfiguration) => WrtcPeerConnection;
  nonstandard: {
    RTCAudioSource: new () => WrtcAudioSource;
    RTCAudioSink: new (track: WrtcTrack) => WrtcAudioSink;
  };
}

// Through wrtc's typings (DOM names that do not resolve here) the module is untyped; this is the
// one cast that gives it the shape above.
const binding = wrtc as unknown as WrtcModule;
export const { RTCPeerConnection, nonstandard } = binding;

/**
 * A sink on a remote track that hands each decoded 10 ms frame straight to `onFrame`. wrtc's
 * native side calls the sink's `dispatchEvent` per frame, and wrtc's EventTarget defers each
 * call through process.nextTick and copies its listener set into a new Set first: in a load
 * process with 36 listeners of 4 streams that is 14 400 closures, Sets and ticks a second on
 * the thread that mixes. Replacing `dispatchEvent` on the instance calls the handler at once.
 */
export function openAudioSink(track: WrtcTrack, onFrame: (data: SinkData) => void): WrtcAudioSink {
  const sink = new binding.nonstandard.RTCAudioSink(track);
  sink.dispatchEvent = (event) => {
    // wrtc 0.10 sends only 'data' events to a sink (samples, sampleRate, bitsPerSample,
    // channelCount, numberOfFrames): the one event type, with SinkData's fields, hence the cast.
    if (event.type !== 'data') return;
    try {
      onFrame(event as SinkData & { readonly type: string });
    } catch (error) {
      // Thrown into wrtc's native callback, an exception would end the process at once (a C++
      // throw nobody catches); from a tick it reaches the process's uncaughtException handler,
      // as it did through wrtc's EventTarget, which leaves cleanly and finalises recordings.
      process.nextTick(() => {
        throw error;
      });
    }
  };
  return sink;
}

/** Every connection voxroom makes: one transport for everything (Janus and browsers agree). */
export function connectionConfiguration(iceServers: RTCConfiguration['iceServers']): RTCConfiguration {
  return { iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' };
}

/**
 * Hands a live connection fresh ICE servers (renewed TURN credentials): an ICE restart gathers
 * with them; the relay a connection already holds stays as it is. False if wrtc refused them.
 */
export function renewIceServers(pc: WrtcPeerConnection, iceServers: RTCConfiguration['iceServers']): boolean {
  try {
    pc.setConfiguration(connectionConfiguration(iceServers));
    return true;
  } catch {
    return false;
  }
}
