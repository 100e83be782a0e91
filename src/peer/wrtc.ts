// The one place that loads @roamhq/wrtc (a CommonJS native module) and names its types.
import wrtc from '@roamhq/wrtc';

export const { RTCPeerConnection, nonstandard } = wrtc;
export type WrtcPeerConnection = InstanceType<typeof wrtc.RTCPeerConnection>;
export type WrtcAudioSource = InstanceType<typeof wrtc.nonstandard.RTCAudioSource>;
export type WrtcAudioSink = InstanceType<typeof wrtc.nonstandard.RTCAudioSink>;
export type WrtcTrack = ReturnType<WrtcAudioSource['createTrack']>;

/** What RTCAudioSink delivers per callback (10 ms of Int16 PCM). */
export interface SinkData {
  samples: Int16Array;
  sampleRate: number;
  channelCount?: number;
  bitsPerSample?: number;
  numberOfFrames?: number;
}
