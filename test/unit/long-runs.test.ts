// Issue 13, long runs: the RF64 header, the recorder's bounds in a churning room, and an
// exception in the audio tick. Pure or in-process; the 4 GiB and disk-full cases are in
// test/integration/recordings.test.ts.
import { closeSync, existsSync, mkdtempSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AudioEngine } from '../../src/audio/engine.js';
import { FRAME_SAMPLES, type Frame } from '../../src/audio/format.js';
import { MemorySink } from '../../src/audio/memory-sink.js';
import { TimelineRecorder } from '../../src/audio/recorder.js';
import { RECORDING_HEADER_BYTES, recordingHeader } from '../../src/audio/wav-header.js';
import type { AudioSource } from '../../src/audio/backend.js';
import { expectCompleteWav, readWav16 } from '../helpers/wav.js';

const frame = (value: number): Int16Array => new Int16Array(FRAME_SAMPLES).fill(value);
const scratch = (): string => mkdtempSync(join(tmpdir(), 'voxroom-long-'));

describe('recording headers', () => {
  it('are plain RIFF with a JUNK chunk held in reserve below 4 GiB', () => {
    const header = recordingHeader(960);
    expect(header.length).toBe(RECORDING_HEADER_BYTES);
    expect(header.toString('ascii', 0, 4)).toBe('RIFF');
    expect(header.readUInt32LE(4)).toBe(RECORDING_HEADER_BYTES - 8 + 960);
    expect(header.toString('ascii', 12, 16)).toBe('JUNK');
    expect(header.readUInt32LE(16)).toBe(28);
    expect(header.toString('ascii', 48, 52)).toBe('fmt ');
    expect(header.toString('ascii', 72, 76)).toBe('data');
    expect(header.readUInt32LE(76)).toBe(960);
  });

  it('turn into RF64 with the 64-bit sizes in ds64 once the data passes 4 GiB', () => {
    const dataBytes = 5 * 1024 ** 3;
    const header = recordingHeader(dataBytes, 48_000, 2);
    expect(header.length).toBe(RECORDING_HEADER_BYTES);
    expect(header.toString('ascii', 0, 4)).toBe('RF64');
    expect(header.readUInt32LE(4)).toBe(0xffffffff);
    expect(header.toString('ascii', 12, 16)).toBe('ds64');
    expect(header.readBigUInt64LE(20)).toBe(BigInt(RECORDING_HEADER_BYTES - 8 + dataBytes));
    expect(header.readBigUInt64LE(28)).toBe(BigInt(dataBytes));
    expect(header.readBigUInt64LE(36)).toBe(BigInt(dataBytes / 4));
    expect(header.readUInt32LE(76)).toBe(0xffffffff);
    // The switch happens exactly where the RIFF size stops fitting 32 bits.
    expect(recordingHeader(0xffffffff - (RECORDING_HEADER_BYTES - 8)).toString('ascii', 0, 4)).toBe('RIFF');
    expect(recordingHeader(0xffffffff - (RECORDING_HEADER_BYTES - 8) + 2).toString('ascii', 0, 4)).toBe('RF64');
  });
});

