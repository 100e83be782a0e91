// Mixer throughput: 10 ms frames of a 16-peer mix computed per second, as a multiple of real
// time (100 frames/s). Baseline in the same run: the same job written plainly — each input
// times its gain, summed, rounded and clamped to int16 into a new frame — without the mixer's
// gain ramps (a volume change jumps instead of gliding over a frame) or its limiter (a loud
// sum clips instead of being turned down). The ratio mix / baseline is what the ramps and the
// limiter cost: 1 is nothing, 0.5 is twice the time per frame.
import { FRAME_SAMPLES, clampToInt16, type Frame } from '../audio/format.js';
import { Mixer, SmoothedGain, StereoMixer } from '../audio/mixer.js';
import { hear, type HearingRules } from '../audio/spatial.js';

export interface MixerFigures {
  peers: number;
  /** Frames the mixer produced per second spent mixing, over 100 (frames per second of audio). */
  realtimeMultiple: number;
  /** The same for the plain gain, sum and clamp. */
  baselineMultiple: number;
}

/** The baseline: gain, sum, round and clamp, sample by sample, with nothing else. */
function plainMix(frames: readonly Frame[], gains: readonly SmoothedGain[], sum: Float32Array): Frame {
  sum.fill(0);
  for (let input = 0; input < frames.length; input++) {
    const frame = frames[input]!;
    const gain = gains[input]!.value;
    for (let i = 0; i < FRAME_SAMPLES; i++) sum[i] += frame[i]! * gain;
  }
  const out = new Int16Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) out[i] = clampToInt16(sum[i]!);
  return out;
}

/**
 * Frames per second of CPU time each of two jobs sustains, over 100 (a multiple of real time).
 * They take turns in short rounds for `seconds` in all, so a change in the load of a shared
 * machine slows both alike instead of whichever happened to be running.
 */
function realtimeMultiples(first: () => void, second: () => void, seconds: number): [number, number] {
  const framesPerRound = 200;
  const elapsedMs = [0, 0];
  let rounds = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    [first, second].forEach((work, index) => {
      const start = performance.now();
      for (let k = 0; k < framesPerRound; k++) work();
      elapsedMs[index]! += performance.now() - start;
    });
    rounds++;
  }
  const multiple = (ms: number): number => (rounds * framesPerRound) / (ms / 1000) / 100;
  return [multiple(elapsedMs[0]!), multiple(elapsedMs[1]!)];
}

export function measureMixer(peers = 16, seconds = 2): MixerFigures {
  const frames = Array.from({ length: peers }, () => Int16Array.from({ length: FRAME_SAMPLES }, () => Math.round((Math.random() - 0.5) * 4000)));
  const gains = frames.map((_, i) => new SmoothedGain(0.5 + (i % 3) * 0.25));
  const inputs = frames.map((frame, i) => ({ frame, gain: gains[i]! }));
  const mixer = new Mixer();
  const sum = new Float32Array(FRAME_SAMPLES);
  // Both see the same volume changes: every 50th frame one input's gain moves (the mixer ramps it).
  let frameCount = 0;
  const changeAVolume = (): void => {
    if (++frameCount % 50 === 0) gains[frameCount % peers]!.set(Math.random() * 2);
  };
  const mix = (): void => {
    changeAVolume();
    mixer.mix(inputs);
  };
  const baseline = (): void => {
    changeAVolume();
    plainMix(frames, gains, sum);
  };
  // Warm both up first so that neither is timed while the JIT is still compiling it.
  realtimeMultiples(mix, baseline, 0.2);
  const [mixed, plain] = realtimeMultiples(mix, baseline, seconds);
  return { peers, realtimeMultiple: Math.round(mixed), baselineMultiple: Math.round(plain) };
}

export interface SpatialMixerFigures {
  peers: number;
  /** The stereo mix of a spatial room, every peer's gains and pan changing every frame, × real time. */
  spatialMultiple: number;
  /** The mono mix of a room without a map (volumes fixed), × real time, in the same run. */
  monoMultiple: number;
}

/**
 * The spatial mix at its worst: `peers` speakers all walking round the listener, so every
 * frame each one's place is recomputed (spatial.ts's hear(): distance law, zones, pan) and both
 * its gains ramp to new values, into the stereo mix; next to the plain mono mix.
 */
export function measureSpatialMixer(peers = 16, seconds = 2): SpatialMixerFigures {
  const frames = Array.from({ length: peers }, () => Int16Array.from({ length: FRAME_SAMPLES }, () => Math.round((Math.random() - 0.5) * 4000)));
  const rules: HearingRules = { radius: 20, rolloff: 1, zones: [{ name: 'booth', kind: 'booth', x: 0, y: 0, width: 2, height: 2 }] };
  const listener = { x: 10, y: 10, facing: 0 };
  const stereo = frames.map((frame) => ({ frame, left: new SmoothedGain(1), right: new SmoothedGain(1) }));
  const mono = frames.map((frame) => ({ frame, gain: new SmoothedGain(1) }));
  const stereoMixer = new StereoMixer();
  const monoMixer = new Mixer();
  let frameCount = 0;
  const spatial = (): void => {
    frameCount++;
    stereo.forEach((input, i) => {
      // Each speaker circles the listener at 2–17 m, a little further round every frame.
      const angle = (frameCount + i * 37) * 0.01;
      const radius = 2 + (i % 16);
      const heard = hear(listener, { x: 10 + radius * Math.sin(angle), y: 10 - radius * Math.cos(angle) }, rules);
      input.left.set(heard.left);
      input.right.set(heard.right);
    });
    stereoMixer.mix(stereo);
  };
  const plain = (): void => {
    monoMixer.mix(mono);
  };
  realtimeMultiples(spatial, plain, 0.2);
  const [spatialMultiple, monoMultiple] = realtimeMultiples(spatial, plain, seconds);
  return { peers, spatialMultiple: Math.round(spatialMultiple), monoMultiple: Math.round(monoMultiple) };
}
