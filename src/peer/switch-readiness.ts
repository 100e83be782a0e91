// Make-before-break between two media topologies: the new one runs beside the old, its audio
// unplayed, until it carries every roommate the old one was carrying; then it takes over and
// the old one closes. This decides "carries everyone". Pure: arrivals in, a verdict out.
//
// "Carries" means sound, not just chunks: a new connection's receiver delivers chunks of
// silence before the sender's packets flow (WebRTC's receive buffer plays out zeros), so
// counting any chunk let a listener switch to an SFU path that was still silent for everyone,
// and its mix went quiet for 110 ms in a loaded test run. A roommate silent on the old path in
// the last 500 ms is not waited for: if it starts to talk just as the switch happens and the
// new path does not carry it yet, its first words can be lost (5 chunks from anyone make the
// path count as up when nobody talked).

/** Chunks a roommate must have delivered on the new path before it counts as carried there. */
const CHUNKS_NEEDED = 5;
/** A roommate heard on the old path this recently must be carried by the new one first. */
const RECENT_MS = 500;
/** A chunk whose loudest sample is below this (about −60 dBFS) carries no sound. */
const AUDIBLE_PEAK = 33;

/** Whether a chunk of samples carries any sound (the readiness's `audible` arguments). */
export function isAudible(samples: Int16Array): boolean {
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    if (sample >= AUDIBLE_PEAK || sample <= -AUDIBLE_PEAK) return true;
  }
  return false;
}

export class SwitchReadiness {
  private readonly lastSoundOnOld = new Map<string, number>();
  private readonly soundOnNew = new Map<string, number>();
  private chunksOnNew = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Audio from the path that plays now. */
  heardOnOld(name: string, audible: boolean): void {
    if (audible) this.lastSoundOnOld.set(name, this.now());
  }

  /** Audio from the path being brought up. */
  heardOnNew(name: string, audible: boolean): void {
    this.chunksOnNew++;
    if (audible) this.soundOnNew.set(name, (this.soundOnNew.get(name) ?? 0) + 1);
  }

  /** True once everyone heard on the old path lately sounds on the new one (and anything at all arrives there). */
  get ready(): boolean {
    if (this.chunksOnNew < CHUNKS_NEEDED) return false;
    const now = this.now();
    for (const [name, at] of this.lastSoundOnOld) {
      if (now - at <= RECENT_MS && (this.soundOnNew.get(name) ?? 0) < CHUNKS_NEEDED) return false;
    }
    return true;
  }
}