describe('recorder in a churning room', () => {
  it('opens at most maxFiles files and says so once', async () => {
    const dir = scratch();
    const problems: string[] = [];
    const recorder = new TimelineRecorder(dir, { maxFiles: 3, onProblem: (message) => problems.push(message) });
    for (let i = 0; i < 10; i++) recorder.track(`bot-${i}`, i);
    await recorder.close();
    expect(readdirSync(dir).sort()).toEqual(['bot-0.wav', 'bot-1.wav', 'bot-2.wav']);
    expect(problems).toEqual([expect.stringMatching(/not recording bot-3 or anyone new: this run already opened 3 recording files/)]);
  });

  it('closes the file of a peer gone for a while, and gives it a new one on the same timeline when it returns', async () => {
    const dir = scratch();
    const recorder = new TimelineRecorder(dir, { closeAfterGoneMs: 50 });
    recorder.track('ann', 0);
    recorder.write([{ name: 'ann', frame: frame(7) }], 1);
    recorder.gone('ann', 1);
    // Back within the grace: the same file goes on.
    recorder.track('ann', 3);
    expect(recorder.write([{ name: 'ann', frame: null }], 10)).toEqual([]);
    recorder.gone('ann', 10);
    let closed: string[] = [];
    for (let tick = 11; tick <= 15 && closed.length === 0; tick++) closed = recorder.write([{ name: 'ann', frame: null }], tick);
    expect(closed).toEqual(['ann']);
    expect(recorder.openFiles).toBe(0);
    recorder.track('ann', 20);
    recorder.write([{ name: 'ann', frame: frame(9) }], 21);
    await recorder.close();
    expectCompleteWav(join(dir, 'ann.wav'));
    const second = readWav16(join(dir, 'ann-2.wav')).samples;
    expect(second.length).toBe(21 * FRAME_SAMPLES);
    expect([second[0], second[20 * FRAME_SAMPLES]]).toEqual([0, 9]);
  });

  it('pads a newcomer 13 hours into the run in one step: a sparse RF64 file, its first frame where the timeline is', async () => {
    const dir = scratch();
    const recorder = new TimelineRecorder(dir);
    const tick = 13 * 3600 * 100;
    const started = performance.now();
    recorder.track('late', tick);
    const paddingMs = performance.now() - started;
    recorder.write([{ name: 'late', frame: frame(1234) }], tick + 1);
    await recorder.close();
    const path = join(dir, 'late.wav');
    const dataBytes = (tick + 1) * FRAME_SAMPLES * 2;
    const { size, blocks } = statSync(path);
    expect(size).toBe(RECORDING_HEADER_BYTES + dataBytes);
    // The 4.5 GB of silence takes no disk: the file system stores the header and the last frame.
    expect(blocks * 512).toBeLessThan(1024 * 1024);
    expect(paddingMs).toBeLessThan(100);
    const fd = openSync(path, 'r');
    const header = Buffer.alloc(RECORDING_HEADER_BYTES);
    readSync(fd, header, 0, header.length, 0);
    const tail = Buffer.alloc(FRAME_SAMPLES * 2 + 4);
    readSync(fd, tail, 0, tail.length, size - tail.length);
    closeSync(fd);
    expect(header.equals(recordingHeader(dataBytes))).toBe(true);
    expect(header.toString('ascii', 0, 4)).toBe('RF64');
    // The frame before the last is silence, the last is the frame written.
    expect([tail.readInt16LE(0), tail.readInt16LE(2), tail.readInt16LE(4), tail.readInt16LE(tail.length - 2)]).toEqual([0, 0, 1234, 1234]);
  });
});

/** A source that breaks on its third read, the way a bug would. */
class BreakingSource implements AudioSource {
  readonly label = 'breaking';
  private reads = 0;
  read(): Frame {
    if (++this.reads === 3) throw new Error('injected fault in read()');
    return frame(100);
  }
  async close(): Promise<void> {}
}

describe('a fault in the audio tick', () => {
  it('is reported once, stops the ticks, and the recordings are finalised on stop', async () => {
    const dir = scratch();
    const faults: Error[] = [];
    const engine = new AudioEngine({ source: new BreakingSource(), sink: new MemorySink(), recordDir: dir, onCapturedFrame: () => undefined, onFault: (error) => faults.push(error) });
    engine.attachRemote('ann');
    engine.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(faults.map((f) => f.message)).toEqual(['the audio tick failed: injected fault in read()']);
    expect(engine.stats.ticks).toBe(3);
    await engine.stop();
    expect(existsSync(join(dir, 'ann.wav'))).toBe(true);
    expectCompleteWav(join(dir, 'ann.wav'));
    expect(readWav16(join(dir, 'ann.wav')).samples.length).toBe(2 * FRAME_SAMPLES);
  });
});
