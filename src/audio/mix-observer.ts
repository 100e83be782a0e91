// A read-only view of the engine's audio as it happens, for checks that listen along (a bot's
// expectations, a latency probe): what we send, and each tick's per-peer frames with the
// volume they are mixed at. Observers must be cheap: they run inside the 10 ms tick.
import type { Frame } from './format.js';

export interface ObservedInput {
  readonly name: string;
  /** The peer's frame this tick, before its volume; null when it had nothing to play. */
  readonly frame: Frame | null;
  /** The gain it is mixed at (1 = 100 %): its volume, times the distance law in a spatial room (without the pan). */
  readonly gain: number;
}

export interface MixObserver {
  /** Our own frame (silence while muted) at the moment it is handed to the network. */
  captured?(frame: Frame, atMs: number): void;
  /**
   * One tick: every remote peer's frame and gain, and the mix handed to the sink (stereo
   * interleaved in a spatial room). The input objects are reused on the next tick: copy what
   * you keep (the frames themselves are not reused).
   */
  mixed?(inputs: readonly ObservedInput[], mix: Frame, atMs: number): void;
}
