// Streaming WAV writer (48 kHz 16-bit; mono, or stereo for a spatial room's mix). The header's sizes are rewritten every second, so a
// process that is killed still leaves a valid file holding all but the last second; close()
// writes the final sizes. Synchronous writes of 960 bytes per frame are cheap (page cache) and
// keep every file in step with the one timeline.
import { closeSync, openSync, writeSync } from 'node:fs';
import { FRAME_SAMPLES, SAMPLE_RATE, type ChannelCount, type MixFrame } from './format.js';
import type { AudioSink } from './backend.js';

const HEADER_BYTES = 44;
const HEADER_REFRESH_FRAMES = 100;

export class WavFileSink implements AudioSink {
  readonly label: string;
  private fd: number | null;
  private dataBytes = 0;
  private framesSinceHeader = 0;
  private channels: ChannelCount = 1;

  constructor(readonly path: string) {
    this.label = `file:${path}`;
    this.fd = openSync(path, 'w');
    this.writeHeader();
  }

  /** Stereo (interleaved frames) from now on; only before the first frame, as the header says one format. */
  setChannelCount(channels: ChannelCount): void {
    if (this.dataBytes > 0 && channels !== this.channels) throw new Error(`${this.path}: the channel count must be set before the first frame is written`);
    this.channels = channels;
    this.writeHeader();
  }

  write(frame: MixFrame): void {
    if (this.fd === null) return;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    writeSync(this.fd, bytes, 0, bytes.length, HEADER_BYTES + this.dataBytes);
    this.dataBytes += bytes.length;
    if (++this.framesSinceHeader >= HEADER_REFRESH_FRAMES) this.writeHeader();
  }

  /** Appends `count` frames of silence (a peer that was absent so far). */
  writeSilence(count: number): void {
    const silence = new Int16Array(FRAME_SAMPLES * this.channels);
    for (let i = 0; i < count; i++) this.write(silence);
  }

  get frames(): number {
    return this.dataBytes / (FRAME_SAMPLES * 2 * this.channels);
  }

  async close(): Promise<void> {
    if (this.fd === null) return;
    this.writeHeader();
    closeSync(this.fd);
    this.fd = null;
  }

  private writeHeader(): void {
    if (this.fd === null) return;
    writeSync(this.fd, wavHeader(this.dataBytes, SAMPLE_RATE, this.channels), 0, HEADER_BYTES, 0);
    this.framesSinceHeader = 0;
  }
}

export function wavHeader(dataBytes: number, sampleRate = SAMPLE_RATE, channels = 1): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  return header;
}
