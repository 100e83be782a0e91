// Make-before-break between two media topologies: the new one runs beside the old, its audio
// unplayed, until it carries every roommate the old one was carrying; then it takes over and
// the old one closes. This decides "carries everyone". Pure: arrivals in, a verdict out.

/** Chunks a roommate must have delivered on the new path before it counts as carried there. */
const CHUNKS_NEEDED = 5;
/** A roommate heard on the old path this recently must be carried by the new one first. */
const RECENT_MS = 500;

export class SwitchReadiness {
  private readonly lastOnOld = new Map<string, number>();
  private readonly chunksOnNew = new Map<string, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Audio from the path that plays now. */
  heardOnOld(name: string): void {
    this.lastOnOld.set(name, this.now());
  }

  /** Audio from the path being brought up. */
  heardOnNew(name: string): void {
    this.chunksOnNew.set(name, (this.chunksOnNew.get(name) ?? 0) + 1);
  }

  /** True once everyone the old path carried lately arrives on the new one (and anyone at all does). */
  get ready(): boolean {
    const now = this.now();
    const anyoneOnNew = [...this.chunksOnNew.values()].some((count) => count >= CHUNKS_NEEDED);
    if (!anyoneOnNew) return false;
    for (const [name, at] of this.lastOnOld) {
      if (now - at <= RECENT_MS && (this.chunksOnNew.get(name) ?? 0) < CHUNKS_NEEDED) return false;
    }
    return true;
  }
}
