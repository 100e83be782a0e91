import { afterEach, describe, expect, it, vi } from 'vitest';
import { toneAmplitude } from '../../src/audio/analysis.js';
import { parseSinkSpec, parseSourceSpec } from '../../src/audio/backend-spec.js';
import { FrameClock, SharedTicker, TickSchedule, delayToNextWake } from '../../src/audio/clock.js';
import { FrameAssembler } from '../../src/audio/frame-assembler.js';
import { FRAME_SAMPLES } from '../../src/audio/format.js';
import { JitterBuffer } from '../../src/audio/jitter-buffer.js';
import { REMOTE_BUFFER } from '../../src/audio/remote-audio.js';
import { SampleFifo } from '../../src/audio/sample-fifo.js';
import { PeakLimiter } from '../../src/audio/limiter.js';
import { Mixer, SmoothedGain } from '../../src/audio/mixer.js';
import { safeFileName } from '../../src/audio/recorder.js';
import { ToneSource } from '../../src/audio/tone-source.js';

const constant = (value: number): Int16Array => new Int16Array(FRAME_SAMPLES).fill(value);
const frameOf = (value: number): Int16Array => constant(value);

describe('Mixer', () => {
  it('sums inputs exactly at unity gain', () => {
    const mixer = new Mixer();
    const out = mixer.mix([
      { frame: constant(1000), gain: new SmoothedGain(1) },
      { frame: constant(-250), gain: new SmoothedGain(1) },
      { frame: constant(3), gain: new SmoothedGain(1) },
    ]);
    expect([...new Set(out)]).toEqual([753]);
  });

  it('ramps a gain change linearly across one frame, then holds it', () => {
    const mixer = new Mixer();
    const gain = new SmoothedGain(1);
    mixer.mix([{ frame: constant(10_000), gain }]);
    gain.set(0.5);
    const ramp = mixer.mix([{ frame: constant(10_000), gain }]);
    expect(ramp[0]).toBe(Math.round(10_000 * (1 - 0.5 / FRAME_SAMPLES)));
    expect(ramp[FRAME_SAMPLES / 2 - 1]).toBe(7500);
    expect(ramp[FRAME_SAMPLES - 1]).toBe(5000);
    for (let i = 1; i < FRAME_SAMPLES; i++) expect(ramp[i]!).toBeLessThanOrEqual(ramp[i - 1]!);
    expect([...new Set(mixer.mix([{ frame: constant(10_000), gain }]))]).toEqual([5000]);
  });

  it('clamps gains to 0–200 %', () => {
    const gain = new SmoothedGain(5);
    expect(gain.value).toBe(2);
    gain.set(-1);
    expect(gain.value).toBe(0);
    gain.set(Number.NaN);
    expect(gain.value).toBe(0);
  });

  it('sums any number of inputs as a plain per-sample mix would, ramps and negative samples included, rounded half away from zero', () => {
    for (const count of [0, 1, 2, 3, 4, 5, 9, 17, 40]) {
      const mixer = new Mixer();
      const inputs = Array.from({ length: count }, (_, n) => ({
        frame: Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => ((i * 37 + n * 101) % 400) - 200),
        gain: new SmoothedGain(0.1 * ((n % 10) + 1)),
      }));
      mixer.mix(inputs);
      inputs.forEach((input, n) => input.gain.set(n % 3 === 0 ? 0 : 0.25 + 0.05 * (n % 10)));
      const expected = new Float64Array(FRAME_SAMPLES);
      inputs.forEach((input, n) => {
        const from = 0.1 * ((n % 10) + 1);
        const to = n % 3 === 0 ? 0 : 0.25 + 0.05 * (n % 10);
        for (let i = 0; i < FRAME_SAMPLES; i++) expected[i] += input.frame[i]! * (from + ((to - from) * (i + 1)) / FRAME_SAMPLES);
      });
      const out = mixer.mix(inputs);
      expect(out).toHaveLength(FRAME_SAMPLES);
      for (let i = 0; i < FRAME_SAMPLES; i++) expect(Math.abs(out[i]! - expected[i]!), `${count} inputs, sample ${i}`).toBeLessThanOrEqual(1);
    }
    // Exact halves round away from zero, on both sides.
    const halves = new Mixer().mix([{ frame: Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => (i % 2 === 0 ? 5 : -5)), gain: new SmoothedGain(0.5) }]);
    expect([halves[0], halves[1]]).toEqual([3, -3]);
  });

  it('returns a frame of its own each time (the next mix does not change the last one)', () => {
    const mixer = new Mixer();
    const first = mixer.mix([{ frame: constant(1000), gain: new SmoothedGain(1) }]);
    const second = new Mixer().mix([{ frame: constant(-7), gain: new SmoothedGain(1) }]);
    expect([...new Set(first)]).toEqual([1000]);
    expect([...new Set(second)]).toEqual([-7]);
  });

  it('after a loud frame, releases its limiter over the frames that follow, silent ones included', () => {
    const mixer = new Mixer();
    mixer.mix(Array.from({ length: 8 }, () => ({ frame: constant(30_000), gain: new SmoothedGain(2) })));
    expect(mixer.limiter.idle).toBe(false);
    expect([...new Set(mixer.mix([]))]).toEqual([0]);
    const quiet = { frame: constant(1000), gain: new SmoothedGain(1) };
    let out = mixer.mix([quiet]);
    expect(out[FRAME_SAMPLES - 1]!).toBeLessThan(1000);
    for (let k = 0; k < 200; k++) out = mixer.mix([quiet]);
    expect(out[FRAME_SAMPLES - 1]).toBe(1000);
    // Released all the way: idle again, so frames take the fast path once more.
    for (let k = 0; k < 300 && !mixer.limiter.idle; k++) mixer.mix([quiet]);
    expect(mixer.limiter.idle).toBe(true);
  });

  it('never wraps around: a loud room is limited under the ceiling', () => {
    const mixer = new Mixer();
    const loud = Array.from({ length: 8 }, () => ({ frame: constant(30_000), gain: new SmoothedGain(2) }));
    const out = mixer.mix(loud);
    const ceiling = 32767 * 10 ** (-1 / 20);
    for (const sample of out) {
      expect(sample).toBeGreaterThan(0);
      expect(sample).toBeLessThanOrEqual(Math.ceil(ceiling));
    }
  });
});

