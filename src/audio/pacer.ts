// What paces the engine's ticks: a drift-free 10 ms timer, or an output device that asks for
// each frame with its own clock. With a device, the timer only stands in while the device is
// not asking (PulseAudio's ALSA plugin takes up to ~1.8 s to start a stream; a device can
// hiccup), so capture and sending never stall; frames mixed meanwhile are dropped by the sink.
import type { AudioSink } from './backend.js';
import { FrameClock, type ClockStats } from './clock.js';

/** A paced sink that has not asked for a frame this long is stood in for by the timer. */
export const STAND_IN_AFTER_MS = 30;

export type PacerStats = { pacedBy: 'output device'; standInTicks: number } | ({ pacedBy: 'timer' } & ClockStats);

export class TickPacer {
  private readonly clock: FrameClock;
  private paced = false;
  private lastPacedTick = 0;
  private standInTicks = 0;

  constructor(
    private readonly onTick: () => void,
    private readonly now: () => number = () => performance.now(),
    /** The timer skipped frames after a stall (see FrameClock); not called while a device paces. */
    onSkip?: () => void,
  ) {
    this.clock = new FrameClock(
      () => {
        if (!this.paced) this.onTick();
        else if (this.now() - this.lastPacedTick > STAND_IN_AFTER_MS) {
          this.standInTicks++;
          this.onTick();
        }
      },
      now,
      () => {
        if (!this.paced) onSkip?.();
      },
    );
  }

  /** Starts ticking; a sink with a clock of its own paces the ticks from then on. */
  start(sink: AudioSink): void {
    if (sink.setPacer) {
      this.paced = true;
      this.lastPacedTick = this.now();
      sink.setPacer(() => {
        if (!this.paced) return;
        this.lastPacedTick = this.now();
        this.onTick();
      });
    }
    this.clock.start();
  }

  stop(): void {
    this.clock.stop();
    this.paced = false;
  }

  get stats(): PacerStats {
    return this.paced ? { pacedBy: 'output device', standInTicks: this.standInTicks } : { pacedBy: 'timer', ...this.clock.stats };
  }
}
