// An install where PortAudio cannot load (naudiodon is optional: no build tools, no audio
// libraries): the server and tone/file peers must work, and device commands must say what is
// missing. The install is a copy of the built program whose node_modules holds every package
// but naudiodon, so module resolution really fails.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const install = mkdtempSync(join(tmpdir(), 'voxroom-no-portaudio-'));

const run = (args: string[]): Promise<CliResult> => runCli(args, { bin: join(install, 'bin', 'voxroom.js'), cwd: install, timeoutMs: 30_000 });

beforeAll(() => {
  for (const part of ['bin', 'dist', 'public', 'package.json']) cpSync(join(ROOT, part), join(install, part), { recursive: true });
  mkdirSync(join(install, 'node_modules'));
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry === 'naudiodon' || entry.startsWith('.')) continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(install, 'node_modules', entry));
  }
});
afterAll(() => rmSync(install, { recursive: true, force: true }));

describe('without PortAudio (naudiodon cannot load)', () => {
  it('runs a server and three tone bots that hear each other', async () => {
    const result = await run(['demo', '--duration', '2', '--out', join(install, 'demo'), '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = result.stdout
      .split('\n')
      .filter((line) => line.includes('"event":"report"'))
      .map((line) => JSON.parse(line) as { report: Array<{ listener: string; heard: Record<string, number | null> }> })[0];
    expect(report?.report).toHaveLength(3);
    for (const { listener, heard } of report!.report) {
      for (const [speaker, level] of Object.entries(heard)) {
        if (!speaker.startsWith(listener)) expect(Math.abs((level as number) + 20)).toBeLessThan(3);
      }
    }
  });

  it('says what is missing when asked for devices', async () => {
    const listed = await run(['devices']);
    expect(listed.code).toBe(7);
    expect(listed.stderr).toMatch(/PortAudio \(the optional naudiodon module\) could not be loaded/);
    expect(listed.stderr).toMatch(/npm install|file\/tone inputs/);
    const joined = await run(['join', 'room', '--server', 'http://127.0.0.1:9', '--input', 'default', '--output', 'null']);
    expect(joined.code).toBe(7);
    expect(joined.stderr).toMatch(/naudiodon module\) could not be loaded/);
  });
});