describe('PeakLimiter', () => {
  it('leaves quiet signals bit-exact and recovers after a peak', () => {
    const limiter = new PeakLimiter(-1, 50);
    const quiet = Float32Array.from({ length: 4800 }, (_, i) => 20_000 * Math.sin(i / 7));
    const copy = quiet.slice();
    limiter.process(quiet);
    expect(quiet).toEqual(copy);
    const peak = new Float32Array(480).fill(100_000);
    limiter.process(peak);
    expect(Math.max(...peak)).toBeLessThanOrEqual(32767 * 10 ** (-1 / 20) + 1e-3);
    expect(limiter.reductionDb).toBeGreaterThan(10);
    limiter.process(new Float32Array(48_000));
    expect(limiter.reductionDb).toBeLessThan(0.01);
    // Its release ends: idle (gain exactly 1), not forever a hair under it.
    limiter.process(new Float32Array(48_000));
    expect(limiter.idle).toBe(true);
  });
});

describe('SampleFifo', () => {
  it('takes chunks of any size across frame boundaries, in order', () => {
    const fifo = new SampleFifo();
    fifo.push(Int16Array.from({ length: 480 }, (_, i) => i));
    fifo.push(Int16Array.from({ length: 480 }, (_, i) => 480 + i));
    expect(fifo.take(160)?.[0]).toBe(0);
    const across = fifo.take(400)!;
    expect([across[0], across[399]]).toEqual([160, 559]);
    expect(fifo.length).toBe(400);
    expect(fifo.take(401)).toBeNull(); // not enough: nothing is taken
    fifo.discard(1000);
    expect(fifo.length).toBe(0);
  });
});

