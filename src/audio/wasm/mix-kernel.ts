// The mixes' kernel (mix.wat) and the memory it works in: two planar float32 sums, the mono
// mix's Int16 output, then each input's gains, then each input's frame. Grows when a frame has
// more inputs than any before it. One instance per process (MixKernel.shared): a mix sets its
// inputs, runs and reads its results in one synchronous call, so mixers never overlap in it; and
// each WebAssembly memory reserves gigabytes of address space, so one per mixer would limit how
// many peers a process can hold.
import { FRAME_SAMPLES, type Frame } from '../format.js';
import { wasmBase64 } from './mix.wasm.js';

interface KernelExports {
  memory: WebAssembly.Memory;
  mix(count: number, gains: number, frames: number, sumLeft: number, sumRight: number): void;
  mix_mono(count: number, gains: number, frames: number, sum: number, out: number): number;
}

const SUM_BYTES = 4 * FRAME_SAMPLES;
const OUT_BYTES = 2 * FRAME_SAMPLES;
const GAIN_BYTES = 16;
const FRAME_BYTES = 2 * FRAME_SAMPLES;
const PAGE_BYTES = 65_536;

// Compiled once per process; small enough to compile synchronously.
let compiled: WebAssembly.Module | null = null;
let shared: MixKernel | null = null;

export class MixKernel {
  /** The process's kernel, made at first use. */
  static shared(): MixKernel {
    shared ??= new MixKernel();
    return shared;
  }

  private readonly exports: KernelExports;
  private capacity = 0;
  private gains!: Float32Array;
  private frames!: Int16Array;
  /** Planar sums of the last mix; views into the kernel's memory (read them before the next mix). */
  sumLeft!: Float32Array;
  sumRight!: Float32Array;
  /** The last mono mix's output (its sum is sumLeft); a view, read before the next mix. */
  monoOut!: Int16Array;

  constructor() {
    compiled ??= new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'));
    this.exports = new WebAssembly.Instance(compiled).exports as unknown as KernelExports;
    this.reserve(16);
  }

  /** Sets input `index`'s frame and its gains: start of frame and step per sample, per side. */
  setInput(index: number, frame: Frame, left: number, stepLeft: number, right: number, stepRight: number): void {
    if (index >= this.capacity) this.reserve(2 * index + 2);
    const gains = this.gains;
    const at = 4 * index;
    gains[at] = left;
    gains[at + 1] = stepLeft;
    gains[at + 2] = right;
    gains[at + 3] = stepRight;
    this.frames.set(frame, index * FRAME_SAMPLES);
  }

  /** Mixes inputs 0 … count − 1 into sumLeft and sumRight. */
  mix(count: number): void {
    this.exports.mix(count, this.gains.byteOffset, this.frames.byteOffset, this.sumLeft.byteOffset, this.sumRight.byteOffset);
  }

  /**
   * Mixes inputs 0 … count − 1 at their left gains into sumLeft, and writes it rounded and
   * saturated into monoOut. Returns the sum's peak magnitude.
   */
  mixMono(count: number): number {
    return this.exports.mix_mono(count, this.gains.byteOffset, this.frames.byteOffset, this.sumLeft.byteOffset, this.monoOut.byteOffset);
  }

  private reserve(capacity: number): void {
    // Frames already set for this frame are kept: copied out before growing detaches the old
    // buffer, and back in where the larger layout puts them. (The gains stay where they are.)
    const previousFrames = this.capacity ? this.frames.slice() : null;
    const needed = 2 * SUM_BYTES + OUT_BYTES + capacity * (GAIN_BYTES + FRAME_BYTES);
    const memory = this.exports.memory;
    if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / PAGE_BYTES));
    const buffer = memory.buffer;
    this.sumLeft = new Float32Array(buffer, 0, FRAME_SAMPLES);
    this.sumRight = new Float32Array(buffer, SUM_BYTES, FRAME_SAMPLES);
    this.monoOut = new Int16Array(buffer, 2 * SUM_BYTES, FRAME_SAMPLES);
    this.gains = new Float32Array(buffer, 2 * SUM_BYTES + OUT_BYTES, 4 * capacity);
    this.frames = new Int16Array(buffer, 2 * SUM_BYTES + OUT_BYTES + capacity * GAIN_BYTES, capacity * FRAME_SAMPLES);
    if (previousFrames) this.frames.set(previousFrames);
    this.capacity = capacity;
  }
}
