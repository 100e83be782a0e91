// Reading test recordings: WAV files as 16-bit samples, through the product's own decoder.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { decodeWav } from '../../src/audio/wav-file-source.js';
import { RECORDING_HEADER_BYTES } from '../../src/audio/wav-header.js';

/**
 * The levels of consecutive 100 ms windows of `samples` (from sample `from` on), sorted low to
 * high: their median ignores a dropout or a stray crossfaded frame that one level over the whole
 * would average in.
 */
export function sortedWindowLevels(samples: Int16Array, level: (window: Int16Array) => number, from = 0): number[] {
  const WINDOW = 4800;
  const levels: number[] = [];
  for (let at = from; at + WINDOW <= samples.length; at += WINDOW) levels.push(level(samples.subarray(at, at + WINDOW)));
  return levels.sort((x, y) => x - y);
}

export function readWav16(path: string): { samples: Int16Array; sampleRate: number } {
  const { mono, sampleRate } = decodeWav(readFileSync(path), path);
  return { samples: Int16Array.from(mono, (x) => Math.round(x * 32768)), sampleRate };
}

/** The last `seconds` of a 48 kHz recording. */
export function wavTail(path: string, seconds: number): Int16Array {
  const { samples } = readWav16(path);
  return samples.subarray(samples.length - seconds * 48_000);
}

/** A valid, finalized recording (wav-header.ts's layout, below 4 GiB): the header's sizes match the file. */
export function expectCompleteWav(path: string): void {
  const bytes = readFileSync(path);
  expect(bytes.subarray(0, 4).toString('ascii')).toBe('RIFF');
  expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
  expect(bytes.subarray(RECORDING_HEADER_BYTES - 8, RECORDING_HEADER_BYTES - 4).toString('ascii')).toBe('data');
  expect(bytes.readUInt32LE(RECORDING_HEADER_BYTES - 4)).toBe(bytes.length - RECORDING_HEADER_BYTES);
}
