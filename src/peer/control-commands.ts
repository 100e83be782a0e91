// The line commands a running `voxroom join` reads on standard input. Pure parsing.
export type ControlCommand =
  | { kind: 'volume'; name: string; percent: number }
  | { kind: 'mute' }
  | { kind: 'unmute' }
  | { kind: 'peers' }
  | { kind: 'status' }
  | { kind: 'quit' }
  | { kind: 'help' };

export const CONTROL_HELP = [
  'volume NAME PCT   set a peer\'s volume, 0–200 (quote names with spaces: volume "Ann Lee" 50)',
  'mute | unmute     stop / resume sending your own audio',
  'peers             list peers: name, connection, level, volume',
  'status            own state and audio I/O figures',
  'quit              leave the room and exit',
].join('\n');

export type ParseResult = { ok: true; command: ControlCommand | null } | { ok: false; error: string };

/** Splits a line into words; "double" or 'single' quotes group words, backslash escapes. */
export function splitWords(line: string): string[] | null {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (char === '\\' && i + 1 < line.length && quote !== "'") {
      current += line[++i];
      inWord = true;
    } else if (quote) {
      if (char === quote) quote = null;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += char;
      inWord = true;
    }
  }
  if (quote) return null;
  if (inWord) words.push(current);
  return words;
}

export function parseControlLine(line: string): ParseResult {
  const words = splitWords(line.trim());
  if (words === null) return { ok: false, error: 'unbalanced quotes' };
  if (words.length === 0) return { ok: true, command: null };
  const [verb, ...args] = words as [string, ...string[]];
  const simple = ['mute', 'unmute', 'peers', 'status', 'quit', 'help'] as const;
  const bare = simple.find((kind) => kind === verb.toLowerCase());
  if (bare) {
    if (args.length > 0) return { ok: false, error: `"${verb}" takes no arguments` };
    return { ok: true, command: { kind: bare } };
  }
  if (verb.toLowerCase() === 'exit') return { ok: true, command: { kind: 'quit' } };
  if (verb.toLowerCase() === 'volume') {
    if (args.length !== 2) return { ok: false, error: 'usage: volume NAME PCT (quote names with spaces)' };
    const percent = Number(args[1]!.replace(/%$/, ''));
    if (!Number.isFinite(percent) || percent < 0 || percent > 200) return { ok: false, error: `volume must be a number from 0 to 200, not "${args[1]}"` };
    return { ok: true, command: { kind: 'volume', name: args[0]!, percent } };
  }
  return { ok: false, error: `unknown command "${verb}"; commands: volume, mute, unmute, peers, status, quit, help` };
}