describe('JitterBuffer', () => {
  it('primes to its target, plays in order, and reports underruns as silence', () => {
    const buffer = new JitterBuffer({ targetFrames: 2, maxFrames: 4 });
    buffer.push(frameOf(1));
    expect(buffer.pull()).toBeNull();
    expect(buffer.stats.missedFrames).toBe(0); // priming before the first frame is not a gap
    buffer.push(frameOf(2));
    expect(buffer.pull()?.[0]).toBe(1);
    expect(buffer.pull()?.[0]).toBe(2);
    expect(buffer.pull()).toBeNull();
    expect(buffer.stats.underruns).toBe(1);
    // Every silent frame after playback began is a missed one; the late frame plays when it comes.
    expect(buffer.pull()).toBeNull();
    expect(buffer.stats.missedFrames).toBe(2);
    buffer.push(frameOf(3));
    expect(buffer.pull()?.[0]).toBe(3);
  });

  it('adapts its target: down after a calm spell without late frames, up on an underrun', () => {
    const buffer = new JitterBuffer({ targetFrames: 2, minTargetFrames: 1, maxTargetFrames: 3, maxFrames: 8, calmFramesToLower: 10 });
    const play = (frames: number): void => {
      for (let i = 0; i < frames; i++) {
        buffer.push(frameOf(100));
        expect(buffer.pull()).not.toBeNull();
      }
    };
    buffer.push(frameOf(100));
    play(9);
    expect(buffer.stats.targetFrames).toBe(2);
    play(1); // ten frames, never fewer than two on hand: one is enough
    expect(buffer.stats.targetFrames).toBe(1);
    while (buffer.pull() !== null); // a frame came late: an underrun
    expect(buffer.stats.targetFrames).toBe(2);
    // That step down was wrong: the next one needs twice the calm.
    buffer.push(frameOf(100)); // the late one
    play(19);
    expect(buffer.stats.targetFrames).toBe(2);
    play(1);
    expect(buffer.stats.targetFrames).toBe(1);
    while (buffer.pull() !== null);
    // A frame late again within the calm spell (one on hand, below the target) keeps the target.
    buffer.push(frameOf(100));
    play(38);
    expect(buffer.pull()).not.toBeNull();
    buffer.push(frameOf(100));
    buffer.push(frameOf(100));
    play(1); // the 40th calm frame ends the spell
    expect(buffer.stats.targetFrames).toBe(2);
    // A gap is one underrun however long it lasts; 3 is the ceiling.
    for (let gap = 0; gap < 3; gap++) {
      while (buffer.pull() !== null);
      play(1);
    }
    expect(buffer.stats.targetFrames).toBe(3);
    expect(buffer.stats.underruns).toBe(5);
  });

  it('drops the oldest frame when full', () => {
    const buffer = new JitterBuffer({ targetFrames: 1, maxFrames: 3 });
    buffer.push(frameOf(1));
    expect(buffer.pull()?.[0]).toBe(1); // primed and playing
    for (let i = 2; i <= 6; i++) buffer.push(frameOf(i));
    expect(buffer.stats.overflows).toBe(2);
    expect(buffer.pull()?.[0]).toBe(4);
  });

  it('drops a backlog that arrived while priming, before anything plays', () => {
    const buffer = new JitterBuffer({ targetFrames: 2, maxFrames: 10 });
    for (let i = 1; i <= 5; i++) buffer.push(frameOf(i));
    expect(buffer.pull()?.[0]).toBe(4);
    expect(buffer.stats.driftDrops).toBe(3);
    expect(buffer.depth).toBe(1);
  });

  it('absorbs drift: a buffer above target for a whole window loses one frame', () => {
    const buffer = new JitterBuffer({ targetFrames: 2, maxFrames: 10, driftWindowFrames: 10, quietWaitFrames: 5 });
    buffer.push(frameOf(10_000));
    buffer.push(frameOf(10_000));
    buffer.pull(); // primed; the first window sees a depth of 2
    for (let i = 0; i < 3; i++) buffer.push(frameOf(10_000)); // the sender's clock ran ahead
    const cycle = (count: number): void => {
      for (let i = 0; i < count; i++) {
        buffer.push(frameOf(10_000));
        buffer.pull();
      }
    };
    cycle(24); // window 1 ends at depth 2 (no drop); window 2 ends above target: drop pending
    expect(buffer.stats.driftDrops).toBe(0);
    cycle(1); // no quiet frame came within quietWaitFrames: it drops anyway
    expect(buffer.stats.driftDrops).toBe(1);
    cycle(15);
    expect(buffer.stats.driftDrops).toBe(1);
    expect(buffer.depth).toBe(3);
  });

  it('drops a frame from a steady tone without a click (the two frames are crossfaded)', () => {
    const buffer = new JitterBuffer({ targetFrames: 1, maxFrames: 10, driftWindowFrames: 5, quietWaitFrames: 0 });
    const tone = new ToneSource(440);
    const played: number[] = [];
    const cycle = (extra = 0): void => {
      for (let i = 0; i <= extra; i++) buffer.push(tone.read());
      const frame = buffer.pull();
      if (frame) played.push(...frame);
    };
    cycle(); // primed and playing
    cycle(1); // now one frame over the target
    for (let i = 0; i < 20; i++) cycle();
    expect(buffer.stats.driftDrops).toBe(1);
    // A −20 dBFS 440 Hz sine moves at most 2π·440/48000·3277 ≈ 189 per sample; a cut frame
    // would jump by up to twice the amplitude.
    let largestStep = 0;
    for (let i = 1; i < played.length; i++) largestStep = Math.max(largestStep, Math.abs(played[i]! - played[i - 1]!));
    expect(largestStep).toBeLessThan(200);
  });

  it('makes the drift drop on a quiet frame when one comes', () => {
    const buffer = new JitterBuffer({ targetFrames: 1, maxFrames: 10, driftWindowFrames: 5, quietWaitFrames: 50 });
    const played: number[] = [];
    const cycle = (value: number): void => {
      buffer.push(frameOf(value));
      const frame = buffer.pull();
      if (frame) played.push(frame[0]!);
    };
    cycle(10_000); // primed
    buffer.push(frameOf(10_000));
    buffer.push(frameOf(10_000));
    for (let i = 0; i < 10; i++) cycle(10_000); // a drop is now pending, waiting for quiet
    expect(buffer.stats.driftDrops).toBe(0);
    cycle(0); // a quiet frame joins the queue
    for (let i = 0; i < 4; i++) cycle(10_000);
    expect(buffer.stats.driftDrops).toBe(1);
    expect(played).not.toContain(0); // the quiet frame is the one that went
  });
});

