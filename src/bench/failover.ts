// Audio lost when the signalling server goes away mid-call (issue 14's goal: none). Two
// `voxroom join` processes (tones, --record-dir) talk; then the server they use is killed with
// -9: a single node that is started again on the same port, or a cluster node behind nginx
// whose member moves to the other node, in a mesh room and in an SFU room (Janus keeps the dead
// node's sessions, and the other node claims its members' as they resume there). Media flows
// peer to peer or through Janus, not through the server, so the call should not notice: a lost
// frame is a 10 ms frame below −50 dBFS in a peer's recording of the other, counted from 1 s
// before the kill until half a second before the peers are stopped (the recording's end, where
// the window is counted from, comes as a peer stops: its times are late by that, tens of ms).
// The baseline, in the same call: the frames lost in a window of the same length just before
// that, with the server up (what this machine loses anyway while two peers, servers and the
// benchmark share its two cores).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { withTimeout } from '../timeout.js';
import { longestSilenceMs } from '../audio/analysis.js';
import { FRAME_SAMPLES } from '../audio/format.js';
import { recordingSamples } from '../audio/wav-header.js';
import { silentLogger } from '../log.js';
import { startJanusProcess } from '../server/janus-process.js';
import { freePort } from '../server/free-port.js';
import { startNginx, startRedis } from './services.js';
import { sleep } from './stats.js';

export interface FailoverFigures {
  scenario: string;
  /** 10 ms frames analysed, both directions together. */
  framesAnalysed: number;
  /** Of those, frames below −50 dBFS: audio lost. */
  framesLost: number;
  /** When each lost frame was due, in ms after the kill (negative: before it), in order: a loss at the kill or while the peers were away is the failure's; one long after they were back is more likely the machine's. */
  lostAtMs: number[];
  /** Frames the window should have held but no recording had (a missing or short file): nothing was analysed there. */
  framesMissing: number;
  longestGapMs: number;
  /** The baseline: frames lost in a window as long, just before it, with the server up. */
  controlFramesLost: number;
  controlLongestGapMs: number;
  /** From the kill until the last peer that had to was back in its room, in ms (null: nobody rejoined). */
  rejoinedAfterMs: number | null;
  /** Every peer kept its member id through the failure. */
  sameIds: boolean;
}

export const FAILOVER_TIMING = {
  /** The call runs this long with everyone connected before the kill: 2 s, then the baseline window (as long as the measured one, at most 10 s). */
  beforeKillMs: 12_000,
  /** And this long after it: past a dead node's heartbeat expiry (5 s) and its sweep. */
  afterKillMs: 8_000,
} as const;
/** The peers' own leave at the end is not part of the failure. */
const END_MARGIN_FRAMES = 50;

interface PeerProcess {
  readonly name: string;
  readonly recordDir: string;
  readonly ids: string[];
  readonly connected: Promise<void>;
  rejoinedAt: number | null;
  stop(): Promise<void>;
}

interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Calls per scenario: a lost frame is rare either way, so one call says little. */
export const FAILOVER_CALLS = 3;

export async function measureFailover(bin: string): Promise<FailoverFigures[]> {
  const repeated = async (measure: () => Promise<FailoverFigures>): Promise<FailoverFigures> => {
    const calls: FailoverFigures[] = [];
    for (let i = 0; i < FAILOVER_CALLS; i++) calls.push(await measure());
    return pooled(calls);
  };
  const figures = [await repeated(() => singleNodeRestart(bin)), await repeated(() => clusterNodeCrash(bin, null))];
  const janus = await startJanusProcess({ logger: silentLogger, reclaimSessionTimeoutS: 30 });
  try {
    figures.push(await repeated(() => clusterNodeCrash(bin, janus.url)));
  } finally {
    await janus.stop();
  }
  return figures;
}

