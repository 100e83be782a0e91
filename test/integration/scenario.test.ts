// Bots that check themselves, run as CI runs them: `voxroom scenario` and `voxroom join --expect`
// as child processes with real servers and wrtc connections, their exit codes, printed reasons
// and JUnit reports (read back by an XML parser).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { exitOf, runCli, startCli, startServeCli } from '../helpers/cli.js';
import { expectCompleteWav } from '../helpers/wav.js';
import { ClickSource } from '../../src/audio/click-timing.js';
import { parseStatement } from '../../src/scenario/expectation.js';
import { LatencyProbe } from '../../src/scenario/latency-probe.js';
import { judgeLatency } from '../../src/scenario/verdict.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'voxroom-scenario-'));

interface JunitSuites {
  testsuites: { tests: string; failures: string; errors: string; testsuite: { name: string; tests: string; failures: string; testcase: { name: string; failure?: { message: string } }[] } };
}
const readJunit = (path: string): JunitSuites => new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'testcase' }).parse(readFileSync(path, 'utf8')) as JunitSuites;
const events = (stdout: string): Record<string, unknown>[] => stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);

describe('voxroom scenario', () => {
  it('runs the three-bot example (volumes, a late joiner, a mute) and every expectation holds', async () => {
    const report = join(scratch, 'three-bots.xml');
    const result = await runCli(['scenario', join(root, 'examples/three-bots.yaml'), '--report', report], { timeoutMs: 30_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/4\.0 s {2}dave: join/);
    expect(result.stdout).toMatch(/all 7 expectations held/);
    const junit = readJunit(report);
    expect(junit.testsuites).toMatchObject({ tests: '7', failures: '0' });
    expect(junit.testsuites.testsuite.testcase.map((c) => c.name)).toContain('from 6s: carol does not hear bob');
  });

  it('runs the spatial example: bots stand on the map, walk and jump, and are heard by the distance law', async () => {
    const result = await runCli(['scenario', join(root, 'examples/spatial.yaml'), '--json'], { timeoutMs: 30_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const all = events(result.stdout);
    expect(all.some((e) => e.event === 'step' && e.bot === 'alice' && e.step === 'goto centre' && Math.abs((e.at as number) - 4) < 0.1), result.stdout).toBe(true);
    // The inverse distance law (reference 1 m) on a −23 dBFS tone: 4 m −35, 1 m −23, 9 m −42.1.
    const measured = (text: string): number => all.find((e) => e.event === 'expectation' && e.expectation === text)!.measured as number;
    expect(Math.abs(measured('at 2s: carol hears alice at 440 Hz >= -37 dBFS') + 35.04)).toBeLessThan(1);
    expect(Math.abs(measured('at 6.5s: carol hears alice at 440 Hz >= -25 dBFS') + 23)).toBeLessThan(1);
    expect(Math.abs(measured('at 7s: carol hears bob at 660 Hz < -40 dBFS') + 42.08)).toBeLessThan(1);
    expect(all.filter((e) => e.event === 'expectation' && e.passed === true)).toHaveLength(5);
  });

  it('runs against a server it did not start (server: URL): the bots join it, and the verdicts hold', async () => {
    const server = await startServeCli();
    try {
      const file = join(scratch, 'external.yaml');
      writeFileSync(file, `name: external\nserver: ${server.url}\nduration: 3s\nbots:\n  alice:\n    input: tone:440\n  bob: {}\nexpect:\n  - by 2s: bob hears alice at 440 Hz >= -30 dBFS\n`);
      const result = await runCli(['scenario', file, '--json'], { timeoutMs: 30_000 });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const all = events(result.stdout);
      expect(all.find((e) => e.event === 'server')).toMatchObject({ url: server.url, embedded: false });
      expect(all.find((e) => e.event === 'expectation')).toMatchObject({ passed: true });
    } finally {
      await server.stop();
    }
  });

  it('runs the latency example: a median mouth-to-ear delay from clicks, within its bound', async () => {
    const result = await runCli(['scenario', join(root, 'examples/mouth-to-ear.yaml'), '--json'], { timeoutMs: 30_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const latency = events(result.stdout).find((e) => e.event === 'expectation' && String(e.expectation).startsWith('from 2s: mouth-to-ear'))!;
    expect(latency.passed).toBe(true);
    // 10 ms packets on loopback: Opus, NetEq and a 1–2 frame jitter buffer, nothing more.
    expect(latency.measured as number).toBeGreaterThan(15);
    expect(latency.measured as number).toBeLessThan(150);
    expect(String(latency.reason)).toMatch(/over (2[5-9]|30) clicks/);
  });

  it('fails a scenario whose expectations cannot hold: exit 3, a reason per failure, a JUnit file with the failures', async () => {
    const report = join(scratch, 'failing.xml');
    const result = await runCli(['scenario', join(root, 'test/fixtures/scenarios/failing.yaml'), '--report', report], { timeoutMs: 30_000 });
    expect(result.code, result.stdout + result.stderr).toBe(3);
    expect(result.stdout).toMatch(/^RESULT {2}EXPECTATION +MEASURED$/m);
    expect(result.stdout).toMatch(/^PASS {4}carol hears alice at 440 Hz +alice at 440 Hz heard/m);
    expect(result.stdout).toMatch(/^FAIL {4}by 3s: carol hears alice at 880 Hz >= -40 dBFS +alice at 880 Hz never reached -40 dBFS by 3\.0 s .*but not at 880 Hz$/m);
    expect(result.stdout).toMatch(/^FAIL {4}from 1s: carol hears nobody +(alice|bob) was heard at -2\d\.\d dBFS at 1\.0 s/m);
    expect(result.stdout).toMatch(/2 of 3 expectations failed/);
    const junit = readJunit(report);
    expect(junit.testsuites).toMatchObject({ tests: '3', failures: '2' });
    expect(junit.testsuites.testsuite.testcase.filter((c) => c.failure).map((c) => c.failure!.message)).toHaveLength(2);
  });

  it('fails the run when a bot cannot join (exit 1, an error case in the report), whatever the verdicts', async () => {
    const dir = mkdtempSync(join(scratch, 'unreachable-'));
    writeFileSync(join(dir, 'gone.yaml'), 'server: http://127.0.0.1:9\nduration: 3s\nbots:\n  alice: {}\n');
    const report = join(dir, 'gone.xml');
    const result = await runCli(['scenario', join(dir, 'gone.yaml'), '--report', report], { timeoutMs: 20_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/alice: could not join: cannot reach the voxroom server \(http:\/\/127\.0\.0\.1:9/);
    expect(readJunit(report).testsuites).toMatchObject({ tests: '1', failures: '0', errors: '1' });
  });

  it('refuses a bad file with the line and exit 2, and starts nothing', async () => {
    const bad = join(scratch, 'bad.yaml');
    writeFileSync(bad, 'bots:\n  alice:\n    input: tone:440\n    timeline:\n      - 5s: mute\n      - 2s: unmute\n');
    const result = await runCli(['scenario', bad], { timeoutMs: 10_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`voxroom: ${bad}:6:9: timeline steps must be in time order: 2s comes after a later step\n`);
    expect(result.stdout).toBe('');
    const missing = join(scratch, 'missing-file.yaml');
    writeFileSync(missing, 'bots:\n  alice:\n    input: file:nowhere.wav\n');
    const refused = await runCli(['scenario', missing], { timeoutMs: 10_000 });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/bot alice: cannot read input file .*nowhere\.wav: ENOENT/);
    expect(refused.stdout).not.toMatch(/started a server/);
  });

  it('plays speech from espeak-ng and an MP3 through ffmpeg, and says so clearly when they are missing', async () => {
    const dir = mkdtempSync(join(scratch, 'inputs-'));
    copyFileSync(join(root, 'test/fixtures/scenarios/inputs.yaml'), join(dir, 'inputs.yaml'));
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=523:duration=2', '-ac', '1', join(dir, 'tone-523.mp3')]);
    const result = await runCli(['scenario', join(dir, 'inputs.yaml')], { timeoutMs: 30_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/all 3 expectations held/);
    // Without the programs on the PATH: a message that names the package, nothing started.
    const noTools = await runCli(['scenario', join(dir, 'inputs.yaml')], { timeoutMs: 10_000, env: { PATH: '/nonexistent' } });
    expect(noTools.code).toBe(2);
    expect(noTools.stderr).toMatch(/bot talker: speech input \(speak:\) needs espeak-ng, which is not installed; install it \(sudo apt-get install espeak-ng\)/);
    const mp3Join = await runCli(['join', 'x', '-s', 'http://127.0.0.1:9', '-i', `file:${join(dir, 'tone-523.mp3')}`, '-o', 'null'], { timeoutMs: 10_000, env: { PATH: '/nonexistent' } });
    expect(mp3Join.code).toBe(2);
    expect(mp3Join.stderr).toMatch(/is not a WAV file, and playing other formats \(MP3, Ogg\/Opus, FLAC\) needs ffmpeg: install it/);
  });
});

describe('a scenario stopped with Ctrl-C', () => {
  it('finalises every recording, judges what it measured and exits 1', async () => {
    const dir = mkdtempSync(join(scratch, 'interrupt-'));
    writeFileSync(join(dir, 'long.yaml'), 'duration: 60s\nbots:\n  alice:\n    input: tone:440\n  bob:\n    record-dir: rec\n    output: file:mix.wav\nexpect:\n  - bob hears alice\n');
    const { child, output } = await startCli(['scenario', join(dir, 'long.yaml')], /0\.0 s {2}bob: join/);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    child.kill('SIGINT');
    const { code } = await exitOf(child);
    expect(code).toBe(1);
    expect(output().stderr).toMatch(/interrupted \(SIGINT\) after 2\.\d s: judged on what was measured so far/);
    expect(output().stdout).toMatch(/^PASS {4}bob hears alice +alice heard/m);
    expectCompleteWav(join(dir, 'mix.wav'));
    expectCompleteWav(join(dir, 'rec', 'alice.wav'));
  });
});

describe('latency expectation on a known delay', () => {
  it('reads an ear that hears the mouth 50 ms later as 50 ± 2 ms, through the probe and verdict scenarios use', async () => {
    const expectation = parseStatement('mouth-to-ear alice→bob <= 60 ms', ['alice', 'bob']);
    if (expectation.kind !== 'latency') throw new Error('parsed as something else');
    const probe = new LatencyProbe('alice', 'bob', expectation.span);
    const mouth = new ClickSource(20, { log: false }); // a click every 200 ms
    probe.startAt(performance.now());
    await new Promise<void>((resolve) => {
      let frames = 0;
      const timer = setInterval(() => {
        const frame = mouth.read();
        probe.mouth.captured!(frame, performance.now());
        // The ear: alice's frame reaches bob's mix 50 ms later (with silence for anyone else).
        setTimeout(() => probe.ear.mixed!([{ name: 'carol', frame: null, gain: 1 }, { name: 'alice', frame, gain: 1 }], frame, performance.now()), 50);
        if (++frames >= 300) {
          clearInterval(timer);
          setTimeout(resolve, 150);
        }
      }, 10);
    });
    const { delaysMs, clicksSent } = probe.result();
    const verdict = judgeLatency(expectation, delaysMs, clicksSent);
    expect(clicksSent).toBe(15);
    expect(delaysMs).toHaveLength(15);
    expect(verdict.passed).toBe(true);
    expect(Math.abs(verdict.measured! - 50)).toBeLessThanOrEqual(2);
    expect(judgeLatency({ ...expectation, maxMs: 45 }, delaysMs, clicksSent).passed).toBe(false);
  });
});

describe('voxroom join --expect', () => {
  let serverUrl = '';
  let stopServer: () => Promise<void>;
  beforeAll(async () => {
    ({ url: serverUrl, stop: stopServer } = await startServeCli());
  });
  afterAll(async () => stopServer());

  it('judges a right and a wrong frequency, a peer that never joins and a peer at volume 0, with exit 3 and a JUnit report', async () => {
    const alice = runCli(['join', 'expect-room', '-s', serverUrl, '-n', 'alice', '-i', 'tone:440', '-o', 'null', '-d', '5'], { timeoutMs: 15_000 });
    const dave = runCli(['join', 'expect-room', '-s', serverUrl, '-n', 'dave', '-i', 'tone:660', '-o', 'null', '-d', '5'], { timeoutMs: 15_000 });
    const report = join(scratch, 'join.xml');
    const bob = await runCli(['join', 'expect-room', '-s', serverUrl, '-n', 'bob', '-i', 'silence', '-o', 'null', '--json', '--volume', 'dave=0', '--expect', 'alice:440>=-30', '--expect', 'alice:880', '--expect', 'carl', '--expect-silence', 'dave', '--expect-within', '3', '--report', report], { timeoutMs: 15_000 });
    await Promise.all([alice, dave]);
    expect(bob.code, bob.stdout + bob.stderr).toBe(3);
    const verdicts = events(bob.stdout).filter((e) => e.event === 'expectation');
    expect(verdicts.map((v) => [v.expectation, v.passed])).toEqual([
      ['bob hears alice at 440 Hz >= -30 dBFS within 3 s', true],
      ['bob hears alice at 880 Hz >= -50 dBFS within 3 s', false],
      ['bob hears carl >= -50 dBFS within 3 s', false],
      ['bob does not hear dave', true],
    ]);
    expect(verdicts[1]!.reason).toMatch(/but not at 880 Hz/);
    expect(verdicts[2]!.reason).toBe("carl never joined bob's room");
    expect(events(bob.stdout).find((e) => e.event === 'verdict')).toMatchObject({ expectations: 4, failed: 2 });
    expect(readJunit(report).testsuites).toMatchObject({ tests: '4', failures: '2' });
  });

  it('exits 0 when every expectation holds, and refuses --expect-within without --expect', async () => {
    const alice = runCli(['join', 'expect-ok', '-s', serverUrl, '-n', 'alice', '-i', 'tone:440', '-o', 'null', '-d', '4'], { timeoutMs: 15_000 });
    const bob = await runCli(['join', 'expect-ok', '-s', serverUrl, '-n', 'bob', '-i', 'silence', '-o', 'null', '--expect', 'alice:440', '--expect-within', '3'], { timeoutMs: 15_000 });
    await alice;
    expect(bob.code, bob.stdout + bob.stderr).toBe(0);
    expect(bob.stdout).toMatch(/^PASS {4}bob hears alice at 440 Hz >= -50 dBFS within 3 s {2}alice at 440 Hz heard from \d\.\d s, up to -2\d\.\d dBFS$/m);
    const usage = await runCli(['join', 'expect-ok', '-s', serverUrl, '--expect-within', '3'], { timeoutMs: 10_000 });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--expect-within needs at least one --expect NAME/);
  });
});

describe('the CI workflow example', () => {
  it('is valid YAML that builds voxroom from its repository (it is not on the npm registry) and runs a scenario with a JUnit report', () => {
    type Step = { run?: string; uses?: string; with?: Record<string, string>; 'working-directory'?: string };
    const workflow = parseYaml(readFileSync(join(root, 'examples/github-actions.yml'), 'utf8')) as { env: Record<string, string>; jobs: Record<string, { steps: Step[] }> };
    const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
    // voxroom's own checkout, built with its devDependencies (npm ci runs the TypeScript build) and installed from there.
    const checkout = steps.find((step) => step.uses?.startsWith('actions/checkout') && step.with?.repository === '${{ env.VOXROOM_REPOSITORY }}');
    expect(checkout?.with?.path).toBe('.voxroom');
    expect(steps.some((step) => step.run === 'npm ci && npm install -g .' && step['working-directory'] === '.voxroom')).toBe(true);
    expect(steps.some((step) => /npm install -g (voxroom|git)/.test(step.run ?? ''))).toBe(false);
    expect(steps.some((step) => step.run?.includes('voxroom scenario') && step.run.includes('--report'))).toBe(true);
    expect(steps.some((step) => step.uses?.startsWith('actions/setup-node'))).toBe(true);
  });
});