describe("JitterBuffer at remote peers' settings", () => {
  /** Ticks of a steady call: each frame arrives just before the tick that plays it. */
  const calmCall = (buffer: JitterBuffer, ticks: number, next: { value: number }): void => {
    for (let i = 0; i < ticks; i++) {
      buffer.push(frameOf(next.value++));
      expect(buffer.pull()).not.toBeNull();
    }
  };

  it('still covers a delivery 10 ms late after a minute of calm (one frame did not: a lost frame per GC on two cores)', () => {
    const next = { value: 1 };
    const remote = new JitterBuffer(REMOTE_BUFFER);
    remote.push(frameOf(next.value++));
    calmCall(remote, 6000, next);
    expect(remote.stats.targetFrames).toBe(2);
    // wrtc's delivery thread runs late: one tick passes without a frame, then two come at once.
    const late = remote.pull();
    remote.push(frameOf(next.value++));
    remote.push(frameOf(next.value++));
    calmCall(remote, 10, next);
    expect(late).not.toBeNull();
    expect(remote.stats).toMatchObject({ underruns: 0, missedFrames: 0 });

    // The same moment with the one-frame floor this replaced.
    const thin = new JitterBuffer({ ...REMOTE_BUFFER, minTargetFrames: 1 });
    thin.push(frameOf(1));
    thin.push(frameOf(2));
    calmCall(thin, 6000, { value: 3 });
    expect(thin.stats.targetFrames).toBe(1);
    expect(thin.pull()).toBeNull();
    expect(thin.stats.missedFrames).toBe(1);
  });
});

