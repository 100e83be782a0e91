// Bot expectations as pure logic: parsing flags and scenario statements, measuring hearing
// windows from synthetic mix ticks, judging them, and the JUnit report a JUnit parser reads.
import { describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { FRAME_SAMPLES, type Frame } from '../../src/audio/format.js';
import { ToneSource } from '../../src/audio/tone-source.js';
import { ExpectationSyntaxError, parseDurationMs, parseExpectFlag, parseExpectSilenceFlag, parseStatement, type Expectation } from '../../src/scenario/expectation.js';
import { ExpectationSet } from '../../src/scenario/expectation-set.js';
import { ANY_SPEAKER, HearingMonitor } from '../../src/scenario/hearing-monitor.js';
import { escapeXml, junitXml } from '../../src/scenario/junit-report.js';
import { judgeHearing, judgeLatency, type Verdict } from '../../src/scenario/verdict.js';

const BOTS = ['alice', 'bob', 'carol', 'Ann Lee'];

describe('expectation flags', () => {
  it('reads NAME, NAME:HZ, NAME>=DBFS and NAME:HZ>=DBFS', () => {
    expect(parseExpectFlag('alice', 'me')).toMatchObject({ kind: 'hears', listener: 'me', speaker: 'alice', minDbfs: -50, span: { mode: 'during' } });
    expect(parseExpectFlag('alice:440', 'me')).toMatchObject({ speaker: 'alice', frequencyHz: 440, minDbfs: -50 });
    expect(parseExpectFlag('alice>=-30', 'me')).toMatchObject({ speaker: 'alice', frequencyHz: undefined, minDbfs: -30 });
    expect(parseExpectFlag('alice:440>=-30.5', 'me', 8000)).toMatchObject({ speaker: 'alice', frequencyHz: 440, minDbfs: -30.5, span: { mode: 'by', toMs: 8000 } });
    // A colon not followed by a number belongs to the name.
    expect(parseExpectFlag('bot:one', 'me')).toMatchObject({ speaker: 'bot:one' });
    expect(parseExpectFlag('alice:440', 'me').text).toBe('me hears alice at 440 Hz >= -50 dBFS');
  });

  it('refuses a flag with spaces or a misplaced comparison instead of taking it for a name', () => {
    expect(() => parseExpectFlag('alice >= -30', 'me')).toThrow(/without spaces/);
    expect(() => parseExpectFlag('alice>=-30dBFS', 'me')).toThrow(/cannot hold/);
  });

  it('refuses frequencies and levels out of range', () => {
    expect(() => parseExpectFlag('alice:30000', 'me')).toThrow(ExpectationSyntaxError);
    expect(() => parseExpectFlag('alice>=10', 'me')).toThrow(/from -120 to 0/);
    expect(() => parseExpectSilenceFlag('  ', 'me')).toThrow(/needs the name/);
  });

  it('reads durations', () => {
    expect(parseDurationMs('3s')).toBe(3000);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('2m')).toBe(120_000);
    expect(parseDurationMs('4')).toBe(4000);
    expect(() => parseDurationMs('soon')).toThrow(/not a time/);
  });
});

