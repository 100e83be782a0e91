// What `voxroom join` would print while the live mixer owns the terminal: kept for the mixer's
// last lines instead of scrolling its screen away. No terminal UI here, so a bot never loads ink.
const MESSAGE_LINES = 5;

/**
 * The last messages for the mixer's bottom lines; whoever writes does not wait for a redraw.
 * Once the mixer is gone (release()), writes go to the process's streams again.
 */
export class MessageLog {
  private lines: string[] = [];
  private listener: (() => void) | null = null;
  private released = false;

  write(text: string, stream: 'stdout' | 'stderr' = 'stderr'): void {
    if (this.released) {
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

  release(): void {
    this.released = true;
  }
}

