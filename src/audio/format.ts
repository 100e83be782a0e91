// The engine's one internal format: what RTCAudioSource wants, exactly.
export const SAMPLE_RATE = 48_000;
export const FRAME_MS = 10;
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000; // 480
export const FRAMES_PER_SECOND = 1000 / FRAME_MS;

/** One 10 ms frame of 48 kHz mono signed 16-bit PCM. */
export type Frame = Int16Array;

/** Channels of a mix: mono everywhere, except the stereo mix of a spatial room. */
export type ChannelCount = 1 | 2;

/**
 * One 10 ms frame of the mix as a sink receives it: FRAME_SAMPLES × channels samples, stereo
 * interleaved (L R L R …). A sink is sent stereo only after it agreed (AudioSink.setChannelCount).
 */
export type MixFrame = Int16Array;

/** Milliseconds that this many samples last at the engine's rate. */
export function samplesToMs(samples: number): number {
  return samples / (SAMPLE_RATE / 1000);
}

export function msToSamples(ms: number): number {
  return Math.round(ms * (SAMPLE_RATE / 1000));
}

export function silentFrame(): Frame {
  return new Int16Array(FRAME_SAMPLES);
}

export function clampToInt16(sample: number): number {
  return sample > 32767 ? 32767 : sample < -32768 ? -32768 : Math.round(sample);
}

/** Linear gain for a level in dB. */
export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}

export function gainToDb(gain: number): number {
  return 20 * Math.log10(gain);
}

/**
 * A frame of `from` channels as `to` channels (interleaved): mono is copied to both sides,
 * stereo is averaged to mono. The same array when nothing changes.
 */
export function convertChannels(frame: Int16Array, from: ChannelCount, to: ChannelCount): Int16Array {
  if (from === to) return frame;
  if (from === 1) {
    const stereo = new Int16Array(frame.length * 2);
    for (let i = 0; i < frame.length; i++) stereo[2 * i] = stereo[2 * i + 1] = frame[i]!;
    return stereo;
  }
  const mono = new Int16Array(frame.length / 2);
  for (let i = 0; i < mono.length; i++) mono[i] = Math.round((frame[2 * i]! + frame[2 * i + 1]!) / 2);
  return mono;
}
