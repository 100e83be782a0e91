// The live mixer `voxroom join` shows at a terminal: every roommate with its connection, level
// meter, speaking state and volume, and keys to change them (live-mixer-model.ts decides what a
// key does). Drawn with ink (React for terminals; ink 6 runs on Node 20), so no escape codes
// are written by hand. Messages that would have been printed (events, problems, logs) appear
// in its last lines instead of scrolling the screen away.
import { Box, Text, render, useApp, useInput } from 'ink';
import { createElement as h, useEffect, useRef, useState, type ReactElement } from 'react';
import type { VoicePeer } from '../peer/voice-peer.js';
import type { MessageLog } from './message-log.js';
import { INITIAL_MIXER_STATE, MIXER_KEYS_HELP, formatDbfs, levelInMixDbfs, meterBar, pressInput, selectedIndex, type MixerAction, type MixerRow, type MixerState } from './live-mixer-model.js';

const REFRESH_MS = 200;
const METER_CELLS = 20;

export interface LiveMixerOptions {
  peer: VoicePeer;
  room: string;
  messages: MessageLog;
  /** A line command typed after ':' (the same commands as on standard input). */
  runCommand: (line: string) => void;
  quit: () => void;
}

function rowsOf(peer: VoicePeer): MixerRow[] {
  return peer
    .peers()
    .map((status) => ({
      name: status.name,
      connection: status.state.away ? 'away' : status.connection,
      levelDbfs: status.audio?.levelDbfs,
      volumePercent: status.audio?.volumePercent ?? 100,
      speaking: status.state.speaking,
      muted: status.state.muted || status.state.serverMuted,
      away: status.state.away,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function LiveMixer({ peer, room, messages, runCommand, quit }: LiveMixerOptions): ReactElement {
  const { exit } = useApp();
  const [, redraw] = useState(0);
  // A ref, not state: keys can arrive faster than renders, and each must see the one before it.
  const stateRef = useRef<MixerState>(INITIAL_MIXER_STATE);
  const state = stateRef.current;
  useEffect(() => {
    const timer = setInterval(() => redraw((n) => n + 1), REFRESH_MS);
    messages.onChange(() => redraw((n) => n + 1));
    return () => {
      clearInterval(timer);
      messages.onChange(null);
    };
  }, [messages]);
  const rows = rowsOf(peer);
  useInput((input, key) => {
    const pressed = pressInput(stateRef.current, rowsOf(peer), input, key);
    stateRef.current = pressed.state;
    for (const action of pressed.actions) carryOut(action);
    redraw((n) => n + 1);
  });
  const carryOut = (action: MixerAction): void => {
    switch (action.kind) {
      case 'volume':
        peer.setVolume(action.name, action.percent);
        break;
      case 'toggle-own-mute':
        peer.muted = !peer.muted;
        break;
      case 'command':
        runCommand(action.line);
        break;
      case 'quit':
        exit();
        quit();
        break;
      case 'none':
        break;
    }
  };

  const self = peer.identity;
  const audio = peer.status().audio;
  const selected = selectedIndex(state, rows);
  const nameWidth = Math.max(4, ...rows.map((row) => row.name.length));
  return h(
    Box,
    { flexDirection: 'column' },
    h(Text, { bold: true }, `room ${room} as ${self?.name ?? '…'}   microphone ${peer.muted ? 'MUTED' : 'on'}${audio.speaking ? ' (speaking)' : ''}   mix ${formatDbfs(audio.mixLevelDbfs)}`),
    h(Text, { dimColor: true }, `  ${'NAME'.padEnd(nameWidth)}  ${'CONNECTION'.padEnd(12)}  ${'LEVEL IN MIX'.padEnd(METER_CELLS + 13)}  VOLUME  `),
    ...(rows.length === 0
      ? [h(Text, { key: 'empty', dimColor: true }, '  nobody else is here yet')]
      : rows.map((row, index) => {
          const inMix = levelInMixDbfs(row);
          const flags = [row.speaking ? 'speaking' : '', row.muted ? 'muted' : ''].filter(Boolean).join(', ');
          return h(
            Text,
            { key: row.name, inverse: index === selected },
            `${index === selected ? '>' : ' '} ${row.name.padEnd(nameWidth)}  ${row.connection.padEnd(12)}  ${meterBar(inMix, METER_CELLS)} ${formatDbfs(inMix).padStart(11)}  ${`${row.volumePercent} %`.padStart(6)}  ${flags}`,
          );
        })),
    h(Text, { dimColor: true }, state.commandLine === null ? MIXER_KEYS_HELP : 'type a command (help lists them), Enter runs it, Esc cancels'),
    ...(state.commandLine === null ? [] : [h(Text, { key: 'command' }, `:${state.commandLine}█`)]),
    ...messages.recent.map((line, index) => h(Text, { key: `message-${index}`, wrap: 'truncate-end' }, line)),
  );
}

/** Draws the mixer until the returned function takes it down; then messages print as usual. */
export function showLiveMixer(options: LiveMixerOptions): () => void {
  const instance = render(h(LiveMixer, options), { exitOnCtrlC: false, patchConsole: false });
  options.messages.markDisplayed();
  return () => {
    instance.unmount();
    options.messages.release();
  };
}