/** Several calls of one scenario as one row: frames summed, the longest gaps and the slowest return. */
function pooled(calls: FailoverFigures[]): FailoverFigures {
  const sum = (pick: (f: FailoverFigures) => number): number => calls.reduce((total, f) => total + pick(f), 0);
  const max = (pick: (f: FailoverFigures) => number): number => Math.max(...calls.map(pick));
  const rejoins = calls.flatMap((f) => (f.rejoinedAfterMs === null ? [] : [f.rejoinedAfterMs]));
  return {
    scenario: calls[0]!.scenario,
    framesAnalysed: sum((f) => f.framesAnalysed),
    framesLost: sum((f) => f.framesLost),
    lostAtMs: calls.flatMap((f) => f.lostAtMs).sort((a, b) => a - b),
    framesMissing: sum((f) => f.framesMissing),
    longestGapMs: max((f) => f.longestGapMs),
    controlFramesLost: sum((f) => f.controlFramesLost),
    controlLongestGapMs: max((f) => f.controlLongestGapMs),
    rejoinedAfterMs: rejoins.length > 0 ? Math.max(...rejoins) : null,
    sameIds: calls.every((f) => f.sameIds),
  };
}

async function singleNodeRestart(bin: string): Promise<FailoverFigures> {
  const port = await freePort();
  const secretFile = join(mkdtempSync(join(tmpdir(), 'voxroom-failover-')), 'secret');
  writeFileSync(secretFile, randomBytes(32).toString('hex'));
  const args = ['serve', '--port', String(port), '--secret-file', secretFile, '--resume-grace', '15'];
  let server = await startServer(bin, args);
  const peers = [startPeer(bin, server.url, 'restart', 'alice', 440), startPeer(bin, server.url, 'restart', 'bob', 620)];
  try {
    await callUp(peers);
    const killedAt = Date.now();
    await server.kill('SIGKILL');
    server = await startServer(bin, args);
    return await finish('single node killed (-9) and started again on its port', peers, killedAt);
  } finally {
    await Promise.all(peers.map((peer) => peer.stop()));
    await server.kill('SIGTERM');
  }
}

/** `janusUrl`: an SFU room through that Janus (every node uses it); null: a mesh room. */
async function clusterNodeCrash(bin: string, janusUrl: string | null): Promise<FailoverFigures> {
  const redis = await startRedis();
  const nodes: ServerProcess[] = [];
  const peers: PeerProcess[] = [];
  let nginx: Awaited<ReturnType<typeof startNginx>> | null = null;
  try {
    const media = janusUrl === null ? [] : ['--janus', janusUrl, '--media', 'sfu'];
    for (let i = 0; i < 2; i++) nodes.push(await startServer(bin, ['serve', '--port', '0', '--redis', redis.url, '--resume-grace', '15', ...media]));
    nginx = await startNginx(nodes.map((node) => Number(new URL(node.url).port)));
    peers.push(startPeer(bin, nginx.url, 'crash', 'alice', 440), startPeer(bin, nginx.url, 'crash', 'bob', 620));
    await callUp(peers);
    // The node carrying alice (and bob too, if the balancer put both there) dies.
    const carried = await Promise.all(nodes.map(async (node) => ((await (await fetch(`${node.url}/healthz`)).json()) as { peers: number }).peers));
    const victim = nodes[Math.max(0, carried.findIndex((count) => count > 0))]!;
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    const room = janusUrl === null ? 'mesh room' : 'SFU room through Janus, reclaim_session_timeout 30 s: the other node claims their Janus sessions';
    return await finish(`cluster node killed (-9) behind nginx; its members resume on the other node (${room})`, peers, killedAt);
  } finally {
    await Promise.all(peers.map((peer) => peer.stop()));
    await nginx?.stop();
    for (const node of nodes) await node.kill('SIGTERM');
    await redis.stop();
  }
}

async function callUp(peers: PeerProcess[]): Promise<void> {
  await Promise.all(peers.map((peer) => withTimeout(peer.connected, 20_000, `${peer.name} never connected`)));
  await sleep(FAILOVER_TIMING.beforeKillMs);
}

