// What a bot expects to hear, as data: parsed from `voxroom join --expect …` flags and from a
// scenario's statements ("at 8s: carol hears alice >= -30 dBFS"). Pure: no audio, no I/O.
import { splitWords } from '../peer/control-commands.js';

/** Level a peer must reach to count as heard, unless the expectation gives one. */
export const DEFAULT_HEARD_DBFS = -50;
/** Level a peer must stay under to count as silent, unless the expectation gives one. */
export const DEFAULT_SILENT_DBFS = -60;
/**
 * Level a tone must stay under to count as not heard (`does not hear X at 440 Hz`): the
 * negation of `hears X at 440 Hz`. Stricter would fail on artefacts of a peer's other audio: a
 * single missing 10 ms frame of a −22 dBFS tone at 523 Hz reads up to −57 dBFS at 440 Hz.
 */
export const DEFAULT_SILENT_TONE_DBFS = DEFAULT_HEARD_DBFS;
/** How long `at T` looks: the second from T. */
export const AT_SPAN_MS = 1000;
/** Levels are measured over half seconds on the run's clock (0–0.5 s, 0.5–1 s, …): the shortest span that says anything. */
export const MIN_SPAN_MS = 500;

/**
 * When an expectation is checked, in ms from the start (a bot's join, a scenario's start):
 *   during     the whole run
 *   by T       before T
 *   at T       over the second from T
 *   from T     from T to U, or to the end
 */
export type TimeSpan = { mode: 'during' } | { mode: 'by'; toMs: number } | { mode: 'at'; fromMs: number } | { mode: 'from'; fromMs: number; toMs?: number };

export type Expectation =
  /** `listener` hears `speaker` (at a frequency) at `minDbfs` or louder. */
  | { kind: 'hears'; text: string; listener: string; speaker: string; frequencyHz?: number; minDbfs: number; span: TimeSpan }
  /** `listener` hears `speaker` (null: anybody) only below `maxDbfs`. */
  | { kind: 'silent'; text: string; listener: string; speaker: string | null; frequencyHz?: number; maxDbfs: number; span: TimeSpan }
  /** Clicks sent by `speaker` reach `listener`'s mix within `maxMs` (median). */
  | { kind: 'latency'; text: string; speaker: string; listener: string; maxMs: number; span: TimeSpan };

export class ExpectationSyntaxError extends Error {
  override readonly name = 'ExpectationSyntaxError';
}

const NUMBER = String.raw`-?\d+(?:\.\d+)?`;

/** `--expect NAME[:HZ][>=DBFS]`: this bot hears NAME during the run (or by `withinMs`). */
export function parseExpectFlag(value: string, listener: string, withinMs?: number): Expectation {
  const match = new RegExp(String.raw`^(.+?)(?::(${NUMBER}))?(?:>=(${NUMBER}))?$`).exec(value.trim());
  if (!match) throw new ExpectationSyntaxError(`--expect "${value}": use NAME, NAME:HZ, NAME>=DBFS or NAME:HZ>=DBFS, e.g. --expect alice:440>=-30`);
  const [, speaker, hz, level] = match;
  if (/[<>=]/.test(speaker!) || speaker !== speaker!.trim()) throw new ExpectationSyntaxError(`--expect "${value}": write NAME:HZ>=DBFS without spaces and with >= (e.g. --expect alice:440>=-30); a name cannot hold <, > or =`);
  const frequencyHz = hz === undefined ? undefined : checkFrequency(Number(hz), `--expect "${value}"`);
  const minDbfs = level === undefined ? DEFAULT_HEARD_DBFS : checkLevel(Number(level), `--expect "${value}"`);
  const text = `${listener} hears ${speaker}${frequencyHz === undefined ? '' : ` at ${frequencyHz} Hz`} >= ${minDbfs} dBFS${withinMs === undefined ? '' : ` within ${withinMs / 1000} s`}`;
  return { kind: 'hears', text, listener, speaker: speaker!, frequencyHz, minDbfs, span: withinMs === undefined ? { mode: 'during' } : { mode: 'by', toMs: withinMs } };
}