describe('scenario statements', () => {
  it('reads hearing with times, tones and levels', () => {
    expect(parseStatement('at 8s: carol hears alice >= -30 dBFS', BOTS)).toMatchObject({ kind: 'hears', listener: 'carol', speaker: 'alice', minDbfs: -30, span: { mode: 'at', fromMs: 8000 } });
    expect(parseStatement('by 3s: carol hears alice at 440 Hz', BOTS)).toMatchObject({ kind: 'hears', frequencyHz: 440, span: { mode: 'by', toMs: 3000 } });
    expect(parseStatement('from 2s to 5s: bob hears carol at 660 hz >= -40', BOTS)).toMatchObject({ span: { mode: 'from', fromMs: 2000, toMs: 5000 }, frequencyHz: 660, minDbfs: -40 });
    expect(parseStatement('"Ann Lee" hears bob', BOTS)).toMatchObject({ listener: 'Ann Lee', speaker: 'bob' });
  });

  it('reads silence three ways', () => {
    expect(parseStatement('from 10s: bob hears nobody', BOTS)).toMatchObject({ kind: 'silent', listener: 'bob', speaker: null, maxDbfs: -60, span: { mode: 'from', fromMs: 10_000 } });
    expect(parseStatement('carol does not hear alice', BOTS)).toMatchObject({ kind: 'silent', speaker: 'alice', span: { mode: 'during' } });
    expect(parseStatement('at 4s: carol hears bob < -40 dBFS', BOTS)).toMatchObject({ kind: 'silent', speaker: 'bob', maxDbfs: -40 });
    // Not hearing a tone is the negation of hearing it: below the level that counts as heard.
    expect(parseStatement('carol does not hear alice at 440 Hz', BOTS)).toMatchObject({ kind: 'silent', frequencyHz: 440, maxDbfs: -50 });
  });

  it('reads latency with either arrow', () => {
    expect(parseStatement('mouth-to-ear alice→bob <= 80 ms', BOTS)).toMatchObject({ kind: 'latency', speaker: 'alice', listener: 'bob', maxMs: 80 });
    expect(parseStatement('from 2s: mouth-to-ear alice -> bob <= 120ms', BOTS)).toMatchObject({ kind: 'latency', maxMs: 120, span: { mode: 'from', fromMs: 2000 } });
  });

  it('says what is wrong with a statement', () => {
    const error = (text: string): string => {
      try {
        parseStatement(text, BOTS);
      } catch (caught) {
        expect(caught).toBeInstanceOf(ExpectationSyntaxError);
        return (caught as Error).message;
      }
      throw new Error(`"${text}" was accepted`);
    };
    expect(error('dave hears alice')).toMatch(/"dave" is not one of the bots/);
    expect(error('carol sees alice')).toMatch(/expected "LISTENER hears SPEAKER"/);
    expect(error('carol hears alice loudly')).toMatch(/cannot read "loudly"/);
    expect(error('by 3s: carol hears nobody')).toMatch(/silence cannot mean/);
    expect(error('carol hears nobody >= -20')).toMatch(/takes "< L dBFS"/);
    expect(error('from 5s to 2s: carol hears alice')).toMatch(/must come after the start/);
    expect(error('at 5s to 6s: carol hears alice')).toMatch(/only "from T to U"/);
    expect(error('from 1.2s to 1.4s: carol hears alice')).toMatch(/no whole one lies between/);
    expect(error('mouth-to-ear alice bob <= 80 ms')).toMatch(/mouth-to-ear SPEAKER→LISTENER/);
    expect(error('carol hears carol')).toMatch(/does not hear itself/);
  });
});

/** Feeds a monitor `seconds` of ticks in which each named speaker plays its frame source. */
function listen(monitor: HearingMonitor, seconds: number, speakers: Record<string, (tick: number) => { frame: Frame | null; gain: number }>): void {
  monitor.startAt(0);
  const mix = new Int16Array(FRAME_SAMPLES);
  for (let tick = 0; tick < seconds * 100; tick++) {
    const inputs = Object.entries(speakers).map(([name, play]) => ({ name, ...play(tick) }));
    monitor.mixed(inputs, mix, tick * 10 + 5);
  }
  monitor.finish();
}

const tone = (hz: number) => {
  const source = new ToneSource(hz); // −20 dBFS peak: −23 dBFS RMS
  return () => ({ frame: source.read(), gain: 1 });
};

