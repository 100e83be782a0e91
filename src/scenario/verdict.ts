// Judges expectations on what was measured: hearing windows (hearing-monitor.ts) and click
// delays (latency-probe.ts). Pure. Every verdict carries one line a person can act on.
import { AT_SPAN_MS, type Expectation, type TimeSpan } from './expectation.js';
import type { HearingWindow } from './hearing-monitor.js';

export interface Verdict {
  expectation: Expectation;
  passed: boolean;
  /** One line: what was measured, and for a failure why it fails. */
  reason: string;
  /** The figure the verdict rests on (dBFS or ms), when there is one. */
  measured?: number;
}

type HearingExpectation = Extract<Expectation, { kind: 'hears' | 'silent' }>;

/** A named peer counts as connected in a window when its audio arrived in at least half the ticks. */
const MIN_RECEIVED_SHARE = 0.5;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const level = (db: number): string => (Number.isFinite(db) ? `${db.toFixed(1)} dBFS` : 'silence');

/** The windows a span looks at; `runEndMs` ends "during" and open "from" spans. */
export function windowsIn(span: TimeSpan, windows: readonly HearingWindow[]): HearingWindow[] {
  switch (span.mode) {
    case 'during':
      return [...windows];
    case 'by':
      return windows.filter((w) => w.endMs <= span.toMs);
    case 'at':
      return windows.filter((w) => w.startMs >= span.fromMs && w.endMs <= span.fromMs + AT_SPAN_MS);
    case 'from':
      return windows.filter((w) => w.startMs >= span.fromMs && (span.toMs === undefined || w.endMs <= span.toMs));
  }
}

/** The level an expectation reads from one window: a speaker's (tone) level, or the loudest one's. */
function levelIn(window: HearingWindow, speaker: string | null, frequencyHz: number | undefined): { dbfs: number; who: string | null } {
  const read = (name: string): number => {
    const entry = window.speakers.get(name);
    if (!entry) return Number.NEGATIVE_INFINITY;
    return frequencyHz === undefined ? entry.dbfs : (entry.tones.get(frequencyHz) ?? Number.NEGATIVE_INFINITY);
  };
  if (speaker !== null) return { dbfs: read(speaker), who: speaker };
  let loudest = { dbfs: Number.NEGATIVE_INFINITY, who: null as string | null };
  for (const name of window.speakers.keys()) {
    const db = read(name);
    if (db > loudest.dbfs) loudest = { dbfs: db, who: name };
  }
  return loudest;
}

/** Power average of window levels: what a listener heard over those windows together. */
function averageDbfs(levels: readonly number[]): number {
  if (levels.length === 0) return Number.NEGATIVE_INFINITY;
  const power = levels.reduce((sum, db) => sum + (Number.isFinite(db) ? 10 ** (db / 10) : 0), 0) / levels.length;
  return power > 0 ? 10 * Math.log10(power) : Number.NEGATIVE_INFINITY;
}

function describeSpan(span: TimeSpan): string {
  switch (span.mode) {
    case 'during':
      return 'during the run';
    case 'by':
      return `by ${seconds(span.toMs)}`;
    case 'at':
      return `at ${seconds(span.fromMs)}`;
    case 'from':
      return span.toMs === undefined ? `from ${seconds(span.fromMs)}` : `from ${seconds(span.fromMs)} to ${seconds(span.toMs)}`;
  }
}

