// SFU rooms through Janus: the largest room this machine sustains, a broadcast, and the
// mouth-to-ear latency next to the mesh's. The bench process runs Janus (a child) and the
// signalling server; the peers run in `voxroom load` processes (many peers each), so their CPU,
// Janus's and the server's are measured apart.
import { LOAD_TEST_CONNECTION_LIMITS } from '../server/connection-gate.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { silentLogger } from '../log.js';
import { JanusDriver } from '../server/janus-driver.js';
import { startJanusProcess, type JanusProcess } from '../server/janus-process.js';
import { startSignallingServer, type RunningServer } from '../server/signalling-server.js';
import { describeShortfalls, percentOf, type LoadSample } from '../peer/load-generator.js';
import { cpuPercentOver, cpuSeconds, sleep } from './stats.js';
import { longestSilenceMs } from '../audio/analysis.js';
import { MemorySink } from '../audio/memory-sink.js';
import { ToneSource } from '../audio/tone-source.js';
import { VoicePeer } from '../peer/voice-peer.js';

export interface SfuRoomFigures {
  speakers: number;
  listeners: number;
  processes: number;
  /** Every listener heard every speaker (in every process) at the end. */
  allHeard: boolean;
  gapPercent: number;
  lateTickPercent: number;
  /** CPU of the peers' processes, per peer and in all, in percent of one core. */
  cpuPercentPerPeer: number;
  cpuPercentPeers: number;
  janusCpuPercent: number;
  rssMbPerPeer: number;
  sustained: boolean;
}

/** What "sustained" means here, as the issue states it. */
export const SUSTAINED = { maxGapPercent: 0.1, maxLateTickPercent: 1 };

export class SfuBench {
  private constructor(
    private readonly janus: JanusProcess,
    private readonly driver: JanusDriver,
    readonly server: RunningServer,
  ) {}

  static async start(): Promise<SfuBench> {
    const janus = await startJanusProcess({ logger: silentLogger });
    // --max-speakers 4: a listener gets the room's four speakers, and no more.
    const driver = await JanusDriver.connect(janus.url, silentLogger, { maxSpeakers: 4 });
    const server = await startSignallingServer({ port: 0, media: 'sfu', janus: driver, maxPeersPerRoom: 5000, connectionLimits: LOAD_TEST_CONNECTION_LIMITS });
    return new SfuBench(janus, driver, server);
  }

  get janusDriver(): JanusDriver {
    return this.driver;
  }

  /**
   * `speakers` and `listeners` in one room, spread over `processes` load processes (speakers in
   * the first); figures over the last `windowSeconds` of `seconds` after everyone joined.
   */
  async measureRoom(bin: string, room: string, speakers: number, listeners: number, processes: number, seconds = 16, windowSeconds = 10): Promise<SfuRoomFigures> {
    const runs = Array.from({ length: processes }, (_, i) => {
      const share = Math.floor(listeners / processes) + (i < listeners % processes ? 1 : 0);
      // The speakers' process runs 3 s longer: every listener's last figures come while they still speak.
      return runLoadProcess(bin, this.server.url, room, i === 0 ? speakers : 0, share, i === 0 && processes > 1 ? seconds + 3 : seconds, speakers, `p${i + 1}`);
    });
    // Janus's CPU over the measurement window, which closes when the load processes stop.
    const janusWindow = (async () => {
      await new Promise((resolve) => setTimeout(resolve, (seconds - windowSeconds) * 1000 + 1500));
      const start = cpuSeconds(this.janus.pid);
      const startedAt = performance.now();
      await new Promise((resolve) => setTimeout(resolve, (windowSeconds - 1) * 1000));
      return ((cpuSeconds(this.janus.pid) - start) / ((performance.now() - startedAt) / 1000)) * 100;
    })();
    const [results, janusCpu] = await Promise.all([Promise.all(runs), janusWindow]);
    // The speakers' process ran 3 s longer: its window ends 3 s before its last sample.
    const inWindow = results.map((samples, i) => windowOf(i === 0 && processes > 1 ? samples.slice(0, -3) : samples, windowSeconds));
    const peers = speakers + listeners;
    const totals = inWindow.reduce((sum, w) => ({ frames: sum.frames + w.frames, gapFrames: sum.gapFrames + w.gapFrames, ticks: sum.ticks + w.ticks, lateTicks: sum.lateTicks + w.lateTicks, cpu: sum.cpu + w.cpuPercent, rss: sum.rss + w.rssMb }), { frames: 0, gapFrames: 0, ticks: 0, lateTicks: 0, cpu: 0, rss: 0 });
    const allHeard = results.every((samples, i) => {
      const last = samples[samples.length - 1];
      // A process with no listeners (all went to others) has no one to check.
      const hasListeners = Math.floor(listeners / processes) + (i < listeners % processes ? 1 : 0) > 0;
      return last !== undefined && last.connected === last.peers && (!hasListeners || last.speakersHeardMin >= speakers);
    });
    const gapPercent = percentOf(totals.gapFrames, totals.frames);
    const lateTickPercent = percentOf(totals.lateTicks, totals.ticks);
    return {
      speakers,
      listeners,
      processes,
      allHeard,
      gapPercent,
      lateTickPercent,
      cpuPercentPerPeer: Math.round((totals.cpu / peers) * 10) / 10,
      cpuPercentPeers: Math.round(totals.cpu),
      janusCpuPercent: Math.round(janusCpu),
      rssMbPerPeer: Math.round((totals.rss / peers) * 10) / 10,
      sustained: allHeard && gapPercent < SUSTAINED.maxGapPercent && lateTickPercent < SUSTAINED.maxLateTickPercent,
    };
  }