describe('hearing windows and verdicts', () => {
  it('measures each speaker after its volume, and its tones', () => {
    const monitor = new HearingMonitor(new Map([['alice', [440, 880]]]));
    const alice = tone(440);
    const bob = tone(660);
    listen(monitor, 2, { alice, bob: (tick) => ({ ...bob(), gain: tick < 100 ? 1 : 0.5 }) });
    expect(monitor.windows).toHaveLength(4);
    const [first, , third] = monitor.windows;
    expect(first!.speakers.get('alice')!.dbfs).toBeCloseTo(-23, 0);
    expect(first!.speakers.get('alice')!.tones.get(440)).toBeCloseTo(-23, 0);
    expect(first!.speakers.get('alice')!.tones.get(880)!).toBeLessThan(-60);
    expect(first!.speakers.get('bob')!.dbfs).toBeCloseTo(-23, 0);
    expect(third!.speakers.get('bob')!.dbfs).toBeCloseTo(-29, 0); // 50 %: −6 dB
  });

  const judge = (expectation: Expectation, monitor: HearingMonitor): Verdict => {
    if (expectation.kind === 'latency') throw new Error('not a hearing expectation');
    return judgeHearing(expectation, monitor.windows, monitor.firstSeenMs);
  };

  it('reads a tone at its level however many expectations listen for it', () => {
    // Three expectations on alice at 440 Hz once read 4.8 dB hot (the power summed three times).
    const once = new HearingMonitor(new Map([['alice', [440]]]));
    const thrice = new HearingMonitor(new Map([['alice', [440, 440, 440]], [ANY_SPEAKER, [440]]]));
    const alice = tone(440);
    listen(once, 1, { alice });
    const again = tone(440);
    listen(thrice, 1, { alice: again });
    expect(thrice.windows[0]!.speakers.get('alice')!.tones.get(440)).toBeCloseTo(once.windows[0]!.speakers.get('alice')!.tones.get(440)!, 6);
    expect(once.windows[0]!.speakers.get('alice')!.tones.get(440)).toBeCloseTo(-23, 0);
  });

  it('judges hearing: heard, wrong frequency, too quiet, never joined', () => {
    const monitor = new HearingMonitor(new Map([['alice', [440, 880]]]));
    listen(monitor, 2, { alice: tone(440), bob: () => ({ frame: null, gain: 1 }) });
    expect(judge(parseExpectFlag('alice:440>=-30', 'me'), monitor)).toMatchObject({ passed: true, measured: -23 });
    const wrongTone = judge(parseExpectFlag('alice:880', 'me'), monitor);
    expect(wrongTone.passed).toBe(false);
    expect(wrongTone.reason).toMatch(/was heard at -23.0 dBFS, but not at 880 Hz/);
    expect(judge(parseExpectFlag('alice>=-10', 'me'), monitor)).toMatchObject({ passed: false });
    expect(judge(parseExpectFlag('carol', 'me'), monitor).reason).toBe("carol never joined me's room");
    // In the room but its audio never arrived: not heard, and its silence proves nothing.
    expect(judge(parseExpectFlag('bob', 'me'), monitor).passed).toBe(false);
    expect(judge(parseExpectSilenceFlag('bob', 'me'), monitor)).toMatchObject({ passed: false, reason: "bob's audio never arrived during the run (not connected, or gone before), so its silence says nothing" });
    expect(judge(parseExpectSilenceFlag('carol', 'me'), monitor)).toMatchObject({ passed: false, reason: "carol never joined me's room" });
  });

  it('counts a muted peer or one at volume 0 as silent, because its audio arrives', () => {
    const monitor = new HearingMonitor();
    const quiet = new Int16Array(FRAME_SAMPLES);
    const loud = tone(440);
    listen(monitor, 1, { muted: () => ({ frame: quiet, gain: 1 }), turnedDown: () => ({ frame: loud().frame, gain: 0 }) });
    expect(monitor.windows[0]!.speakers.get('muted')!.received).toBe(1);
    expect(judge(parseExpectSilenceFlag('muted', 'me'), monitor).passed).toBe(true);
    expect(judge(parseExpectSilenceFlag('turnedDown', 'me'), monitor).passed).toBe(true);
  });

  it('does not take one missing frame of another tone for the tone in question, and says what a gap does when asked to be stricter', () => {
    const monitor = new HearingMonitor(new Map([['alice', [440]]]));
    const alice = tone(523);
    // One 10 ms frame of a −23 dBFS tone at 523 Hz does not arrive, at 0.75 s: about −58 dBFS at 440 Hz.
    listen(monitor, 1, { alice: (tick) => (tick === 75 ? { frame: null, gain: 1 } : alice()) });
    expect(judge(parseStatement('me does not hear alice at 440 Hz', ['me', 'alice']), monitor).passed).toBe(true);
    const strict = judge(parseStatement('me does not hear alice at 440 Hz < -70 dBFS', ['me', 'alice']), monitor);
    expect(strict.passed).toBe(false);
    expect(strict.reason).toMatch(/at 0.5 s .*; alice had no frame for 10 ms of that half second \(late, lost, or not sending\), and a gap sounds at every frequency$/);
  });

  it("judges silence while the peer's audio arrives: not before it connects, not after it leaves, but a gap in between fails", () => {
    const quiet = new Int16Array(FRAME_SAMPLES);
    const none = { frame: null, gain: 1 };
    // bob connects at 1 s and leaves at 2 s; carol connects at once but drops out from 1 to 1.5 s.
    const monitor = new HearingMonitor();
    listen(monitor, 3, { bob: (tick) => (tick >= 100 && tick < 200 ? { frame: quiet, gain: 0 } : none), carol: (tick) => (tick >= 100 && tick < 150 ? none : { frame: quiet, gain: 1 }) });
    const bob = judge(parseExpectSilenceFlag('bob', 'me'), monitor);
    expect(bob).toMatchObject({ passed: true });
    expect(bob.reason).toMatch(/stayed below -60 dBFS during the run while its audio arrived \(1.0 s–2.0 s\)/);
    expect(judge(parseExpectSilenceFlag('carol', 'me'), monitor).reason).toBe("carol's audio was not arriving at 1.0 s (disconnected for a while), so its silence says nothing");
  });

  it('ignores what is mixed after the run ended (bots leaving)', () => {
    const monitor = new HearingMonitor();
    const alice = tone(440);
    monitor.startAt(0);
    monitor.stopAt(1000);
    const mix = new Int16Array(FRAME_SAMPLES);
    for (let tick = 0; tick < 200; tick++) monitor.mixed([{ name: 'alice', ...(tick < 100 ? alice() : { frame: null, gain: 1 }) }], mix, tick * 10 + 5);
    monitor.finish();
    expect(monitor.windows.map((w) => w.endMs)).toEqual([500, 1000]);
    expect(judge(parseStatement('from 0s: me hears alice', ['me', 'alice']), monitor).passed).toBe(true);
  });

  it('judges spans: by, at, from, and hears nobody', () => {
    const monitor = new HearingMonitor();
    const alice = tone(440);
    // alice plays for the first 1.5 s, then her volume is 0.
    listen(monitor, 4, { alice: (tick) => ({ ...alice(), gain: tick < 150 ? 1 : 0 }), bob: () => ({ frame: null, gain: 1 }) });
    const statement = (text: string) => judge(parseStatement(text, ['me', 'alice', 'bob']), monitor);
    expect(statement('by 1s: me hears alice').passed).toBe(true);
    expect(statement('at 0.5s: me hears alice').passed).toBe(true);
    expect(statement('at 2s: me hears alice').passed).toBe(false);
    const dropped = statement('from 0s: me hears alice');
    expect(dropped.passed).toBe(false);
    expect(dropped.reason).toMatch(/dropped to silence at 1.5 s/);
    expect(statement('from 1.5s: me hears nobody').passed).toBe(true);
    const heard = statement('me hears nobody');
    expect(heard.passed).toBe(false);
    expect(heard.reason).toMatch(/^alice was heard at -23.0 dBFS at 0.0 s/);
    expect(statement('from 9s: me hears nobody').reason).toMatch(/the run ended before/);
  });

  it('judges latency by the median of the clicks', () => {
    const latency = parseStatement('mouth-to-ear alice→bob <= 80 ms', ['alice', 'bob']);
    if (latency.kind !== 'latency') throw new Error('parsed as something else');
    expect(judgeLatency(latency, [50, 52, 51, 200], 4)).toMatchObject({ passed: true, measured: 52 });
    expect(judgeLatency(latency, [90, 95, 91], 3)).toMatchObject({ passed: false, measured: 91 });
    expect(judgeLatency(latency, [50], 10).reason).toMatch(/heard 1 of alice's 10 clicks/);
    expect(judgeLatency(latency, [], 0).reason).toMatch(/give alice the input "clicks"/);
    // A span longer than the probe's logs: measured, and said to be only its start.
    expect(judgeLatency(latency, [50, 52, 51], 3, true).reason).toMatch(/; measured over the first 10 minutes of the span only/);
  });

  it('attaches monitors and probes to the bots that listen and speak', () => {
    const set = new ExpectationSet([parseStatement('bob hears alice', ['alice', 'bob', 'carol']), parseStatement('mouth-to-ear alice→carol <= 80 ms', ['alice', 'bob', 'carol'])]);
    expect(set.observerFor('bob')?.mixed).toBeTypeOf('function');
    expect(set.observerFor('alice')?.captured).toBeTypeOf('function');
    // A mouth only: no per-tick entry for every member is asked of alice's engine.
    expect(set.observerFor('alice')?.mixed).toBeUndefined();
    expect(set.observerFor('carol')?.mixed).toBeTypeOf('function');
    expect(set.observerFor('dave')).toBeUndefined();
  });
});

describe('JUnit report', () => {
  const verdicts: Verdict[] = [
    { expectation: parseExpectFlag('alice:440', 'me'), passed: true, reason: 'alice heard from 0.5 s', measured: -23 },
    { expectation: parseStatement('me hears "x<&>y"', ['me']), passed: false, reason: 'x<&>y never joined me\'s room' },
  ];

  it('is read by a JUnit/XML parser with the right counts, names and failures', () => {
    const xml = junitXml([{ name: 'run "one"', verdicts, durationSeconds: 12.5, startedAt: new Date('2026-11-26T10:00:00Z') }]);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml) as {
      testsuites: { tests: string; failures: string; testsuite: { name: string; tests: string; failures: string; testcase: { name: string; failure?: { message: string } }[] } };
    };
    expect(parsed.testsuites).toMatchObject({ tests: '2', failures: '1' });
    const suite = parsed.testsuites.testsuite;
    expect(suite).toMatchObject({ name: 'run "one"', tests: '2', failures: '1' });
    expect(suite.testcase[0]!.name).toBe('me hears alice at 440 Hz >= -50 dBFS');
    expect(suite.testcase[0]!.failure).toBeUndefined();
    expect(suite.testcase[1]!.name).toBe('me hears "x<&>y"');
    expect(suite.testcase[1]!.failure!.message).toBe("x<&>y never joined me's room");
  });

  it('drops characters XML cannot hold', () => {
    expect(escapeXml('a\u0001b<c>')).toBe('ab&lt;c&gt;');
  });
});
