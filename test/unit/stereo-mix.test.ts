// The stereo mix of spatial rooms: per-side gains ramped over a frame, interleaved output, and
// the sinks that keep it (WAV header, memory), plus the channel conversion of the device output.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES, convertChannels } from '../../src/audio/format.js';
import { MemorySink } from '../../src/audio/memory-sink.js';
import { SmoothedGain, StereoMixer } from '../../src/audio/mixer.js';
import { MixKernel } from '../../src/audio/wasm/mix-kernel.js';
import { WavFileSink } from '../../src/audio/wav-writer.js';

const constant = (value: number): Int16Array => new Int16Array(FRAME_SAMPLES).fill(value);

describe('StereoMixer', () => {
  it('puts each input on each side at its own gain, interleaved L R', () => {
    const mixer = new StereoMixer();
    const out = mixer.mix([
      { frame: constant(1000), left: new SmoothedGain(1), right: new SmoothedGain(0) },
      { frame: constant(100), left: new SmoothedGain(0.5), right: new SmoothedGain(2) },
    ]);
    expect(out.length).toBe(2 * FRAME_SAMPLES);
    expect(new Set(out.filter((_, i) => i % 2 === 0))).toEqual(new Set([1050]));
    expect(new Set(out.filter((_, i) => i % 2 === 1))).toEqual(new Set([200]));
  });

  it('sums any number of inputs as a plain per-sample mix would, ramps included, also past the kernel\'s first 16 inputs', () => {
    for (const count of [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 40]) {
      const mixer = new StereoMixer();
      const inputs = Array.from({ length: count }, (_, n) => ({
        frame: Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => ((i * 37 + n * 101) % 200) - 100),
        left: new SmoothedGain(0.1 * ((n % 10) + 1)),
        right: new SmoothedGain(0.05 * ((n % 10) + 1)),
      }));
      mixer.mix(inputs);
      inputs.forEach((input, n) => {
        input.left.set(0.3 + 0.02 * (n % 10));
        input.right.set(n % 2 === 0 ? 0 : 0.9);
      });
      const expected = { left: new Float64Array(FRAME_SAMPLES), right: new Float64Array(FRAME_SAMPLES) };
      inputs.forEach((input, n) => {
        const from = { left: 0.1 * ((n % 10) + 1), right: 0.05 * ((n % 10) + 1) };
        const to = { left: 0.3 + 0.02 * (n % 10), right: n % 2 === 0 ? 0 : 0.9 };
        for (let i = 0; i < FRAME_SAMPLES; i++) {
          const at = (i + 1) / FRAME_SAMPLES;
          expected.left[i] += input.frame[i]! * (from.left + (to.left - from.left) * at);
          expected.right[i] += input.frame[i]! * (from.right + (to.right - from.right) * at);
        }
      });
      const out = mixer.mix(inputs);
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        expect(Math.abs(out[2 * i]! - expected.left[i]!), `${count} inputs, left sample ${i}`).toBeLessThanOrEqual(1);
        expect(Math.abs(out[2 * i + 1]! - expected.right[i]!), `${count} inputs, right sample ${i}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('ramps a changed gain across one frame on its side only (no clicks when someone walks)', () => {
    const mixer = new StereoMixer();
    const left = new SmoothedGain(1);
    const right = new SmoothedGain(1);
    mixer.mix([{ frame: constant(10_000), left, right }]);
    left.set(0);
    const ramp = mixer.mix([{ frame: constant(10_000), left, right }]);
    const leftSide = ramp.filter((_, i) => i % 2 === 0);
    for (let i = 1; i < leftSide.length; i++) expect(leftSide[i - 1]! - leftSide[i]!).toBeLessThanOrEqual(22);
    expect(leftSide[FRAME_SAMPLES - 1]).toBe(0);
    expect(new Set(ramp.filter((_, i) => i % 2 === 1))).toEqual(new Set([10_000]));
  });

  it('limits both sides with one gain: a loud left lowers the right alike', () => {
    const mixer = new StereoMixer();
    const out = mixer.mix(Array.from({ length: 4 }, () => ({ frame: constant(30_000), left: new SmoothedGain(1), right: new SmoothedGain(0.1) })));
    expect(Math.max(...out)).toBeLessThanOrEqual(Math.round(32767 * 10 ** (-1 / 20)));
    expect(out[out.length - 2]! / out[out.length - 1]!).toBeCloseTo(10, 0);
  });
});

describe('the stereo mix kernel (WebAssembly)', () => {
  it('is what its .wat source compiles to', () => {
    const check = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('keeps a frame\'s inputs already set when it grows for more, each in its place', () => {
    // A kernel of its own (mixers share the process's): 16 inputs fit at first; setting 100
    // makes room three times, and the memory grows twice.
    const kernel = new MixKernel();
    const count = 100;
    for (let n = 0; n < count; n++) {
      const frame = new Int16Array(FRAME_SAMPLES);
      frame[n] = 100 + n;
      kernel.setInput(n, frame, 1, 0, n % 2 === 0 ? 0.5 : 0, 0);
    }
    kernel.mix(count);
    for (let n = 0; n < count; n++) {
      expect(kernel.sumLeft[n], `input ${n}, left`).toBe(100 + n);
      expect(kernel.sumRight[n], `input ${n}, right`).toBe(n % 2 === 0 ? (100 + n) / 2 : 0);
    }
    expect(kernel.sumLeft.slice(count).every((x) => x === 0)).toBe(true);
    // Fewer inputs next frame: only those count.
    kernel.setInput(0, constant(3), 1, 0, 1, 0);
    kernel.mix(1);
    expect(new Set(kernel.sumLeft)).toEqual(new Set([3]));
  });

  it('is one per process for every mixer', () => {
    expect(MixKernel.shared()).toBe(MixKernel.shared());
  });
});

describe('stereo sinks and conversions', () => {
  it('a WAV sink told 2 channels writes a stereo header and counts frames per channel pair', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'voxroom-stereo-')), 'mix.wav');
    const sink = new WavFileSink(path);
    sink.setChannelCount(2);
    sink.write(new Int16Array(2 * FRAME_SAMPLES));
    expect(sink.frames).toBe(1);
    expect(() => sink.setChannelCount(1)).toThrow(/before the first frame/);
    await sink.close();
    const bytes = readFileSync(path);
    // The recording header (wav-header.ts): fmt from byte 48, the data size at 76.
    expect(bytes.readUInt16LE(58)).toBe(2);
    expect(bytes.readUInt32LE(64)).toBe(48_000 * 4);
    expect(bytes.readUInt32LE(76)).toBe(2 * FRAME_SAMPLES * 2);
  });

  it('a memory sink keeps a stereo mix and hands out either side', () => {
    const sink = new MemorySink();
    sink.setChannelCount(2);
    const frame = new Int16Array(2 * FRAME_SAMPLES).map((_, i) => (i % 2 === 0 ? 7 : -7));
    sink.write(frame);
    expect(sink.samples().length).toBe(2 * FRAME_SAMPLES);
    expect(new Set(sink.channel(0))).toEqual(new Set([7]));
    expect(new Set(sink.channel(1))).toEqual(new Set([-7]));
  });

  it('converts mono to stereo by copying, stereo to mono by averaging', () => {
    expect([...convertChannels(Int16Array.from([1, 2]), 1, 2)]).toEqual([1, 1, 2, 2]);
    expect([...convertChannels(Int16Array.from([10, 20, -3, -5]), 2, 1)]).toEqual([15, -4]);
    const same = Int16Array.from([1]);
    expect(convertChannels(same, 1, 1)).toBe(same);
  });
});
