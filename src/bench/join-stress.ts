// Join stress with real processes: rounds of `voxroom join` processes started at the same moment
// against one `voxroom serve`, each sending its own tone and recording everyone else. A round
// passes when every peer's recording of every other holds that peer's tone. Used by the test
// suite (a few rounds) and by `npm run bench` (many), so that races that need real timing show.
import { LOAD_TEST_CONNECTION_LIMITS } from '../server/connection-gate.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { toneLevel } from '../audio/analysis.js';
import { recordingSamples } from '../audio/wav-header.js';

/** Non-harmonic tones, one per peer of a room (Goertzel tells them apart in 100 ms blocks). */
const TONES = [350, 470, 590, 710, 830, 950, 1070, 1190];
/** A −20 dBFS sine's peak; a tone within 10 dB of it counts as heard. */
const TONE_PEAK = 32767 * 0.1;
const HEARD_DB = -10;
/** How long a peer listens once all its pairs are connected, and the tail that is analysed. */
const LISTEN_AFTER_CONNECTED_MS = 2500;
const ANALYSED_TAIL_S = 1.5;

export type StressScenario = 'simultaneous' | 'join-while-leave' | 'two-rooms';

export interface StressRound {
  round: number;
  scenario: StressScenario;
  /** "listener←speaker" for every pair one side did not hear. */
  silentPairs: string[];
  /** Safety-net retries reported by the peers (`retry` events). */
  retries: number;
  /** From the start of the round until the last peer had all its pairs connected (or gave up). */
  settleMs: number;
}

interface StressPeer {
  name: string;
  room: string;
  tone: number;
  child: ChildProcessWithoutNullStreams;
  recordDir: string;
  connected: Set<string>;
  retries: number;
  exited: Promise<void>;
}

