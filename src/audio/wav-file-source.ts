// Plays a WAV file as 10 ms frames: any common rate, channel count and bit depth (8/16/24/32-bit
// PCM, 32/64-bit float, A-law, µ-law), decoded by wavefile and converted once at open.
import { readFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import { SAMPLE_RATE, clampToInt16 } from './format.js';
import { resampleAll } from './resampler.js';
import { SampleSource } from './sample-source.js';

/** Plays a WAV file (decoded into memory at open, resampled to 48 kHz mono). */
export class WavFileSource extends SampleSource {
  static async open(path: string, options: { loop?: boolean } = {}): Promise<WavFileSource> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw new Error(`cannot read input file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const samples = await wavToSamples(bytes, path);
    return new WavFileSource(`file:${path}`, samples, options.loop ?? false);
  }
}

/** Any WAV, as 48 kHz mono Int16 samples. */
export async function wavToSamples(bytes: Uint8Array, origin: string): Promise<Int16Array> {
  const { mono, sampleRate } = decodeWav(bytes, origin);
  const at48k = await resampleAll(mono, sampleRate, SAMPLE_RATE);
  const samples = new Int16Array(at48k.length);
  for (let i = 0; i < at48k.length; i++) samples[i] = clampToInt16(at48k[i]! * 32768);
  if (samples.length === 0) throw new Error(`input file ${origin} holds no audio`);
  return samples;
}

/** Decodes any WAV wavefile understands to mono floats in −1…1. */
export function decodeWav(bytes: Uint8Array, origin: string): { mono: Float32Array; sampleRate: number } {
  const wav = new wavefile.WaveFile();
  try {
    wav.fromBuffer(bytes);
  } catch (error) {
    throw new Error(`input file ${origin} is not a WAV file wavefile can read (${(error as Error).message}); convert it, e.g. sox in.mp3 -r 48000 -c 1 out.wav`);
  }
  // Read before converting: the conversions rebuild the header objects.
  const { audioFormat, sampleRate } = wav.fmt as { audioFormat: number; sampleRate: number };
  if (!(sampleRate >= 1000 && sampleRate <= 768_000)) throw new Error(`input file ${origin} claims a sample rate of ${sampleRate} Hz`);
  if (audioFormat === 6) wav.fromALaw();
  else if (audioFormat === 7) wav.fromMuLaw();
  wav.toBitDepth('32f');
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const channels = Array.isArray(raw) ? raw : [raw];
  if (channels.length === 0 || channels[0]!.length === 0) throw new Error(`input file ${origin} holds no audio`);
  const frames = channels[0]!.length;
  const mono = new Float32Array(frames);
  for (const channel of channels) for (let i = 0; i < frames; i++) mono[i] += channel[i]! / channels.length;
  return { mono, sampleRate };
}
