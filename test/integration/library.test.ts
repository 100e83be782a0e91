// The library as a user sees it: imported by the package name, through package.json's
// "exports" (so it runs the built dist/, as published), and the README's example, verbatim.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as voxroom from 'voxroom';
import { MemorySink, ToneSource, VoicePeer, startSignallingServer, toneLevel } from 'voxroom';
import { TONE_AMPLITUDE } from '../helpers/peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** The README's "As a library" code, between the markers below, run as written. */
async function readmeExample(): Promise<{ aliceHears: MemorySink; bobHears: MemorySink }> {
  // README example: begin
  // A server in this process (or use the URL of a running `voxroom serve`).
  const server = await startSignallingServer({ port: 0 });
  // What each peer hears (its mix), the newest 10 s of it.
  const aliceHears = new MemorySink({ maxSeconds: 10 });
  const bobHears = new MemorySink({ maxSeconds: 10 });
  const alice = new VoicePeer({ serverUrl: server.url, room: 'lobby', name: 'alice', source: new ToneSource(440), sink: aliceHears });
  const bob = new VoicePeer({ serverUrl: server.url, room: 'lobby', name: 'bob', source: new ToneSource(620), sink: bobHears });
  alice.on('peer-joined', (peer) => console.log(`alice: ${peer.name} joined`));
  await alice.start();
  await bob.start();
  bob.setVolume('alice', 50); // percent, 0–200
  await new Promise((resolve) => setTimeout(resolve, 3000));
  // Tone level in the last second, as a peak amplitude (a ToneSource's −20 dBFS is 3277).
  console.log('alice hears 620 Hz at', toneLevel(aliceHears.samples(1), 620));
  console.log('bob hears 440 Hz at', toneLevel(bobHears.samples(1), 440));
  await Promise.all([alice.stop(), bob.stop()]);
  await server.close();
  // README example: end
  return { aliceHears, bobHears };
}

const levelDb = (sink: MemorySink, frequency: number): number => 20 * Math.log10(toneLevel(sink.samples(1), frequency) / TONE_AMPLITUDE);

describe("import … from 'voxroom'", () => {
  it("resolves through package.json's exports to the built entry and its types, in plain Node too", async () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    expect(existsSync(`${ROOT}${pkg.exports['.']!.types}`), 'the exports map names a .d.ts that the build wrote').toBe(true);
    const script = "const m = await import('voxroom'); console.log(JSON.stringify({ url: import.meta.resolve('voxroom'), names: Object.keys(m) }));";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    const seen = JSON.parse(stdout) as { url: string; names: string[] };
    expect(fileURLToPath(seen.url)).toBe(`${ROOT}${pkg.exports['.']!.default.slice(2)}`);
    expect(seen.names.sort()).toEqual(Object.keys(voxroom).sort());
    for (const name of ['VoicePeer', 'ToneSource', 'WavFileSource', 'MemorySink', 'startSignallingServer']) expect(seen.names).toContain(name);
  });

  it('the README example runs as written, and each peer hears the other', async () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const block = /### As a library\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const [importLine = '', ...body] = (block ?? '').trim().split('\n');
    const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
    const region = /\/\/ README example: begin\n([\s\S]*?)\n\s*\/\/ README example: end/.exec(source)![1]!;
    const trimmed = (lines: string[]): string[] => lines.map((line) => line.trim()).filter((line) => line !== '');
    expect(trimmed(body), 'README.md and this test show the same code').toEqual(trimmed(region.split('\n')));
    // The names the README imports are the package's.
    const imported = /^import \{ (.+) \} from 'voxroom';$/.exec(importLine)?.[1]?.split(', ') ?? [];
    expect(imported.length).toBeGreaterThan(0);
    for (const name of imported) expect(Object.keys(voxroom)).toContain(name);

    const { aliceHears, bobHears } = await readmeExample();
    expect(levelDb(aliceHears, 620), 'alice hears bob').toBeGreaterThan(-3);
    expect(levelDb(bobHears, 440), 'bob hears alice at 50 %').toBeGreaterThan(-6.02 - 3);
    expect(levelDb(bobHears, 440), 'bob hears alice at 50 %').toBeLessThan(-6.02 + 3);
    // Nobody hears themselves.
    expect(levelDb(aliceHears, 440)).toBeLessThan(-40);
    expect(levelDb(bobHears, 620)).toBeLessThan(-40);
  });
});
