// Helpers for tests that run real headless peers (wrtc) against a real server on loopback.
import { expect } from 'vitest';
import { toneLevel } from '../../src/audio/analysis.js';
import { SilenceSource, type AudioSource } from '../../src/audio/backend.js';
import { MemorySink } from '../../src/audio/memory-sink.js';
import { FRAME_SAMPLES } from '../../src/audio/format.js';
import { ToneSource } from '../../src/audio/tone-source.js';
import { VoicePeer, type VoicePeerOptions } from '../../src/peer/voice-peer.js';

/** Peak amplitude of a −20 dBFS sine, as ToneSource makes it. */
export const TONE_AMPLITUDE = 32767 * 0.1;

export interface TestPeer {
  name: string;
  peer: VoicePeer;
  sink: MemorySink;
}

export function makePeer(serverUrl: string, room: string, name: string, input: AudioSource | number | null, extra: Partial<VoicePeerOptions> = {}): TestPeer {
  const sink = new MemorySink();
  const source = typeof input === 'number' ? new ToneSource(input) : (input ?? new SilenceSource());
  const peer = new VoicePeer({ serverUrl, room, name, source, sink, ...extra });
  return { name, peer, sink };
}

/** Waits until `predicate` holds, polling every 50 ms. */
export async function waitUntil(predicate: () => boolean, what: string, ms = 15_000, explain?: () => unknown): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${explain ? `; state: ${JSON.stringify(explain())}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function allConnected(peer: VoicePeer, count: number): boolean {
  const peers = peer.peers();
  return peers.length === count && peers.every((p) => p.connection === 'connected' && (p.audio?.receivedFrames ?? 0) > 20);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The last `seconds` of what the sink received. */
export function lastSeconds(sink: MemorySink, seconds: number): Int16Array {
  return sink.samples(seconds);
}

/** The 10 ms frames of the last `seconds` a peer heard. */
export function framesHeard(peer: TestPeer, seconds: number): Int16Array[] {
  const samples = lastSeconds(peer.sink, seconds);
  const frames: Int16Array[] = [];
  for (let at = 0; at + FRAME_SAMPLES <= samples.length; at += FRAME_SAMPLES) frames.push(samples.subarray(at, at + FRAME_SAMPLES));
  return frames;
}

/** Level of a tone relative to a −20 dBFS sine, in dB (0 = full level, −∞ = absent). */
export function toneLevelDb(samples: Int16Array, frequency: number): number {
  return 20 * Math.log10(toneLevel(samples, frequency) / TONE_AMPLITUDE);
}

/** A tone's level in what a peer played during the last second, in dBFS (sine peak); −180 for none at all. */
export function heardDbfs(listener: TestPeer, frequency: number): number {
  return 20 * Math.log10(Math.max(toneLevel(listener.sink.samples(1), frequency), 1e-9) / 32767);
}

export function expectHears(samples: Int16Array, frequency: number, expectedDb = 0, toleranceDb = 3): void {
  const level = toneLevelDb(samples, frequency);
  expect(level, `level of ${frequency} Hz`).toBeGreaterThan(expectedDb - toleranceDb);
  expect(level, `level of ${frequency} Hz`).toBeLessThan(expectedDb + toleranceDb);
}

export function expectAbsent(samples: Int16Array, frequency: number, belowDb = -40): void {
  expect(toneLevelDb(samples, frequency), `level of ${frequency} Hz`).toBeLessThan(belowDb);
}
