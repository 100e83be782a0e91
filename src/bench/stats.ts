// Small statistics and process measurements for the benchmarks.
import { readFileSync, readdirSync } from 'node:fs';

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/**
 * Below this many values the nearest-rank 95th percentile is the largest value, so no p95 is
 * given (the maximum is shown anyway).
 */
export const MIN_VALUES_FOR_P95 = 20;

export interface DelaySummary {
  clicks: number;
  medianMs: number;
  /** Null when there were fewer than MIN_VALUES_FOR_P95 delays. */
  p95Ms: number | null;
  maxMs: number;
}

/** Median, p95 and maximum of per-click delays (ms), rounded to 0.1 ms. */
export function summarizeDelays(delaysMs: readonly number[]): DelaySummary {
  return {
    clicks: delaysMs.length,
    medianMs: round(median(delaysMs)),
    p95Ms: delaysMs.length >= MIN_VALUES_FOR_P95 ? round(percentile(delaysMs, 95)) : null,
    maxMs: delaysMs.length > 0 ? round(Math.max(...delaysMs)) : Number.NaN,
  };
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticksPerSecond = 100;
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

export function rssMb(pid: number | 'self' = 'self'): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

export function threadCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Gap frames in the window, remote by remote: a remote whose count went down started again (its
 * link was made anew), and everything it counts now fell in the window. Summing the totals
 * instead read a negative share of gaps when a remote's count restarted in an overloaded mesh.
 */
export function missedSince(before: Map<string, number>, after: Map<string, number>): number {
  let missed = 0;
  for (const [name, count] of after) {
    const earlier = before.get(name) ?? 0;
    missed += count >= earlier ? count - earlier : count;
  }
  return missed;
}

/**
 * A process's mean CPU between two moments, % of one core, from its samples (when each was
 * taken, and its CPU since the one before): each sample's figure counts for the part of its
 * interval inside the window.
 */
export function cpuPercentOver(samples: readonly { receivedAt: number; cpuPercent: number }[], from: number, to: number): number {
  let weighted = 0;
  let covered = 0;
  for (let i = 1; i < samples.length; i++) {
    const overlap = Math.min(samples[i]!.receivedAt, to) - Math.max(samples[i - 1]!.receivedAt, from);
    if (overlap <= 0) continue;
    weighted += samples[i]!.cpuPercent * overlap;
    covered += overlap;
  }
  return covered > 0 ? weighted / covered : 0;
}
