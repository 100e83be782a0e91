// --latency presets → buffer sizes. PortAudio's defaults buffer about 170 ms; these keep the
// device path short while leaving slack for slower machines. Pure.
import { InvalidArgumentError } from 'commander';

export interface LatencySettings {
  name: string;
  /** PortAudio callback size at 48 kHz. */
  framesPerBuffer: number;
  /** 10 ms frames queued ahead of the output device. */
  outputQueueFrames: number;
  /** 10 ms frames the capture buffer aims to hold before the mix takes them. */
  inputTargetFrames: number;
}

export const LATENCY_PRESETS: Record<'low' | 'normal' | 'high', LatencySettings> = {
  low: { name: 'low', framesPerBuffer: 240, outputQueueFrames: 1, inputTargetFrames: 1 },
  normal: { name: 'normal', framesPerBuffer: 480, outputQueueFrames: 2, inputTargetFrames: 1 },
  high: { name: 'high', framesPerBuffer: 960, outputQueueFrames: 6, inputTargetFrames: 3 },
};

/** "low" | "normal" | "high" | a number of milliseconds of extra buffering (5–500). */
export function parseLatency(value: string): LatencySettings {
  if (value in LATENCY_PRESETS) return LATENCY_PRESETS[value as keyof typeof LATENCY_PRESETS];
  const ms = Number(value.replace(/ms$/, ''));
  if (!Number.isFinite(ms) || ms < 5 || ms > 500) throw new InvalidArgumentError(`"${value}" is not a latency; use low, normal, high, or a number of milliseconds from 5 to 500`);
  // Split the budget: callbacks of up to 20 ms, the rest as queued frames on each side.
  const framesPerBuffer = ms <= 10 ? 240 : ms <= 40 ? 480 : 960;
  const queue = Math.max(1, Math.round(ms / 10 / 2));
  return { name: `${ms}ms`, framesPerBuffer, outputQueueFrames: queue, inputTargetFrames: queue };
}
