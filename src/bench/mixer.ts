// Mixer throughput: 10 ms frames of a 16-peer mix computed per second, as a multiple of real
// time (100 frames/s). Baseline in the same run: a plain sum of the same frames with no gain
// ramps or limiter, so the ratio shows what smoothing and limiting cost.
import { FRAME_SAMPLES } from '../audio/format.js';
import { Mixer, SmoothedGain } from '../audio/mixer.js';

export function measureMixer(peers = 16, seconds = 2): { peers: number; realtimeMultiple: number; baselineMultiple: number } {
  const frames = Array.from({ length: peers }, () => Int16Array.from({ length: FRAME_SAMPLES }, () => Math.round((Math.random() - 0.5) * 4000)));
  const gains = frames.map((_, i) => new SmoothedGain(0.5 + (i % 3) * 0.25));
  const inputs = frames.map((frame, i) => ({ frame, gain: gains[i]! }));
  const mixer = new Mixer();
  const timeIt = (work: () => void): number => {
    let count = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      for (let k = 0; k < 100; k++) work();
      count += 100;
    }
    return count / ((performance.now() - start) / 1000) / 100;
  };
  let flip = 0;
  const mixed = timeIt(() => {
    if (++flip % 50 === 0) gains[flip % peers]!.set(Math.random() * 2); // volume changes ramp too
    mixer.mix(inputs);
  });
  const sum = new Float32Array(FRAME_SAMPLES);
  const baseline = timeIt(() => {
    sum.fill(0);
    for (const frame of frames) for (let i = 0; i < FRAME_SAMPLES; i++) sum[i] += frame[i]!;
    Int16Array.from(sum);
  });
  return { peers, realtimeMultiple: Math.round(mixed), baselineMultiple: Math.round(baseline) };
}