  /** A listener's cost as silent members join, in this bench's room server (measureSilentGrowth). */
  async measureSilentGrowth(bin: string, room: string, options: Omit<SilentGrowthOptions, 'publishers'>): Promise<SilentGrowthFigures> {
    return measureSilentGrowth(bin, this.server.url, room, { ...options, publishers: () => this.driver.publishersIn(room) });
  }

  /**
   * The gap a listener hears when its room moves mesh → SFU (a fourth member past --mesh-max 3)
   * and back (two leave; two members for 2 s): the longest silence in its mix around each switch.
   */
  async measureSwitchGaps(): Promise<{ toSfuMs: number; toMeshMs: number }> {
    const server = await startSignallingServer({ port: 0, media: 'auto', janus: this.driver, autoMedia: { meshMax: 3, meshReturnAt: 2, meshReturnAfterMs: 2000 } });
    const peers = [440, 620, 970, 1210].map((tone, i) => ({ sink: new MemorySink(), tone, name: `p${i + 1}` })).map((p) => ({ ...p, peer: new VoicePeer({ serverUrl: server.url, room: 'switch', name: p.name, source: new ToneSource(p.tone), sink: p.sink }) }));
    const [listener] = peers;
    const written = (): number => listener!.sink.droppedFrames + listener!.sink.frames.length;
    const since = (count: number): Int16Array[] => listener!.sink.frames.slice(Math.max(0, count - listener!.sink.droppedFrames));
    try {
      for (const p of peers.slice(0, 3)) await p.peer.start();
      await until(() => listener!.peer.peers().filter((p) => p.connection === 'connected').length === 2, 'a three-peer mesh');
      await sleep(1500);
      const beforeGrow = written();
      await peers[3]!.peer.start();
      await until(() => peers.every((p) => p.peer.status().media === 'sfu'), 'the move to the SFU');
      await sleep(2000);
      const toSfuMs = longestSilenceMs(since(beforeGrow));
      await peers[3]!.peer.stop();
      await peers[2]!.peer.stop();
      const beforeShrink = written();
      await until(() => listener!.peer.status().media === 'mesh', 'the move back to the mesh');
      await sleep(2000);
      return { toSfuMs, toMeshMs: longestSilenceMs(since(beforeShrink)) };
    } finally {
      await Promise.all(peers.map((p) => p.peer.stop()));
      await server.close();
    }
  }

  async stop(): Promise<void> {
    await this.server.close();
    await this.driver.close();
    await this.janus.stop();
  }
}

interface WindowFigures {
  frames: number;
  gapFrames: number;
  ticks: number;
  lateTicks: number;
  /** Mean CPU of the process over the window, percent of one core. */
  cpuPercent: number;
  rssMb: number;
}

export interface SilentGrowthOptions {
  talkers: number;
  /** Silent members (publishing silence) at first, and once more have joined. */
  silentBefore: number;
  silentAfter: number;
  listeners: number;
  /** Each measurement's length, from 2 s after everyone in it publishes and is connected. */
  windowSeconds: number;
  /** How many members publish in the room now (the server's Janus driver: publishersIn). */
  publishers: () => number;
}