export function judgeHearing(expectation: HearingExpectation, windows: readonly HearingWindow[], firstSeenMs: ReadonlyMap<string, number>): Verdict {
  const { span, frequencyHz } = expectation;
  const speaker = expectation.speaker;
  const what = frequencyHz === undefined ? '' : ` at ${frequencyHz} Hz`;
  const verdict = (passed: boolean, reason: string, measured?: number): Verdict => ({ expectation, passed, reason, ...(measured !== undefined && Number.isFinite(measured) ? { measured: Math.round(measured * 10) / 10 } : {}) });
  const inSpan = windowsIn(span, windows);
  if (inSpan.length === 0) return verdict(false, `nothing was measured ${describeSpan(span)}: the run ended before (make it longer), or ${expectation.listener} was not in the room yet`);
  if (speaker !== null && !firstSeenMs.has(speaker)) return verdict(false, `${speaker} never joined ${expectation.listener}'s room`);
  const levels = inSpan.map((w) => levelIn(w, speaker, frequencyHz));

  if (expectation.kind === 'hears') {
    const min = expectation.minDbfs;
    const heardName = expectation.speaker;
    if (span.mode === 'at') {
      const heard = averageDbfs(levels.map((l) => l.dbfs));
      return verdict(heard >= min, `${speaker}${what} at ${level(heard)} over the second from ${seconds(span.fromMs)} (needed ≥ ${min})`, heard);
    }
    if (span.mode === 'from') {
      const quiet = inSpan.findIndex((_, i) => !(levels[i]!.dbfs >= min));
      if (quiet >= 0) return verdict(false, `${speaker}${what} dropped to ${level(levels[quiet]!.dbfs)} at ${seconds(inSpan[quiet]!.startMs)} (needed ≥ ${min} throughout ${describeSpan(span)})`, levels[quiet]!.dbfs);
      const weakest = Math.min(...levels.map((l) => l.dbfs));
      return verdict(true, `${speaker}${what} heard throughout ${describeSpan(span)}, never below ${level(weakest)}`, weakest);
    }
    // during / by: heard in at least one window.
    const best = levels.reduce((a, b) => (b.dbfs > a.dbfs ? b : a));
    const bestAt = inSpan[levels.indexOf(best)]!;
    if (best.dbfs >= min) {
      const firstAt = inSpan[levels.findIndex((l) => l.dbfs >= min)]!;
      return verdict(true, `${speaker}${what} heard from ${seconds(firstAt.startMs)}, up to ${level(best.dbfs)}`, best.dbfs);
    }
    let hint = '';
    if (frequencyHz !== undefined) {
      const overall = Math.max(...inSpan.map((w) => w.speakers.get(heardName)?.dbfs ?? Number.NEGATIVE_INFINITY));
      if (overall >= min) hint = `; ${speaker} was heard at ${level(overall)}, but not at ${frequencyHz} Hz`;
    }
    return verdict(false, `${speaker}${what} never reached ${min} dBFS ${describeSpan(span)} (loudest half second: ${level(best.dbfs)} at ${seconds(bestAt.startMs)})${hint}`, best.dbfs);
  }

  const max = expectation.maxDbfs;
  const subject = speaker ?? 'anybody';
  // Silence proves something only from a peer whose audio arrives (muted, or at volume 0).
  // The half seconds before its audio first arrives (still connecting) and after it last does
  // (it left) say nothing and are left out; a gap in between fails, and so does audio that
  // never arrived at all.
  let judged = inSpan.map((_, i) => i);
  let arrivalNote = '';
  if (speaker !== null) {
    const arriving = inSpan.map((w) => (w.speakers.get(speaker)?.received ?? 0) >= MIN_RECEIVED_SHARE);
    const first = arriving.indexOf(true);
    const last = arriving.lastIndexOf(true);
    if (first < 0) return verdict(false, `${speaker}'s audio never arrived ${describeSpan(span)} (not connected, or gone before), so its silence says nothing`);
    const absent = arriving.findIndex((yes, i) => !yes && i > first && i < last);
    if (absent >= 0) return verdict(false, `${speaker}'s audio was not arriving at ${seconds(inSpan[absent]!.startMs)} (disconnected for a while), so its silence says nothing`);
    judged = judged.slice(first, last + 1);
    if (first > 0 || last < inSpan.length - 1) arrivalNote = ` while its audio arrived (${seconds(inSpan[first]!.startMs)}–${seconds(inSpan[last]!.endMs)})`;
  }
  const heardAt = judged.find((i) => levels[i]!.dbfs >= max) ?? -1;
  if (heardAt >= 0) {
    const who = levels[heardAt]!.who ?? subject;
    const window = inSpan[heardAt]!;
    // A frame that did not arrive is a step in the audio, and a step sounds at every frequency.
    const missing = frequencyHz === undefined ? 0 : 1 - (window.speakers.get(who)?.received ?? 1);
    const gapHint = missing > 0 ? `; ${who} had no frame for ${Math.round(missing * (window.endMs - window.startMs))} ms of that half second (late, lost, or not sending), and a gap sounds at every frequency` : '';
    return verdict(false, `${who}${what} was heard at ${level(levels[heardAt]!.dbfs)} at ${seconds(window.startMs)} (needed below ${max} ${describeSpan(span)})${gapHint}`, levels[heardAt]!.dbfs);
  }
  const loudest = Math.max(...judged.map((i) => levels[i]!.dbfs));
  return verdict(true, `${subject}${what} stayed below ${max} dBFS ${describeSpan(span)}${arrivalNote} (loudest: ${level(loudest)})`, loudest);
}

/** Fewer clicks than this measure nothing. */
export const MIN_CLICKS = 3;

/** `truncated`: the span outlasted the probe's logs (10 minutes), so only its start was measured. */
export function judgeLatency(expectation: Extract<Expectation, { kind: 'latency' }>, delaysMs: readonly number[], clicksSent: number, truncated = false): Verdict {
  const { speaker, listener, maxMs } = expectation;
  if (clicksSent === 0) return { expectation, passed: false, reason: `${speaker} sent no clicks ${describeSpan(expectation.span)}: give ${speaker} the input "clicks"` };
  if (delaysMs.length < MIN_CLICKS) return { expectation, passed: false, reason: `${listener} heard ${delaysMs.length} of ${speaker}'s ${clicksSent} clicks; at least ${MIN_CLICKS} are needed to measure` };
  const sorted = [...delaysMs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const rounded = Math.round(median * 10) / 10;
  return {
    expectation,
    passed: median <= maxMs,
    reason: `median ${rounded} ms over ${delaysMs.length} clicks (${Math.round(sorted[0]! * 10) / 10}–${Math.round(sorted.at(-1)! * 10) / 10} ms), needed ≤ ${maxMs} ms${truncated ? '; measured over the first 10 minutes of the span only (a probe logs no more)' : ''}`,
    measured: rounded,
  };
}
