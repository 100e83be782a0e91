// Recordings on one timeline: each remote peer gets <dir>/<safe name>.wav, starting with the
// silence of the ticks before it came, then one frame (or silence) for every tick after. All
// files therefore line up sample for sample with each other and with the run.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { silentFrame } from './format.js';
import type { PulledFrame } from './remote-audio.js';
import { WavFileSink } from './wav-writer.js';

export class TimelineRecorder {
  private readonly files = new Map<string, WavFileSink>();
  private readonly usedFileNames = new Set<string>();

  constructor(private readonly dir: string) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new Error(`cannot create the recording folder ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  /** Opens a file for a peer heard for the first time, padded to the current tick. */
  track(name: string, currentTick: number): void {
    if (this.files.has(name)) return;
    const recording = new WavFileSink(join(this.dir, `${this.uniqueFileName(name)}.wav`));
    recording.writeSilence(currentTick);
    this.files.set(name, recording);
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** One tick: every recorded peer gets its frame, or silence when it had none. */
  write(frames: readonly Pick<PulledFrame, 'name' | 'frame'>[]): void {
    for (const { name, frame } of frames) this.files.get(name)?.write(frame ?? silentFrame());
  }

  /** Finalises every file (headers with the true length). */
  async close(): Promise<void> {
    await Promise.all([...this.files.values()].map((file) => file.close()));
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
