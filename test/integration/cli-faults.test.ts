// Issue 13: a fault in voxroom itself never ends a run silently. A real `voxroom join` gets a
// promise rejected that nobody handles, or a throw inside its audio tick or where a received
// frame enters the mix (injected with node --import): it says so, leaves cleanly with its
// recordings finalised, and exits with the internal-fault code.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { exitOf, runCli, startCli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/signalling.js';
import { expectCompleteWav } from '../helpers/wav.js';

// NODE_OPTIONS splits on spaces: the module's code is URL-encoded.
const INJECT_REJECTION = `--import=data:text/javascript,${encodeURIComponent("setTimeout(() => { Promise.reject(new Error('injected rejection')); }, 1500).unref();")}`;

// The tone source's 150th read (1.5 s into the run) throws, inside the audio tick: the patched
// class is the one the CLI loads (same module URL), so only this process is affected.
const TONE_SOURCE_URL = pathToFileURL(fileURLToPath(new URL('../../dist/audio/tone-source.js', import.meta.url))).href;
const INJECT_TICK_THROW = `--import=data:text/javascript,${encodeURIComponent(
  `const { ToneSource } = await import(${JSON.stringify(TONE_SOURCE_URL)}); const read = ToneSource.prototype.read; let reads = 0; ToneSource.prototype.read = function (...args) { if (++reads === 150) throw new Error('injected fault in the tick'); return read.apply(this, args); };`,
)}`;

// The 150th received chunk (1.5 s into hearing the friend) throws where it enters the mix: inside
// the handler wrtc's native side calls with each decoded frame.
const FRAME_ASSEMBLER_URL = pathToFileURL(fileURLToPath(new URL('../../dist/audio/frame-assembler.js', import.meta.url))).href;
const INJECT_RECEIVE_THROW = `--import=data:text/javascript,${encodeURIComponent(
  `const { FrameAssembler } = await import(${JSON.stringify(FRAME_ASSEMBLER_URL)}); const push = FrameAssembler.prototype.push; let pushes = 0; FrameAssembler.prototype.push = function (...args) { if (++pushes === 150) throw new Error('injected fault in a received frame'); return push.apply(this, args); };`,
)}`;

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

describe('internal faults', () => {
  it('an unhandled rejection during a join: reported, the mix finalised, exit 4', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-fault-'));
    const mix = join(dir, 'mix.wav');
    const result = await runCli(['join', 'faults', '--server', server.url, '--name', 'victim', '--input', 'tone:440', '--output', `file:${mix}`, '--duration', '15'], { env: { NODE_OPTIONS: INJECT_REJECTION }, timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(EXIT_CODES.internalFault);
    expect(result.stderr).toMatch(/internal fault: unhandled rejection: Error: injected rejection/);
    expect(result.stderr).toMatch(/Please report this as a bug/);
    expectCompleteWav(mix);
  });

  it('voxroom scenario: an unhandled rejection stops the bots and exits 4', async () => {
    const scenario = fileURLToPath(new URL('../fixtures/scenarios/failing.yaml', import.meta.url));
    const result = await runCli(['scenario', scenario], { env: { NODE_OPTIONS: INJECT_REJECTION }, timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(EXIT_CODES.internalFault);
    expect(result.stderr).toMatch(/internal fault: unhandled rejection: Error: injected rejection.*Please report this as a bug/s);
  }, 30_000);

  it('a throw inside the audio tick: reported, the mix and recordings finalised, exit 4', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-fault-'));
    const mix = join(dir, 'mix.wav');
    const friend = await startCli(['join', 'tick-faults', '--server', server.url, '--name', 'friend', '--input', 'tone:660', '--output', 'null'], /joined as friend/);
    try {
      const result = await runCli(['join', 'tick-faults', '--server', server.url, '--name', 'victim', '--input', 'tone:440', '--output', `file:${mix}`, '--record-dir', dir, '--duration', '15'], { env: { NODE_OPTIONS: INJECT_TICK_THROW }, timeoutMs: 20_000 });
      expect(result.code, result.stderr).toBe(EXIT_CODES.internalFault);
      expect(result.stderr).toMatch(/internal fault: .*injected fault in the tick/);
      expect(result.stderr).toMatch(/Please report this as a bug/);
      expectCompleteWav(mix);
      expectCompleteWav(join(dir, 'friend.wav'));
    } finally {
      friend.child.kill('SIGINT');
      await exitOf(friend.child);
    }
  }, 30_000);

  it('a throw while a received frame is handled (in wrtc\'s native callback): reported, the mix finalised, exit 4, not an abort', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-fault-'));
    const mix = join(dir, 'mix.wav');
    const friend = await startCli(['join', 'receive-faults', '--server', server.url, '--name', 'friend', '--input', 'tone:660', '--output', 'null'], /joined as friend/);
    try {
      const result = await runCli(['join', 'receive-faults', '--server', server.url, '--name', 'victim', '--input', 'tone:440', '--output', `file:${mix}`, '--duration', '15'], { env: { NODE_OPTIONS: INJECT_RECEIVE_THROW }, timeoutMs: 20_000 });
      expect(result.code, result.stderr).toBe(EXIT_CODES.internalFault);
      expect(result.stderr).toMatch(/internal fault: .*injected fault in a received frame/);
      expectCompleteWav(mix);
    } finally {
      friend.child.kill('SIGINT');
      await exitOf(friend.child);
    }
  }, 30_000);
});
