// What a connection's getStats() says about one roommate's audio, summed over its RTP streams:
// packets each way (DTX shows as few sent in silence), and how long WebRTC's own receive buffer
// (NetEq, in front of voxroom's jitter buffer) held the audio. Pure.
import type { WrtcStats } from './wrtc.js';

export interface PacketFigures {
  sent: number;
  received: number;
  /**
   * NetEq's mean delay over the call so far, in ms: the time a received sample waited in it
   * (jitterBufferDelay / jitterBufferEmittedCount). Absent until it has played something.
   */
  receiveBufferMs?: number;
}

export class PacketTally {
  private sent = 0;
  private received = 0;
  private bufferedSeconds = 0;
  private emittedSamples = 0;

  add(entry: WrtcStats): void {
    if (entry.type === 'outbound-rtp') this.sent += entry.packetsSent ?? 0;
    if (entry.type !== 'inbound-rtp') return;
    this.received += entry.packetsReceived ?? 0;
    const delay = entry['jitterBufferDelay'];
    const emitted = entry['jitterBufferEmittedCount'];
    if (typeof delay === 'number' && typeof emitted === 'number') {
      this.bufferedSeconds += delay;
      this.emittedSamples += emitted;
    }
  }

  result(): PacketFigures {
    const figures: PacketFigures = { sent: this.sent, received: this.received };
    if (this.emittedSamples > 0) figures.receiveBufferMs = Math.round((this.bufferedSeconds / this.emittedSamples) * 10_000) / 10;
    return figures;
  }
}
