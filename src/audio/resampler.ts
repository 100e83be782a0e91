// Sample-rate conversion with libsamplerate (WASM build, @alexanderolsen/libsamplerate-js): a
// proper band-limited sinc converter with streaming state, rather than linear interpolation,
// which aliases audibly when going up from 16 kHz.
import libsamplerate from '@alexanderolsen/libsamplerate-js';

// A CommonJS package: Node's ESM loader cannot see its named exports.
const { ConverterType, create } = libsamplerate;

export interface StreamResampler {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Converts the next chunk of a continuous mono signal (floats in −1…1). */
  process(input: Float32Array): Float32Array;
  destroy(): void;
}

export async function createResampler(inputRate: number, outputRate: number, quality: 'fast' | 'medium' = 'fast'): Promise<StreamResampler> {
  const converterType = quality === 'fast' ? ConverterType.SRC_SINC_FASTEST : ConverterType.SRC_SINC_MEDIUM_QUALITY;
  const src = await create(1, inputRate, outputRate, { converterType });
  return {
    inputRate,
    outputRate,
    // `full` keeps the converter's state between calls (src_process), so chunks join seamlessly.
    process: (input) => src.full(input),
    destroy: () => src.destroy(),
  };
}

/** Converts a whole signal at once (for files). */
export async function resampleAll(input: Float32Array, inputRate: number, outputRate: number): Promise<Float32Array> {
  if (inputRate === outputRate) return input;
  const src = await create(1, inputRate, outputRate, { converterType: ConverterType.SRC_SINC_MEDIUM_QUALITY });
  try {
    return src.simple(input);
  } finally {
    src.destroy();
  }
}
