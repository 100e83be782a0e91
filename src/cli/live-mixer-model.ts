// The live mixer of `voxroom join` at a terminal: what its rows show and what each key does.
// Pure: live-mixer.ts draws this with ink and carries the actions out on the peer.

/** One roommate as the mixer shows it. */
export interface MixerRow {
  name: string;
  connection: string;
  /** Its level as it arrives, before our volume (dBFS; -Infinity or undefined: nothing). */
  levelDbfs: number | undefined;
  volumePercent: number;
  speaking: boolean;
  /** Muted by itself, or by an admin. */
  muted: boolean;
  away: boolean;
}

export interface MixerState {
  /** The member the keys act on, by name: rows come and go around it (null: the first row). */
  selected: string | null;
  /** The line being typed after ':' (the line commands), or null. */
  commandLine: string | null;
  /** Volumes of members muted with `m`, to restore on the next `m`. */
  mutedVolumes: ReadonlyMap<string, number>;
}

export const INITIAL_MIXER_STATE: MixerState = { selected: null, commandLine: null, mutedVolumes: new Map() };

/** The row the keys act on: the selected member, or the first row when it is gone or none is. */
export function selectedIndex(state: MixerState, rows: readonly MixerRow[]): number {
  const index = state.selected === null ? -1 : rows.findIndex((row) => row.name === state.selected);
  return Math.max(0, index);
}

export type MixerAction =
  | { kind: 'none' }
  | { kind: 'volume'; name: string; percent: number }
  | { kind: 'toggle-own-mute' }
  | { kind: 'command'; line: string }
  | { kind: 'quit' };

/** The keys ink reports beside the typed text. */
export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  return?: boolean;
  escape?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
}

export const VOLUME_STEP_PERCENT = 10;
export const MAX_VOLUME_PERCENT = 200;

export const MIXER_KEYS_HELP = '↑↓ pick  ←→ or -+ volume  m mute them  space mute me  : command  q quit';

/** What a key press does, given the rows on screen. */
export function pressKey(state: MixerState, rows: readonly MixerRow[], input: string, key: KeyInfo): { state: MixerState; action: MixerAction } {
  const none = { kind: 'none' } as const;
  if (key.ctrl && input === 'c') return { state, action: { kind: 'quit' } };
  if (state.commandLine !== null) return typeCommand(state, input, key);
  const index = selectedIndex(state, rows);
  const row = rows[index];
  const select = (to: number): MixerState => ({ ...state, selected: rows[to]?.name ?? state.selected });
  if (key.upArrow || input === 'k') return { state: select(Math.max(0, index - 1)), action: none };
  if (key.downArrow || input === 'j') return { state: select(Math.min(rows.length - 1, index + 1)), action: none };
  if (input === 'q') return { state, action: { kind: 'quit' } };
  if (input === ' ') return { state, action: { kind: 'toggle-own-mute' } };
  if (input === ':') return { state: { ...state, commandLine: '' }, action: none };
  if (!row) return { state, action: none };
  const step = key.leftArrow || input === '-' ? -VOLUME_STEP_PERCENT : key.rightArrow || input === '+' || input === '=' ? VOLUME_STEP_PERCENT : 0;
  if (step !== 0) {
    const percent = Math.max(0, Math.min(MAX_VOLUME_PERCENT, row.volumePercent + step));
    const mutedVolumes = new Map(state.mutedVolumes);
    mutedVolumes.delete(row.name);
    return { state: { ...state, selected: row.name, mutedVolumes }, action: { kind: 'volume', name: row.name, percent } };
  }
  if (input === 'm') {
    const mutedVolumes = new Map(state.mutedVolumes);
    const restore = mutedVolumes.get(row.name);
    if (restore !== undefined && row.volumePercent === 0) {
      mutedVolumes.delete(row.name);
      return { state: { ...state, selected: row.name, mutedVolumes }, action: { kind: 'volume', name: row.name, percent: restore } };
    }
    mutedVolumes.set(row.name, row.volumePercent === 0 ? 100 : row.volumePercent);
    return { state: { ...state, selected: row.name, mutedVolumes }, action: { kind: 'volume', name: row.name, percent: 0 } };
  }
  return { state, action: none };
}

/**
 * What a chunk of input does: a terminal hands over several characters at once when keys come
 * fast or are pasted, each of which is a key press, in order (later ones see the volumes the
 * earlier ones set).
 */
export function pressInput(state: MixerState, rows: readonly MixerRow[], input: string, key: KeyInfo): { state: MixerState; actions: MixerAction[] } {
  const special = key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.return || key.escape || key.backspace || key.delete || key.ctrl;
  if (special || [...input].length <= 1) {
    const pressed = pressKey(state, rows, input, key);
    return { state: pressed.state, actions: [pressed.action] };
  }
  let current = state;
  let view = rows.map((row) => ({ ...row }));
  const actions: MixerAction[] = [];
  const chars = [...input];
  for (let index = 0; index < chars.length; index++) {
    // Once the command line is open, the rest of the chunk is typed into it (Enter is a key of its own).
    if (current.commandLine !== null) {
      current = typeCommand(current, chars.slice(index).join(''), {}).state;
      break;
    }
    const pressed = pressKey(current, view, chars[index]!, {});
    current = pressed.state;
    const action = pressed.action;
    if (action.kind === 'volume') view = view.map((row) => (row.name === action.name ? { ...row, volumePercent: action.percent } : row));
    if (action.kind !== 'none') actions.push(action);
  }
  return { state: current, actions };
}

function typeCommand(state: MixerState, input: string, key: KeyInfo): { state: MixerState; action: MixerAction } {
  const line = state.commandLine ?? '';
  if (key.escape) return { state: { ...state, commandLine: null }, action: { kind: 'none' } };
  if (key.return) return { state: { ...state, commandLine: null }, action: line.trim() === '' ? { kind: 'none' } : { kind: 'command', line } };
  if (key.backspace || key.delete) return { state: { ...state, commandLine: line.slice(0, -1) }, action: { kind: 'none' } };
  // Printable text only (a paste may bring several characters at once).
  const printable = [...input].filter((char) => char >= ' ' && char !== '\x7f').join('');
  return { state: { ...state, commandLine: line + printable }, action: { kind: 'none' } };
}

/** A member's level in our mix: its arriving level times our volume, in dBFS. */
export function levelInMixDbfs(row: Pick<MixerRow, 'levelDbfs' | 'volumePercent'>): number {
  if (row.levelDbfs === undefined || !Number.isFinite(row.levelDbfs) || row.volumePercent <= 0) return -Infinity;
  return row.levelDbfs + 20 * Math.log10(row.volumePercent / 100);
}

/** A bar of `width` cells for a level from −60 dBFS (empty) to 0 dBFS (full). */
export function meterBar(dbfs: number, width: number): string {
  const fraction = Number.isFinite(dbfs) ? Math.max(0, Math.min(1, (dbfs + 60) / 60)) : 0;
  const filled = Math.round(fraction * width);
  return '█'.repeat(filled) + '·'.repeat(width - filled);
}

export function formatDbfs(dbfs: number): string {
  return Number.isFinite(dbfs) ? `${dbfs.toFixed(1)} dBFS` : 'silent';
}
