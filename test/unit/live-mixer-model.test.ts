// The live mixer's keys and meters (pure): what each key does to the rows on screen.
import { describe, expect, it } from 'vitest';
import { INITIAL_MIXER_STATE, levelInMixDbfs, meterBar, pressInput, pressKey, selectedIndex, type MixerRow, type MixerState } from '../../src/cli/live-mixer-model.js';

const row = (name: string, volumePercent = 100, levelDbfs = -20): MixerRow => ({ name, connection: 'connected', levelDbfs, volumePercent, speaking: false, muted: false, away: false });
const rows = [row('ann'), row('bob', 80), row('cy', 0)];

function press(keys: Array<[string, Parameters<typeof pressKey>[3]?]>, start: MixerState = INITIAL_MIXER_STATE, on = rows): { state: MixerState; actions: ReturnType<typeof pressKey>['action'][] } {
  let state = start;
  const actions: ReturnType<typeof pressKey>['action'][] = [];
  for (const [input, key] of keys) {
    const pressed = pressKey(state, on, input, key ?? {});
    state = pressed.state;
    actions.push(pressed.action);
  }
  return { state, actions };
}

describe('live mixer keys', () => {
  it('arrows (or j/k) pick a member, within the list', () => {
    expect(press([['', { downArrow: true }]]).state.selected).toBe('bob');
    expect(press([['j'], ['j'], ['j'], ['j']]).state.selected).toBe('cy');
    expect(selectedIndex(press([['', { upArrow: true }]]).state, rows)).toBe(0);
    expect(press([['j'], ['k']]).state.selected).toBe('ann');
  });

  it('keeps the picked member when others join or leave around it (keys never act on someone else)', () => {
    const { state } = press([['j']]);
    const newcomerFirst = [row('aaron'), ...rows];
    expect(selectedIndex(state, newcomerFirst)).toBe(2);
    expect(pressKey(state, newcomerFirst, '-', {}).action).toEqual({ kind: 'volume', name: 'bob', percent: 70 });
    // The picked member left: the first row is picked.
    expect(selectedIndex(state, [row('ann'), row('cy')])).toBe(0);
  });

  it('left/right (or -/+) change the picked member\'s volume by 10 %, from 0 to 200 %', () => {
    expect(press([['j'], ['-']]).actions.at(-1)).toEqual({ kind: 'volume', name: 'bob', percent: 70 });
    expect(press([['', { rightArrow: true }]]).actions.at(-1)).toEqual({ kind: 'volume', name: 'ann', percent: 110 });
    expect(press([['j'], ['j'], ['', { leftArrow: true }]]).actions.at(-1)).toEqual({ kind: 'volume', name: 'cy', percent: 0 });
    expect(press([['+']], INITIAL_MIXER_STATE, [row('loud', 200)]).actions.at(-1)).toEqual({ kind: 'volume', name: 'loud', percent: 200 });
  });

  it('m mutes the picked member for us, and a second m brings back its volume', () => {
    const first = press([['j'], ['m']]);
    expect(first.actions.at(-1)).toEqual({ kind: 'volume', name: 'bob', percent: 0 });
    const mutedRows = [row('ann'), row('bob', 0), row('cy', 0)];
    expect(press([['m']], first.state, mutedRows).actions.at(-1)).toEqual({ kind: 'volume', name: 'bob', percent: 80 });
    // A member at 0 % that m did not mute comes back at 100 %.
    const cy = press([['j'], ['j'], ['m']]);
    expect(cy.actions.at(-1)).toEqual({ kind: 'volume', name: 'cy', percent: 0 });
    expect(press([['m']], cy.state).actions.at(-1)).toEqual({ kind: 'volume', name: 'cy', percent: 100 });
  });

  it('space mutes us, q and Ctrl-C quit, and nothing acts on an empty room but those', () => {
    expect(press([[' ']]).actions).toEqual([{ kind: 'toggle-own-mute' }]);
    expect(press([['q']]).actions).toEqual([{ kind: 'quit' }]);
    expect(press([['c', { ctrl: true }]]).actions).toEqual([{ kind: 'quit' }]);
    expect(press([['-'], ['m'], ['j']], INITIAL_MIXER_STATE, []).actions).toEqual([{ kind: 'none' }, { kind: 'none' }, { kind: 'none' }]);
  });

  it(': opens a command line: typed text, backspace, Enter runs it, Esc drops it; keys do not act meanwhile', () => {
    const typed = press([[':'], ['volume '], ['bob 5'], ['0'], ['x'], ['', { backspace: true }], ['q']]);
    expect(typed.state.commandLine).toBe('volume bob 50q');
    expect(typed.actions.every((action) => action.kind === 'none')).toBe(true);
    const ran = press([['', { backspace: true }], ['', { return: true }]], typed.state);
    expect(ran.actions.at(-1)).toEqual({ kind: 'command', line: 'volume bob 50' });
    expect(ran.state.commandLine).toBeNull();
    expect(press([[':'], ['quit'], ['', { escape: true }]]).state.commandLine).toBeNull();
    expect(press([[':'], ['', { return: true }]]).actions.at(-1)).toEqual({ kind: 'none' });
  });
});

describe('live mixer input chunks', () => {
  it('takes several characters at once as key presses in order, each seeing the volume the last one set', () => {
    const { actions } = pressInput(INITIAL_MIXER_STATE, [row('bob')], '-----', {});
    expect(actions.map((action) => (action.kind === 'volume' ? action.percent : action.kind))).toEqual([90, 80, 70, 60, 50]);
  });

  it('a chunk that opens the command line types the rest into it', () => {
    const { state, actions } = pressInput(INITIAL_MIXER_STATE, rows, ':volume bob 5', {});
    expect(actions).toEqual([]);
    expect(state.commandLine).toBe('volume bob 5');
    expect(pressInput(state, rows, '0', {}).state.commandLine).toBe('volume bob 50');
  });
});

describe('live mixer meters', () => {
  it('shows a member at its level times our volume: 50 % is 6 dB down', () => {
    expect(levelInMixDbfs({ levelDbfs: -20, volumePercent: 100 })).toBe(-20);
    expect(levelInMixDbfs({ levelDbfs: -20, volumePercent: 50 })).toBeCloseTo(-26.02, 2);
    expect(levelInMixDbfs({ levelDbfs: -20, volumePercent: 0 })).toBe(-Infinity);
    expect(levelInMixDbfs({ levelDbfs: undefined, volumePercent: 100 })).toBe(-Infinity);
  });

  it('draws −60…0 dBFS over the bar', () => {
    expect(meterBar(0, 10)).toBe('██████████');
    expect(meterBar(-30, 10)).toBe('█████·····');
    expect(meterBar(-80, 10)).toBe('··········');
    expect(meterBar(-Infinity, 4)).toBe('····');
  });
});
