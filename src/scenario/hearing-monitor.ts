// Listens along with one peer's mix and keeps, per half second, how loud each remote peer was
// in it (after the listener's volume for that peer), how loud at the frequencies somebody
// expects, and whether its audio arrived at all. Expectations are judged on these windows
// afterwards (verdict.ts). The work is spread over the ticks: a sum of squares per frame, and a
// Goertzel per expected tone per 100 ms block, so no tick carries a window's whole analysis.
import { dbfs, hannWindow, toneAmplitude } from '../audio/analysis.js';
import { FRAME_SAMPLES, type Frame } from '../audio/format.js';
import type { MixObserver, ObservedInput } from '../audio/mix-observer.js';

export const WINDOW_MS = 500;
/** A frequencies key that listens for a tone from every speaker ("hears nobody at 440 Hz"). */
export const ANY_SPEAKER = '*';
/** Tone levels are power-averaged over 100 ms blocks (see analysis.ts toneLevel). */
const BLOCK_FRAMES = 10;
const BLOCK_SAMPLES = BLOCK_FRAMES * FRAME_SAMPLES;
const BLOCK_WINDOW = hannWindow(BLOCK_SAMPLES);

export interface SpeakerLevel {
  /** RMS level of what this peer added to the mix, dBFS (−Infinity: nothing). */
  dbfs: number;
  /** RMS level of the tone at each expected frequency, dBFS. */
  tones: Map<number, number>;
  /** Share of the window's ticks in which its audio arrived (0: not connected, or gone). */
  received: number;
}

export interface HearingWindow {
  /** ms from the monitor's origin. */
  startMs: number;
  endMs: number;
  /** Every remote peer in the room during the window, heard or not. */
  speakers: Map<string, SpeakerLevel>;
}

/** Level in dBFS (RMS) of a tone whose Goertzel amplitude is `amplitude`. */
export function toneDbfs(amplitude: number): number {
  return dbfs(amplitude / Math.SQRT2);
}

/** One speaker's running sums within the window in progress. */
class SpeakerAccumulator {
  sumOfSquares = 0;
  ticks = 0;
  receivedTicks = 0;
  readonly block = new Float32Array(BLOCK_SAMPLES);
  blockFrames = 0;
  readonly tonePower = new Map<number, number>();
  blocks = 0;

  readonly frequencies: readonly number[];

  /** Each frequency once, however many expectations listen for it: a tone's power is summed per frequency. */
  constructor(frequencies: readonly number[]) {
    this.frequencies = [...new Set(frequencies)];
  }

  add(frame: Frame | null, gain: number): void {
    this.ticks++;
    const offset = this.blockFrames * FRAME_SAMPLES;
    if (frame) {
      this.receivedTicks++;
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        const sample = frame[i]! * gain;
        this.sumOfSquares += sample * sample;
        this.block[offset + i] = sample;
      }
    } else {
      this.block.fill(0, offset, offset + FRAME_SAMPLES);
    }
    if (++this.blockFrames === BLOCK_FRAMES) this.closeBlock();
  }

  private closeBlock(): void {
    for (const hz of this.frequencies) this.tonePower.set(hz, (this.tonePower.get(hz) ?? 0) + toneAmplitude(this.block, hz, 48_000, BLOCK_WINDOW) ** 2);
    this.blocks++;
    this.blockFrames = 0;
  }

  result(): SpeakerLevel {
    const tones = new Map<number, number>();
    for (const hz of this.frequencies) tones.set(hz, this.blocks > 0 ? toneDbfs(Math.sqrt((this.tonePower.get(hz) ?? 0) / this.blocks)) : Number.NEGATIVE_INFINITY);
    return { dbfs: dbfs(Math.sqrt(this.sumOfSquares / Math.max(1, this.ticks * FRAME_SAMPLES))), tones, received: this.ticks > 0 ? this.receivedTicks / this.ticks : 0 };
  }
}

export class HearingMonitor implements MixObserver {
  readonly windows: HearingWindow[] = [];
  /** When each remote peer was first in the room, ms from the origin. */
  readonly firstSeenMs = new Map<string, number>();
  private origin: number | null = null;
  private endMs = Number.POSITIVE_INFINITY;
  private windowIndex = -1;
  private ticks = 0;
  private speakers = new Map<string, SpeakerAccumulator>();

  /** `frequencies`: per speaker (or ANY_SPEAKER), the tones some expectation listens for. */
  constructor(
    private readonly frequencies: ReadonlyMap<string, readonly number[]> = new Map(),
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Times count from here (a bot's join, a scenario's start). Ticks before it are ignored. */
  startAt(originMs: number): void {
    this.origin = originMs;
  }

  /** Nothing after this moment counts (the run's end: bots still leaving are not heard). */
  stopAt(atMs: number): void {
    if (this.origin !== null) this.endMs = atMs - this.origin;
  }

  mixed(inputs: readonly ObservedInput[], _mix: Frame, atMs: number): void {
    if (this.origin === null || atMs < this.origin) return;
    const relative = atMs - this.origin;
    if (relative >= this.endMs) return;
    const index = Math.floor(relative / this.windowMs);
    if (index !== this.windowIndex) {
      this.closeWindow();
      this.windowIndex = index;
    }
    this.ticks++;
    for (const { name, frame, gain } of inputs) {
      if (!this.firstSeenMs.has(name)) this.firstSeenMs.set(name, relative);
      let speaker = this.speakers.get(name);
      if (!speaker) {
        speaker = new SpeakerAccumulator([...(this.frequencies.get(name) ?? []), ...(this.frequencies.get(ANY_SPEAKER) ?? [])]);
        this.speakers.set(name, speaker);
      }
      speaker.add(frame, gain);
    }
  }

  /** Closes the window in progress (the end of a run). */
  finish(): void {
    this.closeWindow();
    this.windowIndex = -1;
  }

  private closeWindow(): void {
    // A window with under 100 ms of audio (the run ended just after it began) says too little.
    if (this.windowIndex >= 0 && this.ticks >= BLOCK_FRAMES) {
      const speakers = new Map<string, SpeakerLevel>();
      for (const [name, speaker] of this.speakers) speakers.set(name, speaker.result());
      this.windows.push({ startMs: this.windowIndex * this.windowMs, endMs: (this.windowIndex + 1) * this.windowMs, speakers });
    }
    this.speakers = new Map();
    this.ticks = 0;
  }
}
