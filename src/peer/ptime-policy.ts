// Which Opus packet duration our sender uses. 10 ms packets cut mouth-to-ear latency by about
// 10 ms but double the packet rate, which costs CPU only in bigger meshes (BENCHMARKS.md measures
// both): with `auto` (the default) a mesh of up to four members uses 10 ms and a larger one
// 20 ms. Growing past four switches at once (the packet rate is what hurts); shrinking waits
// until the room has stayed small for a while, so a member coming and going does not
// renegotiate every link each time. Pure: room sizes and times in, a packet time out.

export type PtimeSetting = 'auto' | 10 | 20;
export type PtimeMs = 10 | 20;

/** The largest room that gets 10 ms packets under `auto`, counting ourselves. */
export const AUTO_PTIME_SMALL_ROOM = 4;
/** How long a room must have stayed small before `auto` goes back to 10 ms. */
export const AUTO_PTIME_SETTLE_MS = 10_000;

export function parsePtimeSetting(value: string): PtimeSetting {
  if (value === 'auto') return 'auto';
  if (value === '10') return 10;
  if (value === '20') return 20;
  throw new Error(`--ptime takes auto, 10 or 20, not "${value}"`);
}

export class PtimePolicy {
  private current: PtimeMs;
  private smallSince: number | null = null;

  constructor(readonly setting: PtimeSetting) {
    this.current = setting === 'auto' ? 10 : setting;
  }

  get ptimeMs(): PtimeMs {
    return this.current;
  }

  /**
   * The room has `members` members now (us included). Returns the packet time to use from now
   * on, and, while a change waits for the room to settle, when to ask again.
   */
  update(members: number, now: number): { ptimeMs: PtimeMs; recheckInMs: number | null } {
    if (this.setting !== 'auto') return { ptimeMs: this.current, recheckInMs: null };
    if (members > AUTO_PTIME_SMALL_ROOM) {
      this.current = 20;
      this.smallSince = null;
      return { ptimeMs: 20, recheckInMs: null };
    }
    if (this.current === 10) return { ptimeMs: 10, recheckInMs: null };
    this.smallSince ??= now;
    const waited = now - this.smallSince;
    if (waited < AUTO_PTIME_SETTLE_MS) return { ptimeMs: 20, recheckInMs: AUTO_PTIME_SETTLE_MS - waited };
    this.current = 10;
    this.smallSince = null;
    return { ptimeMs: 10, recheckInMs: null };
  }

  /** A fresh start (we joined a room anew): the room's size decides at once, no settling. */
  reset(members: number): PtimeMs {
    if (this.setting === 'auto') this.current = members > AUTO_PTIME_SMALL_ROOM ? 20 : 10;
    this.smallSince = null;
    return this.current;
  }
}
