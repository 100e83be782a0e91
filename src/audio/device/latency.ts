// --latency presets → buffer sizes. PortAudio's defaults buffer about 170 ms; these keep the
// device path short while leaving slack for slower machines. Pure.
import { InvalidArgumentError } from 'commander';
import { samplesToMs } from '../format.js';

export interface LatencySettings {
  name: string;
  /**
   * PortAudio callback size at 48 kHz, also the size of each chunk written to the output: the
   * output holds one chunk playing, one queued in naudiodon and one waiting to enter the queue.
   */
  framesPerBuffer: number;
  /** Milliseconds of mixed audio kept ready beyond the next chunk: slack for a late mix. */
  outputReserveMs: number;
}

export const LATENCY_PRESETS: Record<'low' | 'normal' | 'high', LatencySettings> = {
  low: { name: 'low', framesPerBuffer: 160, outputReserveMs: 0 },
  normal: { name: 'normal', framesPerBuffer: 160, outputReserveMs: 5 },
  high: { name: 'high', framesPerBuffer: 960, outputReserveMs: 40 },
};

/** Milliseconds of output buffering these settings add (chunks in flight plus the reserve). */
export function outputBufferMs(settings: LatencySettings): number {
  return 3 * samplesToMs(settings.framesPerBuffer) + settings.outputReserveMs;
}

/** "low" | "normal" | "high" | a number of milliseconds of output buffering (15–500). */
export function parseLatency(value: string): LatencySettings {
  if (value in LATENCY_PRESETS) return LATENCY_PRESETS[value as keyof typeof LATENCY_PRESETS];
  const ms = Number(value.replace(/ms$/, ''));
  if (!Number.isFinite(ms) || ms < 15 || ms > 500) throw new InvalidArgumentError(`"${value}" is not a latency; use low, normal, high, or a number of milliseconds from 15 to 500`);
  // Callbacks of 3⅓, 10 or 20 ms (three in flight), the rest as reserve.
  const framesPerBuffer = ms < 45 ? 160 : ms < 90 ? 480 : 960;
  return { name: `${ms}ms`, framesPerBuffer, outputReserveMs: Math.max(0, ms - 3 * samplesToMs(framesPerBuffer)) };
}
