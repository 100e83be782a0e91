// What `voxroom join` would print while the live mixer owns the terminal: kept for the mixer's
// last lines instead of scrolling its screen away. No terminal UI here, so a bot never loads ink.
// Enough for `help`, `peers` of a small room, or a few events.
const MESSAGE_LINES = 12;

/**
 * The last messages for the mixer's bottom lines; whoever writes does not wait for a redraw.
 * Before the mixer shows, and once it is gone (release()), writes go to the process's streams.
 */
export class MessageLog {
  private lines: string[] = [];
  private listener: (() => void) | null = null;
  private released = false;
  /** Whether a mixer draws these lines; until then (start-up) they print as usual. */
  private displayed = false;

  write(text: string, stream: 'stdout' | 'stderr' = 'stderr'): void {
    if (this.released || !this.displayed) {
      (stream === 'stdout' ? process.stdout : process.stderr).write(text);
      return;
    }
    for (const line of text.split('\n')) if (line.trim() !== '') this.lines.push(line.trimEnd());
    this.lines = this.lines.slice(-MESSAGE_LINES);
    this.listener?.();
  }

  get recent(): readonly string[] {
    return this.lines;
  }

  onChange(listener: (() => void) | null): void {
    this.listener = listener;
  }

  markDisplayed(): void {
    this.displayed = true;
  }

  release(): void {
    this.released = true;
  }
}

