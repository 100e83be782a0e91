// Streaming WAV writer (48 kHz 16-bit; mono, or stereo for a spatial room's mix). The header's sizes are rewritten every second, so a
// process that is killed still leaves a valid file holding all but the last second; close()
// writes the final sizes. Synchronous writes of 960 bytes per frame are cheap (page cache) and
// keep every file in step with the one timeline.
//
// Long runs: past 4 GiB the file becomes RF64 (wav-header.ts), so a recording has no length
// limit. A write that fails (disk full, a file system gone read-only) stops the file where the
// last whole frame ended, with a header that says so: everything written so far stays valid,
// and the failure is reported once through onFailure.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { FRAME_SAMPLES, SAMPLE_RATE, type ChannelCount, type MixFrame } from './format.js';
import type { AudioSink, BackendFailureHandler } from './backend.js';
import { RECORDING_HEADER_BYTES, recordingHeader } from './wav-header.js';

export { wavHeader } from './wav-header.js';

const HEADER_REFRESH_FRAMES = 100;

export class WavFileSink implements AudioSink {
  readonly label: string;
  private fd: number | null;
  private dataBytes = 0;
  private framesSinceHeader = 0;
  private channels: ChannelCount = 1;
  private readonly failureHandlers: BackendFailureHandler[] = [];
  /** Why writing stopped early, once it has. */
  failure: Error | null = null;

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

  onFailure(handler: BackendFailureHandler): void {
    this.failureHandlers.push(handler);
  }

  write(frame: MixFrame): void {
    if (this.fd === null) return;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    try {
      const written = writeSync(this.fd, bytes, 0, bytes.length, RECORDING_HEADER_BYTES + this.dataBytes);
      // A short write is how a filling disk first shows: the frame did not fit.
      if (written < bytes.length) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    } catch (error) {
      this.stopWriting(error as NodeJS.ErrnoException);
      return;
    }
    this.dataBytes += bytes.length;
    if (++this.framesSinceHeader >= HEADER_REFRESH_FRAMES) this.writeHeader();
  }

  /**
   * Appends `count` frames of silence (a peer that was absent so far) by lengthening the file: the
   * new bytes read as zeros, a hole the file system does not store. A newcomer 12 hours into a
   * run costs one call, not 4 million writes on the audio thread and 4 GiB of disk.
   */
  writeSilence(count: number): void {
    if (this.fd === null || count <= 0) return;
    const bytes = count * FRAME_SAMPLES * 2 * this.channels;
    try {
      ftruncateSync(this.fd, RECORDING_HEADER_BYTES + this.dataBytes + bytes);
    } catch (error) {
      this.stopWriting(error as NodeJS.ErrnoException);
      return;
    }
    this.dataBytes += bytes;
    this.writeHeader();
  }

  get frames(): number {
    return this.dataBytes / (FRAME_SAMPLES * 2 * this.channels);
  }

  /** Bytes of audio in the file (the header not counted). */
  get bytesWritten(): number {
    return this.dataBytes;
  }

  async close(): Promise<void> {
    if (this.fd === null) return;
    try {
      this.writeHeader();
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /**
   * A failed write: the file ends at the last whole frame, its header says so, and the failure
   * is reported. The header rewrite needs no new space, so it works on a full disk.
   */
  private stopWriting(error: NodeJS.ErrnoException): void {
    const fd = this.fd!;
    this.fd = null;
    const seconds = (this.frames / 100).toFixed(1);
    const advice = error.code === 'ENOSPC' ? 'the disk is full; free space or record elsewhere' : error.code === 'EDQUOT' ? 'the disk quota is used up' : 'check the disk and the folder';
    this.failure = new Error(`recording ${this.path} stopped after ${seconds} s: ${error.code ?? error.message} (${advice}); what was written so far is a valid WAV file`);
    try {
      ftruncateSync(fd, RECORDING_HEADER_BYTES + this.dataBytes);
      writeSync(fd, recordingHeader(this.dataBytes, SAMPLE_RATE, this.channels), 0, RECORDING_HEADER_BYTES, 0);
    } catch {
      // The header of the last refresh stands: at most a second short, still valid.
    }
    closeSync(fd);
    for (const handler of this.failureHandlers) handler(this.failure);
  }

  private writeHeader(): void {
    if (this.fd === null) return;
    try {
      writeSync(this.fd, recordingHeader(this.dataBytes, SAMPLE_RATE, this.channels), 0, RECORDING_HEADER_BYTES, 0);
    } catch (error) {
      this.stopWriting(error as NodeJS.ErrnoException);
      return;
    }
    this.framesSinceHeader = 0;
  }
}
