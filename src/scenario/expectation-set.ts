// The measuring side of a set of expectations: which bots listen along (a hearing monitor per
// listener, a latency probe per mouth-to-ear pair), and the verdicts at the end. Used by
// `voxroom join --expect` (one bot) and by scenarios (many bots in one process).
import type { MixObserver } from '../audio/mix-observer.js';
import type { Expectation } from './expectation.js';
import { ANY_SPEAKER, HearingMonitor } from './hearing-monitor.js';
import { LatencyProbe, combineObservers } from './latency-probe.js';
import { judgeHearing, judgeLatency, type Verdict } from './verdict.js';

export class ExpectationSet {
  private readonly monitors = new Map<string, HearingMonitor>();
  private readonly probes = new Map<Expectation, LatencyProbe>();

  constructor(readonly expectations: readonly Expectation[]) {
    const frequencies = new Map<string, Map<string, number[]>>();
    for (const expectation of expectations) {
      if (expectation.kind === 'latency') {
        this.probes.set(expectation, new LatencyProbe(expectation.speaker, expectation.listener, expectation.span));
        continue;
      }
      const byListener = frequencies.get(expectation.listener) ?? new Map<string, number[]>();
      frequencies.set(expectation.listener, byListener);
      if (expectation.frequencyHz !== undefined && expectation.speaker !== null) {
        byListener.set(expectation.speaker, [...(byListener.get(expectation.speaker) ?? []), expectation.frequencyHz]);
      }
    }
    // A "hears nobody … at HZ" listens for that tone from everybody: it is known only by then.
    for (const expectation of expectations) {
      if (expectation.kind !== 'silent' || expectation.speaker !== null || expectation.frequencyHz === undefined) continue;
      const byListener = frequencies.get(expectation.listener)!;
      byListener.set(ANY_SPEAKER, [...(byListener.get(ANY_SPEAKER) ?? []), expectation.frequencyHz]);
    }
    for (const [listener, byListener] of frequencies) this.monitors.set(listener, new HearingMonitor(byListener));
  }

  /** What listens along on this bot, if anything does. */
  observerFor(bot: string): MixObserver | undefined {
    const observers: MixObserver[] = [];
    const monitor = this.monitors.get(bot);
    if (monitor) observers.push(monitor);
    for (const probe of this.probes.values()) {
      if (probe.speaker === bot) observers.push(probe.mouth);
      if (probe.listener === bot) observers.push(probe.ear);
    }
    if (observers.length === 0) return undefined;
    return observers.length === 1 ? observers[0] : combineObservers(observers);
  }

  /** Times in the expectations count from here. */
  startAt(originMs: number): void {
    for (const monitor of this.monitors.values()) monitor.startAt(originMs);
    for (const probe of this.probes.values()) probe.startAt(originMs);
  }

  /** Nothing after this moment counts: call at the end of the run, before the bots leave. */
  stopAt(atMs: number): void {
    for (const monitor of this.monitors.values()) monitor.stopAt(atMs);
    for (const probe of this.probes.values()) probe.stopAt(atMs);
  }

  /** One verdict per expectation, in their order. Call once the bots have stopped. */
  judge(): Verdict[] {
    for (const monitor of this.monitors.values()) monitor.finish();
    return this.expectations.map((expectation) => {
      if (expectation.kind === 'latency') {
        const { delaysMs, clicksSent, truncated } = this.probes.get(expectation)!.result();
        return judgeLatency(expectation, delaysMs, clicksSent, truncated);
      }
      const monitor = this.monitors.get(expectation.listener)!;
      return judgeHearing(expectation, monitor.windows, monitor.firstSeenMs);
    });
  }
}
