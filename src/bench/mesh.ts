// CPU and memory per peer, and the largest mesh this machine sustains: N `voxroom join`
// processes in one room, each sending a tone (or only some of them, the rest silent: a
// conversation, where DTX spares the silent); figures from /proc and from each peer's own
// `status`/`peers` answers (underruns, late ticks, levels) over a measurement window.
import { LOAD_TEST_CONNECTION_LIMITS } from '../server/connection-gate.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startSignallingServer } from '../server/signalling-server.js';
import { cpuSeconds, missedSince, round, rssMb, sleep } from './stats.js';

export interface MeshFigures {
  peers: number;
  connected: boolean;
  cpuPercentPerPeer: number;
  cpuPercentTotal: number;
  rssMbPerPeer: number;
  /** Share of remote frames played as silence after their stream began (gaps), in percent. */
  gapPercent: number;
  /** Share of mix ticks that ran late (caught up), in percent. */
  lateTickPercent: number;
  /** Peers sending a tone; the others send silence. */
  talkers: number;
  /** Every peer hears every other talker's tone above −35 dBFS. */
  allTonesHeard: boolean;
  sustained: boolean;
}

interface PeerSnapshot {
  ticks: number;
  lateTicks: number;
  remoteFrames: number;
  /** Frames each remote (by name) played as silence since its stream began. */
  missedFrames: Map<string, number>;
  quietestDbfs: number;
  remotes: number;
}

class MeshPeer {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters: Array<{ event: string; resolve: (value: Record<string, unknown>) => void }> = [];
  connections = 0;

  constructor(bin: string, serverUrl: string, room: string, name: string, input: string, extraArgs: string[]) {
    // 20 ms packets at every size (the report says so): `--ptime auto` would send 10 ms in the
    // smaller rooms, and the rows would not compare.
    this.child = spawn(process.execPath, [bin, 'join', room, '--server', serverUrl, '--name', name, '--input', input, '--output', 'null', '--json', '--ptime', '20', ...extraArgs]);
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (event.event === 'connection-state') this.connections += event.state === 'connected' ? 1 : 0;
      const index = this.waiters.findIndex((w) => w.event === event.event);
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(event);
    });
    this.child.stderr.resume();
  }

  ask(command: 'status' | 'peers'): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.waiters.push({ event: command, resolve });
      this.child.stdin.write(`${command}\n`);
    });
  }

  /** `isTalker` picks the remotes whose tone must be heard. */
  async snapshot(isTalker: (name: string) => boolean): Promise<PeerSnapshot> {
    const status = (await this.ask('status')) as { audio: { ticks: number; clock: { lateTicks?: number } } };
    const { peers } = (await this.ask('peers')) as { peers: Array<{ name: string; audio: { receivedFrames: number; missedFrames: number; levelDbfs: number | null } | null }> };
    return {
      ticks: status.audio.ticks,
      lateTicks: status.audio.clock.lateTicks ?? 0,
      remoteFrames: peers.reduce((sum, p) => sum + (p.audio?.receivedFrames ?? 0), 0),
      missedFrames: new Map(peers.map((p) => [p.name, p.audio?.missedFrames ?? 0])),
      quietestDbfs: Math.min(...peers.filter((p) => isTalker(p.name)).map((p) => p.audio?.levelDbfs ?? -Infinity)),
      remotes: peers.length,
    };
  }

  async quit(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.write('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

export async function measureMesh(bin: string, size: number, options: { extraArgs?: string[]; windowSeconds?: number; talkers?: number } = {}): Promise<MeshFigures> {
  const { extraArgs = [], windowSeconds = 8, talkers = size } = options;
  const server = await startSignallingServer({ port: 0, maxPeersPerRoom: 64, connectionLimits: LOAD_TEST_CONNECTION_LIMITS });
  const isTalker = (name: string): boolean => Number(name.slice(1)) < talkers;
  const peers = Array.from({ length: size }, (_, i) => new MeshPeer(bin, server.url, `mesh${size}`, `p${i}`, i < talkers ? `tone:${300 + 97 * i}` : 'silence', extraArgs));
  try {
    const deadline = Date.now() + 60_000;
    while (peers.some((p) => p.connections < size - 1) && Date.now() < deadline) await sleep(200);
    const connected = peers.every((p) => p.connections >= size - 1);
    await sleep(3000);
    const before = await Promise.all(peers.map((p) => p.snapshot(isTalker)));
    const cpuBefore = peers.map((p) => cpuSeconds(p.child.pid!));
    const started = performance.now();
    await sleep(windowSeconds * 1000);
    const elapsed = (performance.now() - started) / 1000;
    const cpuAfter = peers.map((p) => cpuSeconds(p.child.pid!));
    const after = await Promise.all(peers.map((p) => p.snapshot(isTalker)));
    const rss = peers.map((p) => rssMb(p.child.pid!));
    const cpuPercents = cpuAfter.map((cpu, i) => ((cpu - cpuBefore[i]!) / elapsed) * 100);
    const frames = after.reduce((sum, a, i) => sum + (a.ticks - before[i]!.ticks) * a.remotes, 0);
    const missed = after.reduce((sum, a, i) => sum + missedSince(before[i]!.missedFrames, a.missedFrames), 0);
    const ticks = after.reduce((sum, a, i) => sum + a.ticks - before[i]!.ticks, 0);
    const late = after.reduce((sum, a, i) => sum + a.lateTicks - before[i]!.lateTicks, 0);
    const gapPercent = frames > 0 ? (missed / frames) * 100 : 100;
    const lateTickPercent = ticks > 0 ? (late / ticks) * 100 : 100;
    // A lone talker has no other talker to hear (the minimum of nothing is Infinity).
    const allTonesHeard = after.every((a) => a.remotes === size - 1 && a.quietestDbfs > -35);
    return {
      peers: size,
      connected,
      cpuPercentPerPeer: round(cpuPercents.reduce((a, b) => a + b, 0) / size),
      cpuPercentTotal: round(cpuPercents.reduce((a, b) => a + b, 0)),
      rssMbPerPeer: round(rss.reduce((a, b) => a + b, 0) / size),
      gapPercent: round(gapPercent, 3),
      lateTickPercent: round(lateTickPercent, 3),
      talkers,
      allTonesHeard,
      // Late ticks are caught up (the output stays continuous), so they count only when frequent.
      sustained: connected && allTonesHeard && gapPercent < 0.1 && lateTickPercent < 1,
    };
  } finally {
    await Promise.all(peers.map((p) => p.quit()));
    await server.close();
  }
}
