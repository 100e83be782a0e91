// The safety net's rules for a pair that is not connected in time, pinned like the negotiation
// roles so that both sides agree without talking: the newcomer tries again first (it made the
// first offer, so it is the one whose offer may have been lost); from then on only the impolite
// peer (higher id) does, so the two never start fresh connections against each other. Pure.

/** First check after this long; later checks back off up to MAX_RETRY_INTERVAL_MS. */
export const FIRST_RETRY_AFTER_MS = 5000;
export const MAX_RETRY_INTERVAL_MS = 20_000;

export type RetryDecision = { act: true; by: 'newcomer' | 'impolite' } | { act: false };

/** Whether this side re-offers on check number `attempt` (1, 2, …) of a pair not yet connected. */
export function decideRetry(attempt: number, weAreNewcomer: boolean, weArePolite: boolean): RetryDecision {
  if (attempt === 1) return weAreNewcomer ? { act: true, by: 'newcomer' } : { act: false };
  return weArePolite ? { act: false } : { act: true, by: 'impolite' };
}

/** Delay before check number `attempt`: 5, 5, 10, 20, 20 … s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(MAX_RETRY_INTERVAL_MS, FIRST_RETRY_AFTER_MS * 2 ** Math.max(0, attempt - 2));
}
