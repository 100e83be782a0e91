// Issue 13: a fault in voxroom itself never ends a run silently. A real `voxroom join` gets a
// promise rejected that nobody handles (injected with node --import): it says so, leaves
// cleanly with its recordings finalised, and exits with the internal-fault code.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { runCli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/signalling.js';
import { expectCompleteWav } from '../helpers/wav.js';

// NODE_OPTIONS splits on spaces: the module's code is URL-encoded.
const INJECT_REJECTION = `--import=data:text/javascript,${encodeURIComponent("setTimeout(() => { Promise.reject(new Error('injected rejection')); }, 1500).unref();")}`;

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
});
