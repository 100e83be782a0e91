// Issue 13, long runs: a recording that crosses 4 GiB, written through the real WAV sink and read
// back with sox (RF64); a disk that fills up mid-recording. Both write real files and clean up.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../../src/audio/format.js';
import { TimelineRecorder } from '../../src/audio/recorder.js';
import { RECORDING_HEADER_BYTES } from '../../src/audio/wav-header.js';
import { WavFileSink } from '../../src/audio/wav-writer.js';
import { readWav16 } from '../helpers/wav.js';

const sox = (...args: string[]): string => execFileSync('sox', args, { encoding: 'utf8', timeout: 60_000 }).trim();

/** One second of a −20 dBFS 440 Hz sine. */
function toneSecond(): Int16Array {
  return Int16Array.from({ length: 48_000 }, (_, i) => Math.round(3277 * Math.sin((2 * Math.PI * 440 * i) / 48_000)));
}

describe('recordings past 4 GiB', () => {
  it('become RF64, and sox reads every sample back', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-rf64-'));
    const path = join(dir, 'long.wav');
    try {
      const startedAt = performance.now();
      const sink = new WavFileSink(path);
      // 8 MiB per write keeps this to seconds. Not zeros: sox 14.4 looks for chunks after the
      // data at an offset it wraps to 32 bits, and crawls through zeros 8 bytes at a time.
      const block = new Int16Array(4 * 1024 * 1024).fill(0x0101);
      const target = 4 * 1024 ** 3 + 16 * 1024 ** 2;
      while (sink.bytesWritten < target) sink.write(block);
      const tone = toneSecond();
      sink.write(tone);
      await sink.close();
      const seconds = (performance.now() - startedAt) / 1000;
      const samples = sink.bytesWritten / 2;
      expect(statSync(path).size).toBe(RECORDING_HEADER_BYTES + sink.bytesWritten);
      const magic = Buffer.alloc(4);
      const fd = openSync(path, 'r');
      readSync(fd, magic, 0, 4, 0);
      closeSync(fd);
      expect(magic.toString('ascii')).toBe('RF64');

      const info = sox('--i', '-s', path);
      // The last second, through sox's own reader: exactly the tone written.
      const tail = join(dir, 'tail.raw');
      sox(path, '-t', 'raw', '-e', 'signed-integer', '-b', '16', tail, 'trim', `${samples - tone.length}s`);
      const back = new Int16Array(readFileSync(tail).buffer.slice(0));
      console.log(`rf64: ${(sink.bytesWritten / 1024 ** 3).toFixed(2)} GiB written in ${seconds.toFixed(1)} s; sox counts ${info} samples; read back in ${((performance.now() - startedAt) / 1000 - seconds).toFixed(1)} s`);
      expect(Number(info)).toBe(samples);
      expect(back.length).toBe(tone.length);
      expect(Buffer.from(back.buffer).equals(Buffer.from(tone.buffer))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a disk that fills up', () => {
  it('stops the recording at the last whole frame, says why, and leaves a valid file', async (context) => {
    const mount = mkdtempSync(join(tmpdir(), 'voxroom-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount], { stdio: 'ignore' });
    } catch {
      rmSync(mount, { recursive: true, force: true });
      context.skip('cannot mount a small tmpfs here (needs root)');
    }
    try {
      const path = join(mount, 'full.wav');
      const sink = new WavFileSink(path);
      const failures: string[] = [];
      sink.onFailure((error) => failures.push(error.message));
      const frame = new Int16Array(FRAME_SAMPLES).fill(1000);
      for (let i = 0; i < 1000 && failures.length === 0; i++) sink.write(frame);
      sink.write(frame); // ignored once stopped
      await sink.close();
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatch(/recording .*full\.wav stopped after \d+\.\d s: ENOSPC \(the disk is full; free space or record elsewhere\); what was written so far is a valid WAV file/);
      expect(sink.frames).toBeGreaterThan(100);
      expect(statSync(path).size).toBe(RECORDING_HEADER_BYTES + sink.bytesWritten);
      const { samples } = readWav16(path);
      expect(samples.length).toBe(sink.frames * FRAME_SAMPLES);
      expect(samples.every((s) => s === 1000)).toBe(true);
      expect(Number(sox('--i', '-s', path))).toBe(samples.length);
    } finally {
      execFileSync('umount', [mount], { stdio: 'ignore' });
      rmSync(mount, { recursive: true, force: true });
    }
  });

  it('a WAV sink refuses a path that is a folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-nodir-'));
    mkdirSync(join(dir, 'taken'));
    try {
      expect(() => new WavFileSink(join(dir, 'taken'))).toThrow(/EISDIR/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a recording folder it cannot make, or cannot write to, before the call starts', async (context) => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-recdir-'));
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expect(() => new TimelineRecorder(join(file, 'rec'))).toThrow(/cannot create the recording folder .*a-file\/rec: ENOTDIR; choose another --record-dir/);
    // Root writes anywhere permissions say it may not: a read-only file system says no to it too.
    const readOnly = join(dir, 'ro');
    mkdirSync(readOnly);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', readOnly], { stdio: 'ignore' });
    } catch {
      rmSync(dir, { recursive: true, force: true });
      context.skip('cannot mount a read-only tmpfs here (needs root)');
    }
    try {
      expect(() => new TimelineRecorder(readOnly)).toThrow(/cannot write to the recording folder .*\/ro: EROFS; fix its permissions or choose another --record-dir/);
    } finally {
      execFileSync('umount', [readOnly], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