describe('JitterBuffer after a stall', () => {
  it("keeps every frame of a burst that arrives just before the catch-up ticks, at remote peers' settings", () => {
    const buffer = new JitterBuffer(REMOTE_BUFFER);
    let next = 1;
    for (let i = 0; i < 2; i++) buffer.push(frameOf(next++));
    for (let i = 0; i < 10; i++) {
      buffer.push(frameOf(next++));
      buffer.pull();
    }
    // The event loop was blocked for 150 ms: 15 frames arrive at once, then 15 ticks are due.
    for (let i = 0; i < 15; i++) buffer.push(frameOf(next++));
    const played = Array.from({ length: 15 }, () => buffer.pull()?.[0] ?? null);
    expect(played).not.toContain(null);
    expect(played).toEqual([...played].sort((a, b) => a! - b!));
    expect(buffer.stats).toMatchObject({ overflows: 0, missedFrames: 0 });
  });

  it('works a backlog off a frame per pull once a window shows it stays, then drops at quiet moments only', () => {
    const buffer = new JitterBuffer({ targetFrames: 2, maxFrames: 24, driftWindowFrames: 10, quietWaitFrames: 1000 });
    let next = 1;
    const loud = (): Int16Array => frameOf(10_000 + (next++ % 100));
    for (let i = 0; i < 2; i++) buffer.push(loud());
    buffer.pull();
    // A stall the mix clock skipped: 20 frames wait with one pull each tick from now on.
    for (let i = 0; i < 20; i++) buffer.push(loud());
    const depths: number[] = [];
    for (let i = 0; i < 60; i++) {
      buffer.push(loud());
      expect(buffer.pull()).not.toBeNull();
      depths.push(buffer.depth);
    }
    // Until a whole window has shown the backlog, nothing goes; then one frame per pull down to target + 4, and no
    // further while nothing is quiet (the waiting for quiet is long here).
    expect(depths[5]).toBeGreaterThan(15);
    expect(depths.at(-1)).toBeLessThanOrEqual(2 + 4);
    expect(depths.at(-1)).toBeGreaterThan(2);
    expect(buffer.stats.overflows).toBe(0);
  });

  it('drops a backlog down to the target at once when the mix clock skipped ahead', () => {
    const buffer = new JitterBuffer(REMOTE_BUFFER);
    for (let i = 0; i < 3; i++) buffer.push(frameOf(i + 1));
    buffer.pull();
    for (let i = 0; i < 20; i++) buffer.push(frameOf(100 + i));
    buffer.dropBacklog();
    expect(buffer.depth).toBe(REMOTE_BUFFER.targetFrames);
    // The newest stay: they are what plays on time now.
    expect(buffer.pull()?.[0]).toBe(118);
  });
});

describe('TickSchedule', () => {
  it('keeps ticks on the 10 ms grid whatever the timer does', () => {
    const schedule = new TickSchedule(1000);
    expect(schedule.due(1000)).toEqual({ ticks: 1, skipped: 0 });
    expect(schedule.delayUntilNext(1000)).toBe(10);
    expect(schedule.due(1013)).toEqual({ ticks: 1, skipped: 0 });
    expect(schedule.delayUntilNext(1013)).toBe(7); // early next time: no accumulated drift
    expect(schedule.due(1035)).toEqual({ ticks: 2, skipped: 0 }); // late: catch up
    // An hour later, exactly 360 000 ticks have run (no drift).
    let total = 4;
    for (let t = 1040; t < 1000 + 3_600_000; t += 10) total += schedule.due(t + (t % 7)).ticks;
    expect(total).toBe(360_000);
  });

  it('skips ahead after a long stall instead of bursting', () => {
    const schedule = new TickSchedule(0, 10, 20);
    schedule.due(0);
    expect(schedule.due(5000)).toEqual({ ticks: 1, skipped: 499 });
    expect(schedule.due(5010)).toEqual({ ticks: 1, skipped: 0 });
  });
});

describe('delayToNextWake', () => {
  it('waits for the next period after a wake that ended within its own', () => {
    // Periods of 10 ms from 1000: a wake at 1002 that ends at 1006 waits until 1010.
    expect(delayToNextWake(1000, 10, 1002, 1006)).toBe(4);
    expect(delayToNextWake(1000, 10, 1000, 1000)).toBe(10);
  });

  it('wakes at once when a period began while the wake worked', () => {
    // Ended at 1011: the tick of the period that began at 1010 is due now, not at 1020.
    expect(delayToNextWake(1000, 10, 1008, 1011)).toBe(0);
    // A wake that began late, past its own period, judges by the period it began in.
    expect(delayToNextWake(1000, 10, 1013, 1019)).toBe(1);
    expect(delayToNextWake(1000, 10, 1013, 1031)).toBe(0);
  });
});

