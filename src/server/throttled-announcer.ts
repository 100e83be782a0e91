// Announces changes of a key (a member's position) at most once per interval: the first change
// goes out at once, later ones within the interval are folded into one announcement at its end,
// which always carries the latest value. A walk at 20 moves a second then costs the room at most
// 1000 / interval messages a second per walker, and nobody misses where it stopped.
export class ThrottledAnnouncer<K> {
  private readonly lastSent = new Map<K, number>();
  private readonly pending = new Map<K, NodeJS.Timeout>();

  constructor(
    private readonly intervalMs: number,
    private readonly announce: (key: K) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  changed(key: K): void {
    if (this.pending.has(key)) return; // the scheduled announcement will carry this change
    const wait = (this.lastSent.get(key) ?? -Infinity) + this.intervalMs - this.now();
    if (wait <= 0) return this.send(key);
    const timer = setTimeout(() => {
      this.pending.delete(key);
      this.send(key);
    }, wait);
    timer.unref();
    this.pending.set(key, timer);
  }

  /** The key is gone (a member left): nothing more is announced about it. */
  forget(key: K): void {
    clearTimeout(this.pending.get(key));
    this.pending.delete(key);
    this.lastSent.delete(key);
  }

  close(): void {
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    this.lastSent.clear();
  }

  private send(key: K): void {
    this.lastSent.set(key, this.now());
    this.announce(key);
  }
}
