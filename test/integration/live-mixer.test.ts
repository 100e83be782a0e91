// The live mixer as a person uses it: `voxroom join` in a real terminal (tmux), keys typed with
// send-keys, the screen read with capture-pane, and the effect checked in the mix it writes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VOXROOM_BIN, exitOf, startCli, startServeCli } from '../helpers/cli.js';
import { sleep, toneLevelDb } from '../helpers/peers.js';
import { expectCompleteWav, wavTail } from '../helpers/wav.js';

const scratch = mkdtempSync(join(tmpdir(), 'voxroom-live-'));
// A tmux server of its own: nothing of a user's tmux is touched.
const SOCKET = `voxroom-test-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const screen = (): string => tmux('capture-pane', '-p', '-t', 'live');
let cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function screenShows(pattern: RegExp, what: string, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const shown = screen();
    if (pattern.test(shown)) return shown;
    if (Date.now() > deadline) throw new Error(`the screen never showed ${what}; it shows:\n${shown}`);
    await sleep(100);
  }
}

/** bob's row: its level in the mix as the screen prints it. */
function bobOnScreen(shown: string): { level: number; volume: number } {
  const line = shown.split('\n').find((text) => /\bbob\b/.test(text) && /%/.test(text));
  const match = line?.match(/(-?\d+\.\d) dBFS\s+(\d+) %/);
  if (!match) throw new Error(`no row for bob on the screen:\n${shown}`);
  return { level: Number(match[1]), volume: Number(match[2]) };
}

describe('the live mixer in a terminal', () => {
  it('keys that set bob to 50 % make his level in the mix drop 6 dB, and the screen shows it', { timeout: 90_000 }, async () => {
    const server = await startServeCli();
    cleanups.push(() => server.stop());
    const bob = await startCli(['join', 'live', '--server', server.url, '--name', 'bob', '--input', 'tone:440', '--output', 'null'], /joined/);
    cleanups.push(async () => {
      bob.child.kill('SIGTERM');
      await exitOf(bob.child);
    });
    const mix = join(scratch, 'alice.wav');
    // CI=false: a person's terminal has no CI variable, and under one ink draws only its last frame.
    const command = `CI=false ${[process.execPath, VOXROOM_BIN, 'join', 'live', '--server', server.url, '--name', 'alice', '--input', 'silence', '--output', `file:${mix}`].map((word) => `'${word}'`).join(' ')}`;
    tmux('new-session', '-d', '-s', 'live', '-x', '150', '-y', '30', command);
    cleanups.push(() => {
      try {
        tmux('kill-server');
      } catch {
        // gone already
      }
    });

    const first = await screenShows(/bob\s+connected\s+█+·*\s+-\d+\.\d dBFS\s+100 %/, 'bob connected at 100 %');
    expect(first).toMatch(/room live as alice\s+microphone on/);
    await sleep(2500);
    const shownBefore = bobOnScreen(screen());
    const heardBefore = toneLevelDb(wavTail(mix, 1), 440);

    // bob is the only roommate, so he is picked; five steps of 10 % down.
    tmux('send-keys', '-t', 'live', '-l', '--', '-----');
    const after = await screenShows(/bob\s+connected\s+\S+\s+-\d+\.\d dBFS\s+50 %/, 'bob at 50 %');
    await sleep(2500);
    const shownAfter = bobOnScreen(screen());
    const heardAfter = toneLevelDb(wavTail(mix, 1), 440);
    console.log(`live mixer: bob in the mix ${heardBefore.toFixed(2)} → ${heardAfter.toFixed(2)} dB; on the screen ${shownBefore.level} → ${shownAfter.level} dBFS`);
    expect(heardAfter - heardBefore).toBeGreaterThan(-7);
    expect(heardAfter - heardBefore).toBeLessThan(-5);
    expect(shownAfter.volume).toBe(50);
    expect(shownAfter.level - shownBefore.level).toBeGreaterThan(-7);
    expect(shownAfter.level - shownBefore.level).toBeLessThan(-5);
    expect(after).toMatch(/bob/);

    // Space mutes us (the header says so), a typed line command works, and q leaves cleanly.
    tmux('send-keys', '-t', 'live', ' ');
    await screenShows(/microphone MUTED/, 'the microphone muted');
    tmux('send-keys', '-t', 'live', '-l', '--', ':volume bob 120');
    tmux('send-keys', '-t', 'live', 'Enter');
    await screenShows(/bob\s+connected\s+\S+\s+-\d+\.\d dBFS\s+120 %/, 'bob at 120 % from a typed command');
    tmux('send-keys', '-t', 'live', 'q');
    const sessionOpen = (): boolean => {
      try {
        return tmux('list-sessions').includes('live');
      } catch {
        return false; // the server went with its last session
      }
    };
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && sessionOpen()) await sleep(100);
    expect(sessionOpen(), 'alice left after q').toBe(false);
    expectCompleteWav(mix);
  });
});

describe('the live mixer is only for people', () => {
  it('a piped run (no terminal) keeps the line protocol', async () => {
    // Covered in depth by cli-join's stdin tests; here: no mixer drawing on a pipe.
    const server = await startServeCli();
    cleanups.push(() => server.stop());
    const peer = await startCli(['join', 'piped', '--server', server.url, '--name', 'pipe', '--input', 'silence', '--output', 'null'], /joined as pipe/);
    peer.child.stdin.end('peers\nquit\n');
    await exitOf(peer.child);
    expect(peer.output().stdout).toMatch(/nobody else is here/);
    expect(peer.output().stdout).not.toMatch(/microphone on|↑↓ pick/);
  });
});
