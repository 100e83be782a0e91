// Turns audio of any rate and channel count, in chunks of any size, into the engine's 48 kHz mono
// 10 ms frames. Follows rate changes mid-stream (a wrtc sink reports 16 kHz before 48 kHz): a new
// converter is made for the new rate while input waits, so nothing is lost or played at the
// wrong speed.
import { FRAME_SAMPLES, SAMPLE_RATE, clampToInt16, type Frame } from './format.js';
import { createResampler, type StreamResampler } from './resampler.js';

export interface PcmChunk {
  /**
   * Handed over with the chunk: the receiver may keep them (a whole 48 kHz mono frame goes on as
   * is), so whoever pushes must not write to them afterwards. wrtc's sinks allocate each frame
   * anew (0.10; test/integration/wrtc-sink.test.ts checks it); the device worker copies its
   * stream's buffer.
   */
  samples: Int16Array;
  sampleRate: number;
  channelCount?: number;
}

/** Input held while a converter is being made; beyond this it is dropped (about 200 ms). */
const MAX_PENDING_SAMPLES = SAMPLE_RATE / 5;

export class FrameAssembler {
  private resampler: StreamResampler | null = null;
  private currentRate = SAMPLE_RATE;
  private pending: Float32Array[] = [];
  private pendingSamples = 0;
  private preparing: number | null = null;
  private carry = new Float32Array(FRAME_SAMPLES);
  private carryLength = 0;
  private closed = false;
  /** How often the input rate changed; shown in status. */
  rateChanges = 0;
  droppedSamples = 0;

  constructor(private readonly onFrame: (frame: Frame) => void) {}

  push(chunk: PcmChunk): void {
    if (this.closed) return;
    // The common case, wrtc's decoded 10 ms at 48 kHz mono, is a frame already: passed on as it
    // is (the samples are ours, see PcmChunk). A float round trip here was ~10 % of a
    // many-listener process, and a copy of each frame a fifth of what its event loop allocated.
    if (chunk.sampleRate === SAMPLE_RATE && (chunk.channelCount ?? 1) === 1 && chunk.samples.length === FRAME_SAMPLES && this.carryLength === 0 && this.preparing === null && this.resampler === null) {
      this.onFrame(chunk.samples);
      return;
    }
    const mono = downmix(chunk.samples, chunk.channelCount ?? 1);
    if (chunk.sampleRate !== this.currentRate && chunk.sampleRate !== this.preparing) this.switchRate(chunk.sampleRate);
    if (this.preparing !== null) {
      if (this.pendingSamples + mono.length > MAX_PENDING_SAMPLES) {
        this.droppedSamples += mono.length;
        return;
      }
      this.pending.push(mono);
      this.pendingSamples += mono.length;
      return;
    }
    this.convert(mono);
  }

  close(): void {
    this.closed = true;
    this.resampler?.destroy();
    this.resampler = null;
  }

  private switchRate(rate: number): void {
    this.rateChanges++;
    this.preparing = rate;
    this.pending = [];
    this.pendingSamples = 0;
    if (rate === SAMPLE_RATE) return this.ready(rate, null);
    createResampler(rate, SAMPLE_RATE).then(
      (resampler) => {
        if (this.closed || this.preparing !== rate) return resampler.destroy();
        this.ready(rate, resampler);
      },
      () => {
        // A rate the converter refuses: drop this stream's audio rather than play it wrongly.
        if (this.preparing === rate) this.preparing = null;
      },
    );
  }

  private ready(rate: number, resampler: StreamResampler | null): void {
    this.resampler?.destroy();
    this.resampler = resampler;
    this.currentRate = rate;
    this.preparing = null;
    const pending = this.pending;
    this.pending = [];
    this.pendingSamples = 0;
    for (const chunk of pending) this.convert(chunk);
  }

  private convert(mono: Float32Array): void {
    const at48k = this.resampler ? this.resampler.process(mono) : mono;
    let offset = 0;
    while (offset < at48k.length) {
      const take = Math.min(FRAME_SAMPLES - this.carryLength, at48k.length - offset);
      this.carry.set(at48k.subarray(offset, offset + take), this.carryLength);
      this.carryLength += take;
      offset += take;
      if (this.carryLength === FRAME_SAMPLES) {
        const frame = new Int16Array(FRAME_SAMPLES);
        for (let i = 0; i < FRAME_SAMPLES; i++) frame[i] = clampToInt16(this.carry[i]! * 32768);
        this.carryLength = 0;
        this.onFrame(frame);
      }
    }
  }
}

/** Interleaved Int16 → mono floats in −1…1 (average of the channels). */
export function downmix(samples: Int16Array, channels: number): Float32Array {
  const frames = Math.floor(samples.length / channels);
  const mono = new Float32Array(frames);
  const scale = 1 / (32768 * channels);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i * channels + c]!;
    mono[i] = sum * scale;
  }
  return mono;
}