export interface StressOptions {
  /** bin/voxroom.js of the build under test. */
  bin: string;
  serverUrl: string;
  /** How long a round waits for every pair before it counts the missing ones. */
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Starts a `voxroom serve` for the stress rounds; `injectDelayMs` slows its signalling. */
export async function startStressServer(bin: string, injectDelayMs?: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const args = [bin, 'serve', '--port', '0', '--max-peers', '16', '--max-connections-per-ip', String(LOAD_TEST_CONNECTION_LIMITS.perAddress), ...(injectDelayMs ? ['--inject-delay', String(injectDelayMs)] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('voxroom serve did not start within 15 s')), 15_000);
    lines.on('line', (line) => {
      const match = /listening on (\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`voxroom serve exited with ${code}`)));
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function startPeer(options: StressOptions, room: string, name: string, tone: number, extraArgs: string[] = []): StressPeer {
  const recordDir = mkdtempSync(join(tmpdir(), `voxroom-stress-${name}-`));
  const args = [options.bin, 'join', room, '--server', options.serverUrl, '--name', name, '--input', `tone:${tone}`, '--output', 'null', '--record-dir', recordDir, '--json', ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const peer: StressPeer = { name, room, tone, child, recordDir, connected: new Set(), retries: 0, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
  createInterface({ input: child.stdout }).on('line', (line) => {
    let event: { event?: string; peer?: string; state?: string };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return;
    }
    if (event.event === 'connection-state' && event.peer) {
      if (event.state === 'connected') peer.connected.add(event.peer);
      else peer.connected.delete(event.peer);
    } else if (event.event === 'retry') peer.retries++;
  });
  child.stderr.resume();
  return peer;
}

async function quit(peer: StressPeer): Promise<void> {
  if (peer.child.exitCode === null) peer.child.stdin.end('quit\n');
  const killer = setTimeout(() => peer.child.kill('SIGKILL'), 10_000);
  await peer.exited;
  clearTimeout(killer);
}

/** Who each peer must hear: everyone else in its room that stays to the end. */
function roommates(peers: StressPeer[], peer: StressPeer): StressPeer[] {
  return peers.filter((other) => other !== peer && other.room === peer.room);
}

/** Level of `tone` in the recording's tail, in dB relative to the −20 dBFS sine sent. */
function heardDb(recording: string, tone: number): number {
  let bytes: Buffer;
  try {
    bytes = readFileSync(recording);
  } catch {
    return -Infinity; // never recorded: that peer was never heard
  }
  const samples = recordingSamples(bytes);
  if (samples.length === 0) return -Infinity;
  const tail = samples.subarray(Math.max(0, samples.length - ANALYSED_TAIL_S * 48_000));
  return 20 * Math.log10(toneLevel(tail, tone) / TONE_PEAK);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One round: start the scenario's peers, wait until every pair is connected (or time out), listen, check. */
export async function runStressRound(options: StressOptions, round: number, scenario: StressScenario): Promise<StressRound> {
  const settleTimeoutMs = options.settleTimeoutMs ?? 20_000;
  const started = performance.now();
  const room = `stress-${process.pid}-${round}`;
  let peers: StressPeer[] = [];
  let leaver: StressPeer | null = null;
  if (scenario === 'two-rooms') {
    peers = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => startPeer(options, `${room}-${i % 2 === 0 ? 'a' : 'b'}`, `p${i + 1}`, TONES[i]!));
  } else if (scenario === 'join-while-leave') {
    // One peer is in the room and leaves just as five others arrive.
    leaver = startPeer(options, room, 'leaver', TONES[7]!);
    await waitFor(() => leaver!.child.exitCode !== null || leaver!.connected.size > 0 || performance.now() - started > 3000, 5000);
    await sleep(300);
    leaver.child.stdin.end('quit\n');
    peers = [0, 1, 2, 3, 4].map((i) => startPeer(options, room, `p${i + 1}`, TONES[i]!));
  } else {
    peers = [0, 1, 2, 3, 4, 5].map((i) => startPeer(options, room, `p${i + 1}`, TONES[i]!));
  }
  const settled = (): boolean => peers.every((peer) => roommates(peers, peer).every((other) => peer.connected.has(other.name)));
  await waitFor(settled, settleTimeoutMs);
  const settleMs = Math.round(performance.now() - started);
  await sleep(LISTEN_AFTER_CONNECTED_MS);
  await Promise.all([...peers, ...(leaver ? [leaver] : [])].map(quit));

  const silentPairs: string[] = [];
  for (const peer of peers) {
    for (const other of roommates(peers, peer)) {
      if (heardDb(join(peer.recordDir, `${other.name}.wav`), other.tone) < HEARD_DB) silentPairs.push(`${peer.name}←${other.name}`);
    }
  }
  for (const peer of [...peers, ...(leaver ? [leaver] : [])]) rmSync(peer.recordDir, { recursive: true, force: true });
  const result: StressRound = { round, scenario, silentPairs, retries: peers.reduce((sum, peer) => sum + peer.retries, 0), settleMs };
  options.log?.(`round ${round} (${scenario}): ${silentPairs.length === 0 ? 'every pair heard' : `silent: ${silentPairs.join(', ')}`}; retries ${result.retries}; settled in ${settleMs} ms`);
  return result;
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

export interface StressSummary {
  rounds: number;
  failedRounds: number;
  roundsWithRetries: number;
  retries: number;
  settleMedianMs: number;
  settleMaxMs: number;
}

export function summarize(results: StressRound[]): StressSummary {
  const settle = results.map((r) => r.settleMs).sort((a, b) => a - b);
  return {
    rounds: results.length,
    failedRounds: results.filter((r) => r.silentPairs.length > 0).length,
    roundsWithRetries: results.filter((r) => r.retries > 0).length,
    retries: results.reduce((sum, r) => sum + r.retries, 0),
    settleMedianMs: settle[Math.floor(settle.length / 2)] ?? 0,
    settleMaxMs: settle[settle.length - 1] ?? 0,
  };
}
