// SFU rooms through Janus: the largest room this machine sustains, a broadcast, and the
// mouth-to-ear latency next to the mesh's. The bench process runs Janus (a child) and the
// signalling server; the peers run in `voxroom load` processes (many peers each), so their CPU,
// Janus's and the server's are measured apart.
import { LOAD_TEST_CONNECTION_LIMITS } from '../server/connection-gate.js';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { silentLogger } from '../log.js';
import { JanusDriver } from '../server/janus-driver.js';
import { startJanusProcess, type JanusProcess } from '../server/janus-process.js';
import { startSignallingServer, type RunningServer } from '../server/signalling-server.js';
import type { LoadSample } from '../peer/load-generator.js';
import { percentOf } from '../peer/load-generator.js';
import { cpuSeconds, sleep } from './stats.js';
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

  /**
   * A listener's cost against the number of silent members: `talkers` speakers and `silent`
   * members publishing silence in one load process, `listeners` in another, whose CPU is the
   * figure (over its last `windowSeconds`).
   */
  async measureSilentCrowd(bin: string, room: string, talkers: number, silent: number, listeners: number, windowSeconds = 8): Promise<{ silent: number; cpuPercentPerListener: number; speakersHeardMin: number; gapPercent: number }> {
    const crowd = runLoadProcess(bin, this.server.url, room, talkers, 0, windowSeconds + 12, talkers, 'crowd', ['--silent', String(silent)]);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const ears = await runLoadProcess(bin, this.server.url, room, 0, listeners, windowSeconds + 3, talkers, 'ears');
    await crowd;
    const window = windowOf(ears, windowSeconds);
    const last = ears[ears.length - 1];
    return { silent, cpuPercentPerListener: Math.round((window.cpuPercent / listeners) * 100) / 100, speakersHeardMin: last?.speakersHeardMin ?? 0, gapPercent: percentOf(window.gapFrames, window.frames) };
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
    const until = async (condition: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`switch benchmark: timed out waiting for ${what}`);
        await sleep(50);
      }
    };
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

/** Runs `voxroom load --json` and collects its per-second samples (and the summary). */
function runLoadProcess(bin: string, serverUrl: string, room: string, speakers: number, listeners: number, seconds: number, expectSpeakers: number, tag: string, extraArgs: string[] = []): Promise<LoadSample[]> {
  return new Promise((resolve, reject) => {
    const args = [bin, 'load', room, '--server', serverUrl, '--speakers', String(speakers), '--listeners', String(listeners), '--expect-speakers', String(expectSpeakers), '--tag', tag, '--duration', String(seconds), '--json', ...extraArgs];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const samples: LoadSample[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as LoadSample & { event: string };
        if (event.event === 'progress' || event.event === 'summary') samples.push(event);
      } catch {
        // not a JSON line
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (samples.length === 0) reject(new Error(`voxroom load exited with ${code} and no figures: ${stderr.trim()}`));
      else resolve(samples);
    });
  });
}
