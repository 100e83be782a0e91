// The line commands a running `voxroom join` reads on standard input. Pure parsing.
export type ControlCommand =
  | { kind: 'volume'; name: string; percent: number }
  | { kind: 'mute' }
  | { kind: 'unmute' }
  | { kind: 'peers' }
  | { kind: 'status' }
  | { kind: 'quit' }
  | { kind: 'help' }
  /** Spatial rooms: walk to a point (metres), jump to a named spot, turn (degrees clockwise, 0 = up). */
  | { kind: 'move'; x: number; y: number }
  | { kind: 'goto'; spot: string }
  | { kind: 'face'; degrees: number };

export const CONTROL_HELP = [
  'volume NAME PCT   set a peer\'s volume, 0–200 (quote names with spaces: volume "Ann Lee" 50)',
  'mute | unmute     stop / resume sending your own audio',
  'peers             list peers: name, connection, level, volume',
  'status            own state and audio I/O figures',
  'move X Y          walk to X, Y (metres; x right, y down) at 5 m/s (rooms with a map)',
  'goto SPOT         jump to a named spot of the map',
  'face DEG          turn: 0 faces up the map, 90 right, 180 down, 270 left',
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
  if (verb.toLowerCase() === 'move') {
    const [x, y] = args.map(Number);
    if (args.length !== 2 || !Number.isFinite(x) || !Number.isFinite(y)) return { ok: false, error: 'usage: move X Y (metres from the top-left corner, e.g. move 4.5 2)' };
    return { ok: true, command: { kind: 'move', x: x!, y: y! } };
  }
  if (verb.toLowerCase() === 'goto') {
    if (args.length !== 1) return { ok: false, error: 'usage: goto SPOT (quote names with spaces)' };
    return { ok: true, command: { kind: 'goto', spot: args[0]! } };
  }
  if (verb.toLowerCase() === 'face') {
    const degrees = Number(args[0]);
    if (args.length !== 1 || !Number.isFinite(degrees)) return { ok: false, error: 'usage: face DEG (0 faces up the map, 90 right, 180 down, 270 left)' };
    return { ok: true, command: { kind: 'face', degrees } };
  }
  return { ok: false, error: `unknown command "${verb}"; commands: volume, mute, unmute, peers, status, move, goto, face, quit, help` };
}
