// Listens along with one peer's mix and keeps, per half second, how loud each remote peer was
// in it (after the listener's volume for that peer) and how loud at the frequencies somebody
// expects. Expectations are judged on these windows afterwards (verdict.ts). Cheap enough for
// the 10 ms tick: a copy per peer per tick, the analysis once per window.
import { dbfs, rms, toneLevel } from '../audio/analysis.js';
import { FRAME_SAMPLES, type Frame } from '../audio/format.js';
import type { MixObserver, ObservedInput } from '../audio/mix-observer.js';

export const WINDOW_MS = 500;
/** A frequencies key that listens for a tone from every speaker ("hears nobody at 440 Hz"). */
export const ANY_SPEAKER = '*';

export interface SpeakerLevel {
  /** RMS level of what this peer added to the mix, dBFS (−Infinity: nothing). */
  dbfs: number;
  /** RMS level of the tone at each expected frequency, dBFS. */
  tones: Map<number, number>;
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

export class HearingMonitor implements MixObserver {
  readonly windows: HearingWindow[] = [];
  /** When each remote peer was first in the room, ms from the origin. */
  readonly firstSeenMs = new Map<string, number>();
  private origin: number | null = null;
  private windowIndex = -1;
  private ticks = 0;
  private readonly samples = new Map<string, Float32Array>();
  private readonly present = new Set<string>();

  /** `frequencies`: per speaker (or ANY_SPEAKER), the tones some expectation listens for. */
  constructor(
    private readonly frequencies: ReadonlyMap<string, readonly number[]> = new Map(),
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Times count from here (a bot's join, a scenario's start). Ticks before it are ignored. */
  startAt(originMs: number): void {
    this.origin = originMs;
  }

  mixed(inputs: readonly ObservedInput[], _mix: Frame, atMs: number): void {
    if (this.origin === null || atMs < this.origin) return;
    const relative = atMs - this.origin;
    const index = Math.floor(relative / this.windowMs);
    if (index !== this.windowIndex) {
      this.closeWindow();
      this.windowIndex = index;
    }
    const offset = this.ticks * FRAME_SAMPLES;
    this.ticks++;
    const capacity = Math.ceil(this.windowMs / 10) * 2 * FRAME_SAMPLES; // room for late, bunched ticks
    if (offset + FRAME_SAMPLES > capacity) return;
    for (const { name, frame, gain } of inputs) {
      if (!this.firstSeenMs.has(name)) this.firstSeenMs.set(name, relative);
      this.present.add(name);
      let buffer = this.samples.get(name);
      if (!buffer) {
        buffer = new Float32Array(capacity);
        this.samples.set(name, buffer);
      }
      if (!frame || gain === 0) continue; // the buffer was zeroed: silence
      for (let i = 0; i < FRAME_SAMPLES; i++) buffer[offset + i] = frame[i]! * gain;
    }
  }

  /** Closes the window in progress (the end of a run). */
  finish(): void {
    this.closeWindow();
    this.windowIndex = -1;
  }

  private closeWindow(): void {
    const length = this.ticks * FRAME_SAMPLES;
    // A window with under 100 ms of audio (the run ended just after it began) says too little.
    if (this.windowIndex >= 0 && this.ticks >= 10) {
      const speakers = new Map<string, SpeakerLevel>();
      for (const name of this.present) {
        const buffer = this.samples.get(name)!;
        const used = buffer.subarray(0, Math.min(length, buffer.length));
        const tones = new Map<number, number>();
        for (const hz of [...(this.frequencies.get(name) ?? []), ...(this.frequencies.get(ANY_SPEAKER) ?? [])]) tones.set(hz, toneDbfs(toneLevel(used, hz)));
        speakers.set(name, { dbfs: dbfs(rms(used)), tones });
      }
      this.windows.push({ startMs: this.windowIndex * this.windowMs, endMs: (this.windowIndex + 1) * this.windowMs, speakers });
    }
    for (const buffer of this.samples.values()) buffer.fill(0);
    this.present.clear();
    this.ticks = 0;
  }
}