export interface SilentGrowthFigures extends Omit<SilentGrowthOptions, 'publishers'> {
  /**
   * The listeners' process CPU per listener, % of one core: with silentBefore silent members,
   * with silentAfter, and with silentBefore again once the others left.
   */
  cpuPercentPerListenerBefore: number;
  cpuPercentPerListenerAfter: number;
  cpuPercentPerListenerBeforeAgain: number;
  /** After, against the mean of the two measurements with fewer silent members. */
  ratio: number;
  /** The fewest talkers a listener heard at the end of each measurement, in order. */
  speakersHeardAtEnds: [number, number, number];
  /** Why listeners fell short at each window's end ('' for a window where every one heard every talker). */
  shortfallsAtEnds: [string, string, string];
  /** The listeners' gap frames from the first measurement's start to the last's end (joins and leaves between included), % of frames. */
  gapPercent: number;
}

/** Settling after everyone in a measurement is connected. */
const SETTLE_MS = 2000;

/**
 * A listener's cost against the number of silent members: `talkers` and `silentBefore` silent
 * members in one load process, `listeners` in another, whose CPU is the figure; then more silent
 * members join from a third process, up to `silentAfter`, and it is measured again; then they
 * leave, and it is measured a third time. The same listeners, connections and minute, so that
 * only the silent members differ (measured apart, one room after another, a room's figure
 * varied by up to 50 % between runs on this machine), and a drift over the minute shows as a
 * difference between the first and third. The server must route the loudest speakers (the Janus
 * driver's maxSpeakers) for the figure to mean anything.
 */
export async function measureSilentGrowth(bin: string, serverUrl: string, room: string, options: SilentGrowthOptions): Promise<SilentGrowthFigures> {
  const { talkers, silentBefore, silentAfter, listeners, windowSeconds, publishers } = options;
  // Each process is ended (Ctrl-C) after its part; the duration only bounds one left behind
  // (a slow run takes up to 5 waits of 20 s, 3 windows and the joins).
  const counts = (speakers: number, silent: number, ears: number): string[] => ['--speakers', String(speakers), '--silent', String(silent), '--listeners', String(ears), '--expect-speakers', String(talkers), '--duration', '300'];
  const processes: LoadProcess[] = [];
  const start = (tag: string, args: string[]): LoadProcess => {
    const started = new LoadProcess(bin, serverUrl, room, tag, args);
    processes.push(started);
    return started;
  };
  const publishing = (count: number, what: string): Promise<void> => until(() => publishers() === count, () => `${what} (${count} publishing; ${publishers()} now)`);
  try {
    start('crowd', counts(talkers, silentBefore, 0));
    await publishing(talkers + silentBefore, 'the talkers and the first silent members');
    const ears = start('ears', counts(0, 0, listeners));
    const measure = async (): Promise<Window> => {
      const since = performance.now();
      await ears.until((s) => s.connected === s.peers && s.speakersHeardMin >= talkers, 'every listener hearing every talker', since);
      const from = performance.now() + SETTLE_MS;
      const to = from + windowSeconds * 1000;
      await sleep(to - performance.now());
      // The sample that closes the window.
      const last = await ears.until((s) => s.receivedAt >= to, 'the window\'s last sample', since);
      return { from, to, heard: last.speakersHeardMin, shortfalls: describeShortfalls(last) };
    };
    const before = await measure();
    const more = start('more', counts(0, silentAfter - silentBefore, 0));
    await publishing(talkers + silentAfter, 'every silent member');
    const after = await measure();
    await more.stop();
    await publishing(talkers + silentBefore, 'the other silent members gone');
    const beforeAgain = await measure();
    const perListener = (window: Window): number => Math.round((cpuPercentOver(ears.samples, window.from, window.to) / listeners) * 100) / 100;
    const [cpuBefore, cpuAfter, cpuBeforeAgain] = [before, after, beforeAgain].map(perListener) as [number, number, number];
    const atStart = ears.samples.find((s) => s.receivedAt >= before.from);
    const atEnd = ears.samples.find((s) => s.receivedAt >= beforeAgain.to);
    return {
      talkers,
      silentBefore,
      silentAfter,
      listeners,
      windowSeconds,
      cpuPercentPerListenerBefore: cpuBefore,
      cpuPercentPerListenerAfter: cpuAfter,
      cpuPercentPerListenerBeforeAgain: cpuBeforeAgain,
      ratio: Math.round((cpuAfter / Math.max(0.01, (cpuBefore + cpuBeforeAgain) / 2)) * 100) / 100,
      speakersHeardAtEnds: [before.heard, after.heard, beforeAgain.heard],
      shortfallsAtEnds: [before.shortfalls, after.shortfalls, beforeAgain.shortfalls],
      gapPercent: atStart && atEnd ? percentOf(atEnd.totals.gapFrames - atStart.totals.gapFrames, atEnd.totals.frames - atStart.totals.frames) : 0,
    };
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
  }
}

