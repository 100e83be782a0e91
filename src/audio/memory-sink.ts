// A sink that keeps the mix in memory, for tests and library users that analyse what a peer
// heard. It keeps at most `maxSeconds` (the newest), so a peer left running for hours holds a
// bounded amount of memory instead of 5.8 MB a minute.
import type { AudioSink } from './backend.js';
import { FRAMES_PER_SECOND, type ChannelCount, type MixFrame } from './format.js';

export interface MemorySinkOptions {
  /** How much audio to keep, newest first; older frames are dropped. Default 60 s. */
  maxSeconds?: number;
}

export class MemorySink implements AudioSink {
  readonly label = 'memory';
  /** The most frames kept. */
  readonly capacity: number;
  // A ring: dropping the oldest frame is O(1) however long the sink keeps (Array.shift is not).
  private readonly ring: MixFrame[] = [];
  private oldest = 0;
  private dropped = 0;
  private channelCount: ChannelCount = 1;

  constructor(options: MemorySinkOptions = {}) {
    const maxSeconds = options.maxSeconds ?? 60;
    if (!(Number.isFinite(maxSeconds) && maxSeconds > 0)) throw new Error(`MemorySink maxSeconds must be a positive number of seconds, not ${maxSeconds}`);
    this.capacity = Math.max(1, Math.round(maxSeconds * FRAMES_PER_SECOND));
  }

  /** Keeps a stereo mix (spatial rooms): samples() is then interleaved, channel() takes one side. */
  setChannelCount(channels: ChannelCount): void {
    this.channelCount = channels;
  }

  get channels(): ChannelCount {
    return this.channelCount;
  }

  write(frame: MixFrame): void {
    // A copy: the writer may reuse its buffer.
    const copy = frame.slice();
    if (this.ring.length < this.capacity) {
      this.ring.push(copy);
      return;
    }
    this.ring[this.oldest] = copy;
    this.oldest = (this.oldest + 1) % this.capacity;
    this.dropped++;
  }

  /** The frames kept, oldest first (a new list each time; the frames themselves are not copied). */
  get frames(): MixFrame[] {
    return [...this.ring.slice(this.oldest), ...this.ring.slice(0, this.oldest)];
  }

  /** Frames written and since dropped: `droppedFrames + frames.length` counts every write. */
  get droppedFrames(): number {
    return this.dropped;
  }

  /** The audio kept as one array, oldest first; only the last `seconds` of it when given. */
  samples(seconds?: number): Int16Array {
    const frames = this.frames;
    const count = seconds === undefined ? frames.length : Math.min(frames.length, Math.max(0, Math.round(seconds * FRAMES_PER_SECOND)));
    const chosen = frames.slice(frames.length - count);
    let length = 0;
    for (const frame of chosen) length += frame.length;
    const all = new Int16Array(length);
    let offset = 0;
    for (const frame of chosen) {
      all.set(frame, offset);
      offset += frame.length;
    }
    return all;
  }

  /** One channel of what was kept (0 = left, 1 = right; of a mono mix, 0 is all of it). */
  channel(index: 0 | 1, seconds?: number): Int16Array {
    const all = this.samples(seconds);
    if (this.channelCount === 1) {
      if (index !== 0) throw new RangeError('this sink kept a mono mix: it has channel 0 only');
      return all;
    }
    const side = new Int16Array(all.length / 2);
    for (let i = 0; i < side.length; i++) side[i] = all[2 * i + index]!;
    return side;
  }

  /** Forgets what was kept (and the dropped count). */
  clear(): void {
    this.ring.length = 0;
    this.oldest = 0;
    this.dropped = 0;
  }

  async close(): Promise<void> {}
}
