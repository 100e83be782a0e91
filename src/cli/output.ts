// What `voxroom join` prints on stdout: human sentences, or with --json one object per line.
import type { MemberState } from '../protocol.js';
import type { PeerStatus } from '../peer/voice-peer.js';
import { exitCodeName, type ExitCode } from './exit-codes.js';

/** Where a line goes instead of the process's stdout or stderr (the live mixer's message lines). */
export type OutputWriter = (text: string, stream: 'stdout' | 'stderr') => void;

export class Output {
  constructor(
    readonly json: boolean,
    private readonly writer?: OutputWriter,
  ) {}

  event(name: string, fields: object, human: string): void {
    if (this.json) this.line(JSON.stringify({ event: name, time: new Date().toISOString(), ...fields }));
    else this.line(human);
  }

  problem(message: string, peer?: string): void {
    if (this.json) this.line(JSON.stringify({ event: 'error', time: new Date().toISOString(), message, ...(peer ? { peer } : {}) }));
    else this.error(`voxroom: ${message}\n`);
  }

  /**
   * A problem that ends the run with `exitCode` (named for scripts in `code`; `reason` is the
   * server's own code when it refused us); the `ended` event follows.
   */
  fatal(message: string, exitCode: ExitCode, reason?: string): void {
    if (this.json) this.line(JSON.stringify({ event: 'error', time: new Date().toISOString(), message, code: exitCodeName(exitCode), exitCode, ...(reason !== undefined ? { reason } : {}), fatal: true }));
    else this.error(`voxroom: ${message}\n`);
  }

  peers(peers: PeerStatus[]): void {
    if (this.json) return this.line(JSON.stringify({ event: 'peers', peers }));
    if (peers.length === 0) return this.line('nobody else is here');
    const placed = peers.some((p) => p.state.position);
    const rows = peers.map((p) => [
      p.name,
      p.connection,
      formatState(p.state),
      ...(placed ? [p.state.position ? `${p.state.position.x.toFixed(1)}, ${p.state.position.y.toFixed(1)}` : '-'] : []),
      formatLevel(p.audio?.levelDbfs),
      `${p.audio?.volumePercent ?? 100} %`,
      `${p.packets?.sent ?? '-'}`,
      `${p.packets?.received ?? '-'}`,
      p.packets?.receiveBufferMs === undefined ? '-' : `${p.packets.receiveBufferMs} ms`,
    ]);
    this.table(['NAME', 'CONNECTION', 'STATE', ...(placed ? ['POSITION'] : []), 'LEVEL', 'VOLUME', 'PACKETS SENT', 'RECEIVED', 'WEBRTC BUFFER'], rows);
  }

  text(text: string): void {
    if (this.json) this.line(JSON.stringify({ event: 'help', text }));
    else this.line(text);
  }

  table(header: string[], rows: string[][]): void {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) this.line(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  }

  private line(text: string): void {
    if (this.writer) this.writer(text + '\n', 'stdout');
    else process.stdout.write(text + '\n');
  }

  private error(text: string): void {
    if (this.writer) this.writer(text, 'stderr');
    else process.stderr.write(text);
  }
}

function formatState(state: MemberState): string {
  const words = [state.away ? 'away' : '', state.serverMuted ? 'muted by admin' : '', state.muted ? 'muted' : '', state.speaking ? 'speaking' : ''].filter(Boolean);
  return words.length > 0 ? words.join(', ') : '-';
}

function formatLevel(dbfs: number | undefined): string {
  return dbfs === undefined || !Number.isFinite(dbfs) ? 'silent' : `${dbfs.toFixed(1)} dBFS`;
}
