// Signed resume tokens: a member's claim to its place in a room (room, id, name) after a lost
// connection, verifiable by any process that holds the key — a restarted server, or another
// node of a cluster — without having issued it. HMAC-SHA256 over the claim and an expiry.
// Pure but for the hash.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface ResumeClaim {
  room: string;
  id: string;
  name: string;
}

/** A token outlives the connection it was issued on by this long; each (re)join issues a new one. */
export const RESUME_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
const VERSION = 'r1';

export type ResumeVerdict = { ok: true; claim: ResumeClaim } | { ok: false; reason: 'malformed' | 'forged' | 'expired' };

export class ResumeTokens {
  constructor(private readonly key: Buffer) {
    if (key.length < 16) throw new Error('the resume-token key needs at least 16 bytes');
  }

  issue(claim: ResumeClaim, nowMs: number): string {
    const payload = Buffer.from(JSON.stringify({ r: claim.room, i: claim.id, n: claim.name, e: nowMs + RESUME_TOKEN_TTL_MS })).toString('base64url');
    return `${VERSION}.${payload}.${this.sign(payload)}`;
  }

  verify(token: string, nowMs: number): ResumeVerdict {
    const [version, payload, signature, ...rest] = token.split('.');
    if (version !== VERSION || !payload || !signature || rest.length > 0) return { ok: false, reason: 'malformed' };
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'forged' };
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const { r, i, n, e } = (body ?? {}) as Record<string, unknown>;
    if (typeof r !== 'string' || typeof i !== 'string' || typeof n !== 'string' || typeof e !== 'number') return { ok: false, reason: 'malformed' };
    if (e < nowMs) return { ok: false, reason: 'expired' };
    return { ok: true, claim: { room: r, id: i, name: n } };
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(`${VERSION}.${payload}`).digest('base64url');
  }
}
