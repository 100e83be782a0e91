// SFU rooms through Janus: the largest room this machine sustains, a broadcast, and the
// mouth-to-ear latency next to the mesh's. The bench process runs Janus (a child) and the
// signalling server; the peers run in `voxroom load` processes (many peers each), so their CPU,
// Janus's and the server's are measured apart.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { silentLogger } from '../log.js';
import { JanusDriver } from '../server/janus-driver.js';
import { startJanusProcess, type JanusProcess } from '../server/janus-process.js';
import { startSignallingServer, type RunningServer } from '../server/signalling-server.js';
import type { LoadSample } from '../peer/load-generator.js';
import { percentOf } from '../peer/load-generator.js';
import { cpuSeconds } from './stats.js';

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
    const server = await startSignallingServer({ port: 0, media: 'sfu', janus: driver, maxPeersPerRoom: 5000 });
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
      return runLoadProcess(bin, this.server.url, room, i === 0 ? speakers : 0, share, seconds, speakers, `p${i + 1}`);
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
    const inWindow = results.map((samples) => windowOf(samples, windowSeconds));
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
function runLoadProcess(bin: string, serverUrl: string, room: string, speakers: number, listeners: number, seconds: number, expectSpeakers: number, tag: string): Promise<LoadSample[]> {
  return new Promise((resolve, reject) => {
    const args = [bin, 'load', room, '--server', serverUrl, '--speakers', String(speakers), '--listeners', String(listeners), '--expect-speakers', String(expectSpeakers), '--tag', tag, '--duration', String(seconds), '--json'];
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