describe('FrameClock on a shared ticker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a tick whose period began while the previous tick worked at once, not a frame late', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
    const now = (): number => Date.now();
    const ticker = new SharedTicker(10, now);
    const ranAt: number[] = [];
    const clock = new FrameClock(
      (tick) => {
        ranAt.push(now());
        // Every fifth tick works (or waits for a CPU) 11 ms: past the start of the next period.
        if (tick % 5 === 1) vi.setSystemTime(now() + 11);
      },
      now,
      undefined,
      ticker,
    );
    clock.start();
    while (ranAt.length < 200) vi.advanceTimersToNextTimer();
    expect(clock.stats.lateTicks).toBe(0);
    // Each tick ran within its own period: none waited for the one after.
    const epoch = ranAt[0]!;
    ranAt.forEach((at, tick) => expect(at - (epoch + tick * 10)).toBeLessThan(10));
    clock.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('FrameAssembler', () => {
  it('passes a whole 48 kHz mono frame on as it was handed over (PcmChunk: the samples are ours)', () => {
    const frames: Int16Array[] = [];
    const assembler = new FrameAssembler((frame) => frames.push(frame));
    const samples = new Int16Array(FRAME_SAMPLES).fill(1234);
    assembler.push({ samples, sampleRate: 48_000 });
    expect(frames).toEqual([samples]);
    expect(frames[0]).toBe(samples);
  });

  it('turns 16 kHz then 48 kHz chunks into 48 kHz frames at the right pitch and level', async () => {
    const frames: Int16Array[] = [];
    const assembler = new FrameAssembler((frame) => frames.push(frame));
    const at = (rate: number, hz: number, count: number, offset: number) =>
      Int16Array.from({ length: count }, (_, i) => Math.round(10_000 * Math.sin((2 * Math.PI * hz * (offset + i)) / rate)));
    for (let k = 0; k < 50; k++) assembler.push({ samples: at(16_000, 1000, 160, k * 160), sampleRate: 16_000 });
    // The converter is made asynchronously (WebAssembly): wait for the 16 kHz part to come out.
    // (A fixed 50 ms was not always enough while the unit suite ran in parallel; 48 kHz input
    // arriving before it is ready replaces the waiting 16 kHz input, as it should.)
    for (const deadline = Date.now() + 5000; frames.length < 48 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 5));
    for (let k = 0; k < 100; k++) assembler.push({ samples: at(48_000, 1000, 480, k * 480), sampleRate: 48_000 });
    assembler.close();
    expect(frames.length).toBeGreaterThanOrEqual(148);
    const tail = Int16Array.from(frames.slice(-50).flatMap((f) => [...f]));
    expect(toneAmplitude(tail, 1000)).toBeCloseTo(10_000, -2);
    const resampledPart = Int16Array.from(frames.slice(5, 45).flatMap((f) => [...f]));
    expect(toneAmplitude(resampledPart, 1000)).toBeGreaterThan(9_500);
    expect(toneAmplitude(resampledPart, 15_000)).toBeLessThan(10); // no images from upsampling
    expect(assembler.rateChanges).toBe(2);
  });

  it('downmixes interleaved stereo', () => {
    const frames: Int16Array[] = [];
    const assembler = new FrameAssembler((frame) => frames.push(frame));
    const stereo = new Int16Array(960);
    for (let i = 0; i < 480; i++) {
      stereo[2 * i] = 1000;
      stereo[2 * i + 1] = 3000;
    }
    assembler.push({ samples: stereo, sampleRate: 48_000, channelCount: 2 });
    expect([...new Set(frames[0])]).toEqual([2000]);
  });
});

describe('ToneSource', () => {
  it('is a continuous sine at −20 dBFS', () => {
    const tone = new ToneSource(440);
    const samples = Int16Array.from(Array.from({ length: 100 }, () => [...tone.read()]).flat());
    expect(toneAmplitude(samples, 440)).toBeCloseTo(3276.7, -1);
    expect(Math.max(...samples)).toBe(3277);
  });
});

describe('backend specs and file names', () => {
  it('parses inputs and outputs', () => {
    expect(parseSourceSpec('tone:440')).toEqual({ kind: 'tone', frequency: 440 });
    expect(parseSourceSpec('file:a b.wav')).toEqual({ kind: 'file', path: 'a b.wav' });
    expect(parseSourceSpec('default')).toEqual({ kind: 'device', device: null });
    expect(parseSourceSpec('device:pulse')).toEqual({ kind: 'device', device: 'pulse' });
    expect(parseSinkSpec('null')).toEqual({ kind: 'null' });
    expect(() => parseSourceSpec('tone:')).toThrow(/frequency/);
    expect(() => parseSinkSpec('file:')).toThrow(/not an output/);
  });

  it('makes peer names safe as file names', () => {
    expect(safeFileName('Ann Lee')).toBe('Ann_Lee');
    expect(safeFileName('../../etc/passwd')).toBe('__.._etc_passwd');
    expect(safeFileName('a/b\\c:d')).not.toMatch(/[/\\:]/);
    expect(safeFileName('..')).toBe('_');
    expect(safeFileName('Zoë-2')).toBe('Zoë-2');
  });
});
