// Sample-rate conversion with SpeexDSP's resampler (the one VoIP stacks use), compiled to WASM
// (@echogarden/speex-resampler-wasm). One WASM module is loaded once per process; each stream
// is a small speex state inside it, so a mesh with many peers costs kilobytes per stream.
// (libsamplerate's JS port, tried first, allocates a 26 MB heap per converter, and RSS grew
// with every peer that came and went.)
import loadSpeexModule from '@echogarden/speex-resampler-wasm/simd';

interface SpeexModule {
  HEAPF32: Float32Array;
  HEAPU32: Uint32Array;
  HEAP32: Int32Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _speex_resampler_init(channels: number, inRate: number, outRate: number, quality: number, errorPointer: number): number;
  _speex_resampler_process_float(state: number, channel: number, input: number, inLengthPointer: number, output: number, outLengthPointer: number): number;
  _speex_resampler_get_input_latency(state: number): number;
  _speex_resampler_skip_zeros(state: number): number;
  _speex_resampler_destroy(state: number): void;
}

export interface StreamResampler {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Converts the next chunk of a continuous mono signal (floats in −1…1). */
  process(input: Float32Array): Float32Array;
  destroy(): void;
}

/** Speex quality 0–10; 5 is its "desktop" default, transparent for speech at low CPU. */
export const STREAM_QUALITY = 5;
const FILE_QUALITY = 8;

let speexModule: Promise<SpeexModule> | null = null;

export function loadResamplerModule(): Promise<SpeexModule> {
  speexModule ??= (loadSpeexModule as unknown as () => Promise<SpeexModule>)();
  return speexModule;
}

class SpeexResampler implements StreamResampler {
  private state: number;
  // One allocation holds the two length cells and the input and output buffers.
  private block = 0;
  private capacity = 0;

  constructor(
    private readonly speex: SpeexModule,
    readonly inputRate: number,
    readonly outputRate: number,
    quality: number,
  ) {
    const errorCell = speex._malloc(4);
    this.state = speex._speex_resampler_init(1, inputRate, outputRate, quality, errorCell);
    const error = speex.HEAP32[errorCell >> 2]!;
    speex._free(errorCell);
    if (this.state === 0 || error !== 0) throw new Error(`the resampler cannot convert ${inputRate} Hz to ${outputRate} Hz (speex error ${error})`);
  }

  /** Drops the filter's initial delay from the output (for whole files, not live streams). */
  skipLeadingDelay(): number {
    this.speex._speex_resampler_skip_zeros(this.state);
    return this.speex._speex_resampler_get_input_latency(this.state);
  }

  process(input: Float32Array): Float32Array {
    if (this.state === 0) throw new Error('resampler used after destroy()');
    const maxOut = Math.ceil((input.length * this.outputRate) / this.inputRate) + 16;
    this.reserve(input.length + maxOut);
    const speex = this.speex;
    const inLength = this.block;
    const outLength = this.block + 4;
    const inPointer = this.block + 8;
    const outPointer = inPointer + input.length * 4;
    speex.HEAPF32.set(input, inPointer >> 2);
    speex.HEAPU32[inLength >> 2] = input.length;
    speex.HEAPU32[outLength >> 2] = maxOut;
    speex._speex_resampler_process_float(this.state, 0, inPointer, inLength, outPointer, outLength);
    const produced = speex.HEAPU32[outLength >> 2]!;
    return speex.HEAPF32.slice(outPointer >> 2, (outPointer >> 2) + produced);
  }

  destroy(): void {
    if (this.state === 0) return;
    this.speex._speex_resampler_destroy(this.state);
    this.state = 0;
    if (this.block) this.speex._free(this.block);
    this.block = 0;
  }

  private reserve(samples: number): void {
    if (samples <= this.capacity) return;
    if (this.block) this.speex._free(this.block);
    this.capacity = Math.max(samples, 4096);
    this.block = this.speex._malloc(8 + this.capacity * 4);
  }
}

export async function createResampler(inputRate: number, outputRate: number, quality = STREAM_QUALITY): Promise<StreamResampler> {
  return new SpeexResampler(await loadResamplerModule(), inputRate, outputRate, quality);
}

/** Converts a whole signal at once (for files): no leading delay, no lost tail. */
export async function resampleAll(input: Float32Array, inputRate: number, outputRate: number): Promise<Float32Array> {
  if (inputRate === outputRate) return input;
  const resampler = new SpeexResampler(await loadResamplerModule(), inputRate, outputRate, FILE_QUALITY);
  try {
    const delay = resampler.skipLeadingDelay();
    const chunks: Float32Array[] = [];
    const chunk = 16_384;
    for (let offset = 0; offset < input.length; offset += chunk) chunks.push(resampler.process(input.subarray(offset, offset + chunk)));
    // Push the filter's delay worth of silence through so the last input samples come out.
    chunks.push(resampler.process(new Float32Array(delay)));
    const expected = Math.round((input.length * outputRate) / inputRate);
    const out = new Float32Array(expected);
    let filled = 0;
    for (const part of chunks) {
      const take = Math.min(part.length, expected - filled);
      out.set(part.subarray(0, take), filled);
      filled += take;
    }
    return out;
  } finally {
    resampler.destroy();
  }
}
