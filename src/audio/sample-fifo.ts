// Samples queued in frames and taken in chunks of another size (10 ms frames in, device
// callbacks out). Pure.
export class SampleFifo {
  private readonly frames: Int16Array[] = [];
  private offset = 0;
  length = 0;

  push(frame: Int16Array): void {
    this.frames.push(frame);
    this.length += frame.length;
  }

  /** The next `count` samples, or null if fewer are on hand. */
  take(count: number): Int16Array | null {
    if (this.length < count) return null;
    const out = new Int16Array(count);
    let filled = 0;
    while (filled < count) {
      const head = this.frames[0]!;
      const n = Math.min(count - filled, head.length - this.offset);
      out.set(head.subarray(this.offset, this.offset + n), filled);
      filled += n;
      this.offset += n;
      if (this.offset === head.length) {
        this.frames.shift();
        this.offset = 0;
      }
    }
    this.length -= count;
    return out;
  }

  discard(count: number): void {
    this.take(Math.min(count, this.length));
  }
}
