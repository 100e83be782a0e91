// Members an admin kicked: their resume claims are refused, so a kicked member cannot take its
// place back with the resume token it still holds. Bounded and expiring, because the list is
// kept in memory and filled by admins' requests: an entry is needed only as long as a resume
// token issued before the kick could still be valid. Pure; the clock is passed in.
import { RESUME_TOKEN_TTL_MS } from './resume-tokens.js';

export interface KickedMembersOptions {
  /** How long an entry is kept: as long as a resume token lives (default RESUME_TOKEN_TTL_MS). */
  ttlMs?: number;
  /** At most this many entries; the oldest go first when a new kick would exceed it. */
  maxEntries?: number;
}

export const DEFAULT_MAX_KICKED_MEMBERS = 10_000;

export class KickedMembers {
  /** Member id → when its entry expires; a Map keeps insertion order, so the oldest comes first. */
  private readonly expiries = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(options: KickedMembersOptions = {}) {
    this.ttlMs = options.ttlMs ?? RESUME_TOKEN_TTL_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_KICKED_MEMBERS;
  }

  add(memberId: string, nowMs: number): void {
    this.prune(nowMs);
    this.expiries.delete(memberId);
    this.expiries.set(memberId, nowMs + this.ttlMs);
    this.dropOldestBeyondCap();
  }

  has(memberId: string, nowMs: number): boolean {
    const expiry = this.expiries.get(memberId);
    if (expiry === undefined) return false;
    if (expiry > nowMs) return true;
    this.expiries.delete(memberId);
    return false;
  }

  /** The live entries (member id, expiry), oldest first: what a restarted server needs. */
  entries(nowMs: number): Array<[string, number]> {
    this.prune(nowMs);
    return [...this.expiries];
  }

  /** Takes back entries kept from before a restart; expired ones are dropped. */
  restore(entries: ReadonlyArray<readonly [string, number]>, nowMs: number): void {
    for (const [id, expiry] of [...entries].sort((a, b) => a[1] - b[1])) {
      if (expiry <= nowMs) continue;
      this.expiries.delete(id);
      this.expiries.set(id, expiry);
    }
    this.dropOldestBeyondCap();
  }

  get size(): number {
    return this.expiries.size;
  }

  /** At most maxEntries: the oldest go first. */
  private dropOldestBeyondCap(): void {
    while (this.expiries.size > this.maxEntries) {
      const oldest = this.expiries.keys().next().value;
      if (oldest === undefined) break;
      this.expiries.delete(oldest);
    }
  }

  /** Entries expire in insertion order (one ttl for all): drop from the front while expired. */
  private prune(nowMs: number): void {
    for (const [id, expiry] of this.expiries) {
      if (expiry > nowMs) break;
      this.expiries.delete(id);
    }
  }
}