/** `--expect-silence NAME`: NAME is in the room and this bot never hears it. */
export function parseExpectSilenceFlag(value: string, listener: string): Expectation {
  const speaker = value.trim();
  if (!speaker) throw new ExpectationSyntaxError('--expect-silence needs the name of a peer, e.g. --expect-silence bob');
  return { kind: 'silent', text: `${listener} does not hear ${speaker}`, listener, speaker, maxDbfs: DEFAULT_SILENT_DBFS, span: { mode: 'during' } };
}

/** Durations: 3s, 1.5s, 500ms, 2m, or a bare number of seconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new ExpectationSyntaxError(`"${text}" is not a time; write e.g. 3s, 1.5s, 500ms or 2m`);
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? value : unit === 'm' ? value * 60_000 : value * 1000);
}

/**
 * A scenario statement:
 *   [at T: | by T: | from T [to U]:] LISTENER hears SPEAKER|nobody [at HZ Hz] [>= L dBFS | < L dBFS]
 *   [… :] LISTENER does not hear SPEAKER [at HZ Hz] [< L dBFS]
 *   [… :] mouth-to-ear SPEAKER→LISTENER <= N ms        (also ->)
 * Names with spaces are quoted. `names` are the bots of the scenario: a listener must be one.
 */
export function parseStatement(text: string, bots: readonly string[]): Expectation {
  const { span, rest } = splitTimePrefix(text);
  const words = splitWords(rest.trim());
  if (words === null) throw new ExpectationSyntaxError(`"${text}": unbalanced quotes`);
  if (words.length === 0) throw new ExpectationSyntaxError(`"${text}": says nothing to check`);
  const fail = (why: string): never => {
    throw new ExpectationSyntaxError(`"${text}": ${why}`);
  };
  const mustBeBot = (name: string): string => (bots.includes(name) ? name : fail(`"${name}" is not one of the bots (${bots.join(', ')}); only bots listen`));

  if (words[0]!.toLowerCase() === 'mouth-to-ear') {
    const joined = words.slice(1).join(' ');
    const match = new RegExp(String.raw`^(.+?)\s*(?:→|->)\s*(.+?)\s*<=\s*(${NUMBER})\s*ms$`).exec(joined);
    if (!match) return fail('write mouth-to-ear SPEAKER→LISTENER <= N ms (or ->)');
    if (span.mode === 'by') return fail('"by" does not apply to a latency; use "from T [to U]" or no time');
    const maxMs = Number(match[3]);
    if (!(maxMs > 0)) fail('the latency bound must be a positive number of ms');
    return { kind: 'latency', text, speaker: mustBeBot(match[1]!), listener: mustBeBot(match[2]!), maxMs, span };
  }

  const listener = mustBeBot(words[0]!);
  let index = 1;
  let negated = false;
  if (words[index]?.toLowerCase() === 'does' && words[index + 1]?.toLowerCase() === 'not' && words[index + 2]?.toLowerCase() === 'hear') {
    negated = true;
    index += 3;
  } else if (words[index]?.toLowerCase() === 'hears') {
    index += 1;
  } else {
    return fail('expected "LISTENER hears SPEAKER", "LISTENER does not hear SPEAKER" or "mouth-to-ear A→B <= N ms"');
  }
  const speakerWord = words[index++];
  if (speakerWord === undefined) return fail('say whom the listener hears (a name, or nobody)');
  const speaker = speakerWord.toLowerCase() === 'nobody' && !negated ? null : speakerWord;

  let frequencyHz: number | undefined;
  let comparison: { op: '>=' | '<'; dbfs: number } | undefined;
  const tail = words.slice(index).join(' ');
  const tailMatch = new RegExp(String.raw`^(?:at\s+(${NUMBER})\s*hz)?\s*(?:(>=|<)\s*(${NUMBER})\s*(?:dbfs)?)?$`, 'i').exec(tail.trim());
  if (!tailMatch) return fail(`cannot read "${tail}"; after the speaker write "at HZ Hz" and/or ">= L dBFS" / "< L dBFS"`);
  if (tailMatch[1] !== undefined) frequencyHz = checkFrequency(Number(tailMatch[1]), `"${text}"`);
  if (tailMatch[2] !== undefined) comparison = { op: tailMatch[2] as '>=' | '<', dbfs: checkLevel(Number(tailMatch[3]), `"${text}"`) };

  const silent = negated || speaker === null || comparison?.op === '<';
  if (silent) {
    if (comparison?.op === '>=') return fail('a listener that hears nobody (or does not hear someone) takes "< L dBFS", not ">="');
    if (span.mode === 'by') return fail('"by T" means "at some moment before T", which silence cannot mean; use "from T" or "at T"');
    return { kind: 'silent', text, listener, speaker, frequencyHz, maxDbfs: comparison?.dbfs ?? (frequencyHz === undefined ? DEFAULT_SILENT_DBFS : DEFAULT_SILENT_TONE_DBFS), span };
  }
  if (speaker === listener) return fail('a bot does not hear itself in its mix');
  return { kind: 'hears', text, listener, speaker: speaker!, frequencyHz, minDbfs: comparison?.dbfs ?? DEFAULT_HEARD_DBFS, span };
}