/** A measurement's window (performance.now()), the fewest talkers a listener heard at its end, and why some fell short. */
interface Window {
  from: number;
  to: number;
  heard: number;
  shortfalls: string;
}

/** Waits until `condition` holds (20 s at most); `what` is said on a timeout (a function: as things stand then). */
async function until(condition: () => boolean, what: string | (() => string)): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`SFU benchmark: timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(50);
  }
}

/** Figures over the last `seconds` samples (one a second), from the running totals. */
function windowOf(samples: LoadSample[], seconds: number): WindowFigures {
  const last = samples[samples.length - 1];
  const first = samples[Math.max(0, samples.length - 1 - seconds)];
  if (!last || !first) return { frames: 0, gapFrames: 0, ticks: 0, lateTicks: 0, cpuPercent: 0, rssMb: 0 };
  const window = samples.slice(Math.max(0, samples.length - seconds));
  return {
    frames: last.totals.frames - first.totals.frames,
    gapFrames: last.totals.gapFrames - first.totals.gapFrames,
    ticks: last.totals.ticks - first.totals.ticks,
    lateTicks: last.totals.lateTicks - first.totals.lateTicks,
    cpuPercent: window.reduce((sum, s) => sum + s.cpuPercent, 0) / Math.max(1, window.length),
    rssMb: last.rssMb,
  };
}

/** A sample of `voxroom load --json`, with when this process read it (performance.now()). */
interface TimedLoadSample extends LoadSample {
  receivedAt: number;
}

/** A `voxroom load --json` process in `room`, its samples read as they come. */
class LoadProcess {
  readonly samples: TimedLoadSample[] = [];
  /** Its samples (and the summary's) once it exited; rejects when it gave none. */
  readonly exited: Promise<TimedLoadSample[]>;
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';

  constructor(bin: string, serverUrl: string, room: string, tag: string, args: string[]) {
    this.child = spawn(process.execPath, [bin, 'load', room, '--server', serverUrl, '--tag', tag, '--json', ...args]);
    this.child.stdin.end();
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-2000)));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as LoadSample & { event: string };
        if (event.event === 'progress' || event.event === 'summary') this.samples.push({ ...event, receivedAt: performance.now() });
      } catch {
        // not a JSON line
      }
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code) => {
        if (this.samples.length === 0) reject(new Error(`voxroom load exited with ${code} and no figures: ${this.stderr.trim()}`));
        else resolve(this.samples);
      });
    });
    // Awaited by whoever runs it to the end; one stopped early must not be an unhandled rejection.
    this.exited.catch(() => undefined);
  }

  /** Waits for a sample read since `since` (performance.now()) that meets `predicate` (20 s at most). */
  async until(predicate: (sample: TimedLoadSample) => boolean, what: string, since: number): Promise<TimedLoadSample> {
    const deadline = performance.now() + 20_000;
    for (;;) {
      const met = this.samples.find((sample) => sample.receivedAt >= since && predicate(sample));
      if (met) return met;
      if (performance.now() > deadline || this.child.exitCode !== null) throw new Error(`voxroom load: no sample showed ${what}; last: ${JSON.stringify(this.samples.at(-1) ?? null)} ${this.stderr.trim()}`);
      await sleep(100);
    }
  }

  /** Ends it as Ctrl-C would (its summary comes), and waits for it; killed if it has not gone 10 s later. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGINT');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited.catch(() => undefined);
    clearTimeout(killer);
  }
}

/** Runs `voxroom load --json` for `seconds` and collects its per-second samples (and the summary). */
function runLoadProcess(bin: string, serverUrl: string, room: string, speakers: number, listeners: number, seconds: number, expectSpeakers: number, tag: string): Promise<LoadSample[]> {
  return new LoadProcess(bin, serverUrl, room, tag, ['--speakers', String(speakers), '--listeners', String(listeners), '--expect-speakers', String(expectSpeakers), '--duration', String(seconds)]).exited;
}
