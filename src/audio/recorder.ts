// Recordings on one timeline: each remote peer gets <dir>/<safe name>.wav, starting with the
// silence of the ticks before it came, then one frame (or silence) for every tick after. All
// files therefore line up sample for sample with each other and with the run.
//
// Long runs in a churning room: a peer gone for RECORDING_LIMITS.closeAfterGoneMs has its file
// finalised and closed (one that comes back later gets a new file, <name>-2.wav, padded to the
// same timeline), and a run opens at most RECORDING_LIMITS.maxFiles files, so neither file
// handles nor files on disk grow with the number of names seen. A file that cannot be opened or
// written (disk full, permissions) is reported and stops where its last whole frame ended.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FRAMES_PER_SECOND, silentFrame } from './format.js';
import type { PulledFrame } from './remote-audio.js';
import { WavFileSink } from './wav-writer.js';

/** README.md ("Recordings") documents these numbers. */
export const RECORDING_LIMITS = {
  /** Files one run opens at most; later newcomers are mixed but not recorded. */
  maxFiles: 256,
  /** A peer gone this long has its file closed. */
  closeAfterGoneMs: 60_000,
} as const;

export interface RecorderOptions {
  /** Something went wrong with a file: told once per file, in words for a person. */
  onProblem?: (message: string) => void;
  maxFiles?: number;
  closeAfterGoneMs?: number;
}

interface Recording {
  file: WavFileSink;
  /** The tick the peer left at, while it is gone. */
  goneSince: number | null;
}

export class TimelineRecorder {
  private readonly files = new Map<string, Recording>();
  private readonly usedFileNames = new Set<string>();
  private readonly maxFiles: number;
  private readonly closeAfterGoneTicks: number;
  private opened = 0;
  private capReported = false;

  constructor(
    private readonly dir: string,
    private readonly options: RecorderOptions = {},
  ) {
    this.maxFiles = options.maxFiles ?? RECORDING_LIMITS.maxFiles;
    this.closeAfterGoneTicks = Math.round(((options.closeAfterGoneMs ?? RECORDING_LIMITS.closeAfterGoneMs) / 1000) * FRAMES_PER_SECOND);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new Error(`cannot create the recording folder ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; choose another --record-dir`);
    }
    // Found now rather than when the first roommate arrives, mid-call.
    try {
      accessSync(dir, constants.W_OK);
    } catch (error) {
      throw new Error(`cannot write to the recording folder ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; fix its permissions or choose another --record-dir`);
    }
  }

  /** Opens a file for a peer heard for the first time, padded to the current tick. */
  track(name: string, currentTick: number): void {
    const existing = this.files.get(name);
    if (existing) {
      existing.goneSince = null;
      return;
    }
    if (this.opened >= this.maxFiles) {
      if (!this.capReported) this.problem(`not recording ${name} or anyone new: this run already opened ${this.maxFiles} recording files (the limit for a churning room); their audio is still mixed`);
      this.capReported = true;
      return;
    }
    const path = join(this.dir, `${this.uniqueFileName(name)}.wav`);
    let file: WavFileSink;
    try {
      file = new WavFileSink(path);
    } catch (error) {
      this.problem(`cannot record ${name}: ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return;
    }
    this.opened++;
    file.onFailure((error) => this.problem(error.message));
    file.writeSilence(currentTick);
    this.files.set(name, { file, goneSince: null });
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** The peer left at this tick; its file stays on the timeline (silence) until closed for good. */
  gone(name: string, currentTick: number): void {
    const recording = this.files.get(name);
    if (recording && recording.goneSince === null) recording.goneSince = currentTick;
  }

  /**
   * One tick: every recorded peer gets its frame, or silence when it had none. Returns the
   * peers whose files were closed this tick, gone too long, for the caller to forget as well.
   */
  write(frames: readonly Pick<PulledFrame, 'name' | 'frame'>[], currentTick: number): string[] {
    for (const { name, frame } of frames) this.files.get(name)?.file.write(frame ?? silentFrame());
    const closed: string[] = [];
    for (const [name, recording] of this.files) {
      if (recording.goneSince === null || currentTick - recording.goneSince < this.closeAfterGoneTicks) continue;
      this.files.delete(name);
      closed.push(name);
      recording.file.close().catch((error: Error) => this.problem(`closing the recording of ${name} failed: ${error.message}`));
    }
    return closed;
  }

  /** Files open now. */
  get openFiles(): number {
    return this.files.size;
  }

  /** Finalises every file (headers with the true length). */
  async close(): Promise<void> {
    const recordings = [...this.files.values()];
    this.files.clear();
    const results = await Promise.allSettled(recordings.map(({ file }) => file.close()));
    for (const result of results) if (result.status === 'rejected') this.problem(`finalising a recording failed: ${(result.reason as Error).message}`);
  }

  private problem(message: string): void {
    this.options.onProblem?.(message);
  }

  /** Names that differ only in unsafe characters still get files of their own. */
  private uniqueFileName(name: string): string {
    const base = safeFileName(name);
    let file = base;
    for (let n = 2; this.usedFileNames.has(file); n++) file = `${base}-${n}`;
    this.usedFileNames.add(file);
    return file;
  }
}

/** A peer name as a file name: no path separators, no leading dots, nothing a shell trips on. */
export function safeFileName(name: string): string {
  const cleaned = name.replace(/[^\p{L}\p{N}_.-]+/gu, '_').replace(/^\.+/, '_');
  return cleaned.length > 0 ? cleaned.slice(0, 64) : 'peer';
}