async function finish(scenario: string, peers: PeerProcess[], killedAt: number): Promise<FailoverFigures> {
  await sleep(FAILOVER_TIMING.afterKillMs);
  const stoppedAt = Date.now();
  await Promise.all(peers.map((peer) => peer.stop()));
  let framesAnalysed = 0;
  let framesMissing = 0;
  let framesLost = 0;
  const lostAtMs: number[] = [];
  let longestGapMs = 0;
  let controlFramesLost = 0;
  let controlLongestGapMs = 0;
  const isLost = (frame: Int16Array): boolean => longestSilenceMs([frame]) > 0;
  const lost = (frames: Int16Array[]): number => frames.filter(isLost).length;
  for (const listener of peers) {
    for (const talker of peers) {
      if (talker === listener) continue;
      // The recording ends as the peer stops; the last END_MARGIN_FRAMES of it are left out.
      const window = Math.round((stoppedAt - killedAt + 1000) / 10) - END_MARGIN_FRAMES;
      const { measured: frames, control } = lastFrames(join(listener.recordDir, `${talker.name}.wav`), window);
      framesAnalysed += frames.length;
      framesMissing += window - frames.length;
      framesLost += lost(frames);
      // Counted back from the end: a short recording lacks the window's first frames, not its last.
      const endMs = stoppedAt - killedAt - END_MARGIN_FRAMES * 10;
      frames.forEach((frame, i) => isLost(frame) && lostAtMs.push(endMs - (frames.length - i) * 10));
      longestGapMs = Math.max(longestGapMs, longestSilenceMs(frames));
      controlFramesLost += lost(control);
      controlLongestGapMs = Math.max(controlLongestGapMs, longestSilenceMs(control));
    }
  }
  const rejoins = peers.flatMap((peer) => (peer.rejoinedAt === null ? [] : [peer.rejoinedAt - killedAt]));
  return {
    scenario,
    framesAnalysed,
    framesMissing,
    framesLost,
    lostAtMs: lostAtMs.sort((a, b) => a - b),
    longestGapMs,
    controlFramesLost,
    controlLongestGapMs,
    rejoinedAfterMs: rejoins.length > 0 ? Math.max(...rejoins) : null,
    sameIds: peers.every((peer) => new Set(peer.ids).size === 1),
  };
}

/**
 * The last `count` frames recorded before the end margin (`measured`), and the `count` before
 * those (`control`); none if the file is missing.
 */
function lastFrames(path: string, count: number): { measured: Int16Array[]; control: Int16Array[] } {
  let samples: Int16Array;
  try {
    samples = recordingSamples(readFileSync(path));
  } catch {
    return { measured: [], control: [] };
  }
  const total = Math.floor(samples.length / FRAME_SAMPLES) - END_MARGIN_FRAMES;
  const frames = (from: number, to: number): Int16Array[] => {
    const out: Int16Array[] = [];
    for (let i = Math.max(0, from); i < to; i++) out.push(samples.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
    return out;
  };
  return { measured: frames(total - count, total), control: frames(total - 2 * count, Math.max(0, total - count)) };
}

function startPeer(bin: string, url: string, room: string, name: string, hz: number): PeerProcess {
  const recordDir = mkdtempSync(join(tmpdir(), `voxroom-failover-${name}-`));
  const child = spawn(process.execPath, [bin, 'join', room, '-s', url, '-n', name, '-i', `tone:${hz}`, '-o', 'null', '--record-dir', recordDir, '--reconnect-timeout', '30', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let onConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const peer: PeerProcess = {
    name,
    recordDir,
    ids: [],
    connected,
    rejoinedAt: null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let event: { event?: string; self?: { id: string }; state?: string };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return;
    }
    if ((event.event === 'joined' || event.event === 'rejoined') && event.self) peer.ids.push(event.self.id);
    if (event.event === 'rejoined') peer.rejoinedAt = Date.now();
    if (event.event === 'connection-state' && event.state === 'connected') onConnected();
  });
  return peer;
}

async function startServer(bin: string, args: string[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const url = await withTimeout(
    new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => {
        const match = /listening on (http:\/\/[^\s;]+)/.exec(line);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`voxroom ${args.join(' ')} exited with ${code} before listening`)));
    }),
    20_000,
    `voxroom ${args.join(' ')} did not start`,
  );
  return {
    url,
    child,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
