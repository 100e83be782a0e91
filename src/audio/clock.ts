// A drift-free 10 ms clock. Each tick n is due at start + n·10 ms on the monotonic clock, so
// timer jitter never accumulates: a late timer is followed by catch-up ticks, an early one by a
// longer wait. After a long stall (a paused process) it skips ahead instead of bursting.
export interface ClockStats {
  ticks: number;
  /** Ticks that ran more than one frame late (caught up). */
  lateTicks: number;
  /** Frames skipped after a stall longer than maxCatchUpFrames. */
  skippedFrames: number;
}

/** Pure scheduling arithmetic, separate from timers so it can be tested exactly. */
export class TickSchedule {
  private startedAt: number;
  private next = 0;

  constructor(now: number, readonly frameMs = 10, readonly maxCatchUpFrames = 20) {
    this.startedAt = now;
  }

  /** How many ticks are due at `now`, and how many frames were skipped after a stall. */
  due(now: number): { ticks: number; skipped: number } {
    const elapsedFrames = Math.floor((now - this.startedAt) / this.frameMs) + 1;
    let ticks = elapsedFrames - this.next;
    let skipped = 0;
    if (ticks > this.maxCatchUpFrames) {
      skipped = ticks - 1;
      ticks = 1;
      this.next += skipped;
    }
    ticks = Math.max(0, ticks);
    this.next += ticks;
    return { ticks, skipped };
  }

  /** Milliseconds until the next tick is due. */
  delayUntilNext(now: number): number {
    return Math.max(0, this.startedAt + this.next * this.frameMs - now);
  }
}

export class FrameClock {
  readonly stats: ClockStats = { ticks: 0, lateTicks: 0, skippedFrames: 0 };
  private timer: NodeJS.Timeout | null = null;
  private schedule: TickSchedule | null = null;

  constructor(
    private readonly onTick: (tick: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.schedule) return;
    this.schedule = new TickSchedule(this.now());
    this.wake();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.schedule = null;
  }

  get running(): boolean {
    return this.schedule !== null;
  }

  private wake(): void {
    const schedule = this.schedule;
    if (!schedule) return;
    const { ticks, skipped } = schedule.due(this.now());
    this.stats.skippedFrames += skipped;
    if (ticks > 1) this.stats.lateTicks += ticks - 1;
    for (let i = 0; i < ticks && this.schedule === schedule; i++) this.onTick(this.stats.ticks++);
    if (this.schedule !== schedule) return;
    this.timer = setTimeout(() => this.wake(), schedule.delayUntilNext(this.now()));
  }
}
