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

/**
 * How long the shared ticker waits before its next wake, for a wake that began at `wokeAt` and
 * ended at `now` (periods of `frameMs` counted from `epoch`). Normally until the next period
 * begins; but when a new period began while the wake worked (or waited for a CPU), that period's
 * tick is already due: waiting for the one after would run it a whole frame late, so no wait.
 */
export function delayToNextWake(epoch: number, frameMs: number, wokeAt: number, now: number): number {
  const periodOf = (t: number): number => Math.floor((t - epoch) / frameMs);
  if (periodOf(now) > periodOf(wokeAt)) return 0;
  return epoch + (periodOf(now) + 1) * frameMs - now;
}

/**
 * One timer for every clock of the process, on one 10 ms phase. Many peers in one process (a
 * load test, a scenario of bots) would otherwise wake the event loop once per peer per frame,
 * each at its own phase; on one phase, one wake runs every due tick. (Exported for tests, which
 * give it a clock of their own.)
 */
export class SharedTicker {
  private readonly clocks = new Set<FrameClock>();
  private readonly epoch: number;
  private nextWake: { cancel: () => void } | null = null;
  /** A wake is ticking its clocks: a clock added meanwhile is scheduled with them at its end. */
  private waking = false;

  constructor(
    private readonly frameMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.epoch = now();
  }

  /** The start of the current period: a clock starting now counts its ticks from here. */
  phase(now: number): number {
    return this.epoch + Math.floor((now - this.epoch) / this.frameMs) * this.frameMs;
  }

  add(clock: FrameClock): void {
    this.clocks.add(clock);
    if (!this.nextWake && !this.waking) this.schedule(this.now());
  }

  remove(clock: FrameClock): void {
    this.clocks.delete(clock);
    if (this.clocks.size === 0 && this.nextWake) {
      this.nextWake.cancel();
      this.nextWake = null;
    }
  }

  private schedule(wokeAt: number): void {
    const delay = delayToNextWake(this.epoch, this.frameMs, wokeAt, this.now());
    // A tick already due runs after the I/O that is waiting (setImmediate follows the poll
    // phase, where wrtc hands over received audio), not after a timer's 1 ms minimum.
    if (delay === 0) {
      const immediate = setImmediate(() => this.run());
      this.nextWake = { cancel: () => clearImmediate(immediate) };
    } else {
      const timeout = setTimeout(() => this.run(), delay);
      this.nextWake = { cancel: () => clearTimeout(timeout) };
    }
  }

  private run(): void {
    this.nextWake = null;
    // Every clock is judged by when this wake began: the clocks ticked before it in the same
    // wake are work it waits behind on every wake alike (a steady offset, not lateness), and
    // counting them made the last of 40 peers in a load process late whenever the timer was.
    const wokeAt = this.now();
    this.waking = true;
    for (const clock of [...this.clocks]) {
      try {
        clock.wake(wokeAt);
      } catch (error) {
        // One engine's failure must not stop every other clock of the process: it is rethrown
        // on its own, after the others have ticked. (Late ticks run later, in their own
        // setImmediate: a throw there is the process's, as any other callback's.)
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    this.waking = false;
    if (this.clocks.size > 0 && !this.nextWake) this.schedule(wokeAt);
  }
}

const sharedTicker = new SharedTicker(10);

export class FrameClock {
  readonly stats: ClockStats = { ticks: 0, lateTicks: 0, skippedFrames: 0 };
  private schedule: TickSchedule | null = null;

  constructor(
    private readonly onTick: (tick: number) => void,
    private readonly now: () => number = () => performance.now(),
    /** Frames were skipped after a long stall (called before the next tick). */
    private readonly onSkip?: () => void,
    /** The process's shared ticker, but in tests. */
    private readonly ticker: SharedTicker = sharedTicker,
  ) {}

  start(): void {
    if (this.schedule) return;
    this.schedule = new TickSchedule(this.ticker.phase(this.now()));
    this.ticker.add(this);
    this.wake();
  }

  stop(): void {
    this.ticker.remove(this);
    this.schedule = null;
  }

  get running(): boolean {
    return this.schedule !== null;
  }

  /**
   * Runs the ticks that are due at `at` (the shared ticker calls this every 10 ms, with the time
   * it woke). A wake that is late runs its ticks after the I/O that piled up meanwhile
   * (setImmediate runs after the event loop's poll phase): wrtc hands over received audio
   * through that poll, and ticks that ran before it found the jitter buffers empty and mixed
   * silence although every frame had arrived in time (a 150 ms block of the event loop made a
   * 140 ms gap in a recorded mix). After a stall too long to catch up, `onSkip` runs first, once
   * that audio is in, so the backlog the skipped ticks would have played can go.
   */
  wake(at: number = this.now()): void {
    const schedule = this.schedule;
    if (!schedule) return;
    const { ticks, skipped } = schedule.due(at);
    if (ticks === 0) return;
    if (ticks === 1 && skipped === 0) {
      this.onTick(this.stats.ticks++);
      return;
    }
    setImmediate(() => {
      if (this.schedule !== schedule) return;
      this.stats.skippedFrames += skipped;
      this.stats.lateTicks += ticks - 1;
      if (skipped > 0) this.onSkip?.();
      for (let i = 0; i < ticks && this.schedule === schedule; i++) this.onTick(this.stats.ticks++);
    });
  }
}