function splitTimePrefix(text: string): { span: TimeSpan; rest: string } {
  const match = /^\s*(at|by|from)\s+([\d.]+\s*(?:ms|s|m)?)(?:\s+to\s+([\d.]+\s*(?:ms|s|m)?))?\s*:(.*)$/is.exec(text);
  if (!match) return { span: { mode: 'during' }, rest: text };
  const mode = match[1]!.toLowerCase();
  const fromMs = parseDurationMs(match[2]!);
  const rest = match[4]!;
  if (match[3] !== undefined) {
    if (mode !== 'from') throw new ExpectationSyntaxError(`"${text}": only "from T to U" takes an end`);
    const toMs = parseDurationMs(match[3]);
    if (toMs <= fromMs) throw new ExpectationSyntaxError(`"${text}": the end (${match[3].trim()}) must come after the start (${match[2]!.trim()})`);
    if (Math.floor(toMs / MIN_SPAN_MS) <= Math.ceil(fromMs / MIN_SPAN_MS)) throw new ExpectationSyntaxError(`"${text}": levels are measured over half seconds (0–0.5 s, 0.5–1 s, …), and no whole one lies between ${match[2]!.trim()} and ${match[3].trim()}; widen the span`);
    return { span: { mode: 'from', fromMs, toMs }, rest };
  }
  if (mode === 'at') return { span: { mode: 'at', fromMs }, rest };
  if (mode === 'by') return { span: { mode: 'by', toMs: fromMs }, rest };
  return { span: { mode: 'from', fromMs }, rest };
}

function checkFrequency(hz: number, where: string): number {
  if (!(hz > 0 && hz < 24_000)) throw new ExpectationSyntaxError(`${where}: a frequency must be between 0 and 24000 Hz`);
  return hz;
}

function checkLevel(dbfs: number, where: string): number {
  if (!(dbfs <= 0 && dbfs >= -120)) throw new ExpectationSyntaxError(`${where}: a level is in dBFS, from -120 to 0`);
  return dbfs;
}

/** The latest moment an expectation looks at (for checking a scenario lasts long enough). */
export function spanEndMs(span: TimeSpan): number | null {
  switch (span.mode) {
    case 'during':
      return null;
    case 'by':
      return span.toMs;
    case 'at':
      return span.fromMs + AT_SPAN_MS;
    case 'from':
      return span.toMs ?? span.fromMs + MIN_SPAN_MS;
  }
}
