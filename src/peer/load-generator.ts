// Many peers in one process, as a load generator (`voxroom load`, the SFU benchmark): K speakers
// with distinct tones and N listen-only listeners join one room; every second the run reports
// how many are connected, how many speakers each listener hears, the gaps in what they hear,
// late mix ticks, and this process's CPU and memory. Peers as library objects in one process
// cost far less than a process each (one Node runtime, one WebRTC stack).
import { NullSink, SilenceSource } from '../audio/backend.js';
import { ToneSource } from '../audio/tone-source.js';
import { VoicePeer, type PeerStatus } from './voice-peer.js';

/** Load speakers are named speaker-N, in every load process. */
const SPEAKER_NAME = /^speaker-\d+$/;
/** A speaker counts as heard by a listener while its level there is above this. */
const HEARD_DBFS = -40;

export interface LoadOptions {
  serverUrl: string;
  room: string;
  listeners: number;
  speakers: number;
  /** Members that publish silence: present and sending, never heard (the cost of a quiet crowd). */
  silent?: number;
  /** Names for this process's listeners are listener-<tag>-N (several load processes in one room). */
  tag?: string;
  /** Speakers each listener should hear (default: `speakers`; more when other load processes bring speakers). */
  expectSpeakers?: number;
  /** Gaps between starting peers, so a thousand joins do not land in one instant. */
  joinSpacingMs?: number;
  insecureTls?: boolean;
}

export interface LoadSample {
  /** Seconds since the first peer started. */
  seconds: number;
  peers: number;
  connected: number;
  /** Speakers each listener hears now: the fewest, and the mean. */
  speakersHeardMin: number;
  speakersHeardMean: number;
  /** Since the previous sample: frames played as silence (gaps) after a stream began, as a share of all frames heard. */
  gapPercent: number;
  gapFrames: number;
  /** Since the previous sample: mix ticks that ran late, as a share of all ticks. */
  lateTickPercent: number;
  /** Running totals since the start, for figures over a longer window. */
  totals: { frames: number; gapFrames: number; ticks: number; lateTicks: number };
  /** This process: CPU in percent of one core over the last interval, and resident memory. */
  cpuPercent: number;
  rssMb: number;
  /** Listeners hearing fewer speakers than expected now, and why (the first few); absent when none. */
  shortfalls?: ListenerShortfall[];
  /** How many listeners hear fewer speakers than expected now (all of them; shortfalls names the first few). */
  shortListeners?: number;
}

/** A listener that hears fewer speakers than expected, and what stands between it and each one it does not hear. */
export interface ListenerShortfall {
  listener: string;
  heard: number;
  /** Speakers in its member list: fewer than expected when some have not joined (or left) as it sees the room. */
  speakersInRoom: number;
  notHeard: Array<{ speaker: string; why: string }>;
}

/** "listener-3 hears 1 of 3 speakers in its member list (speaker-2: connection disconnected, speaker-3: level -52 dBFS)". */
export function describeShortfall(shortfall: ListenerShortfall): string {
  const reasons = shortfall.notHeard.map(({ speaker, why }) => `${speaker}: ${why}`);
  return `${shortfall.listener} hears ${shortfall.heard} of ${shortfall.speakersInRoom} speakers in its member list${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`;
}

/** A sample's shortfalls in one line ('' when every listener hears every speaker expected). */
export function describeShortfalls(sample: Pick<LoadSample, 'shortfalls' | 'shortListeners'>): string {
  const named = sample.shortfalls ?? [];
  const more = (sample.shortListeners ?? 0) - named.length;
  return named.map(describeShortfall).join('; ') + (more > 0 ? `; and ${more} more` : '');
}

/** A sample names at most this many listeners that fall short (a broken room would print thousands). */
const MAX_SHORTFALLS = 5;

/** Why a listener does not hear a speaker now (from its status of that speaker), or null when it does. */
export function whyNotHeard(status: PeerStatus | null): string | null {
  if (!status) return 'no media path to it';
  if (status.connection !== 'connected') return status.connection === 'not-forwarded' ? 'not forwarded by the media server' : `connection ${status.connection}`;
  if (!status.audio) return 'no audio from it yet';
  if (!(status.audio.levelDbfs > HEARD_DBFS)) return `level ${Number.isFinite(status.audio.levelDbfs) ? Math.round(status.audio.levelDbfs) : '-inf'} dBFS`;
  return null;
}

interface LoadPeer {
  name: string;
  role: 'speaker' | 'silent' | 'listener';
  peer: VoicePeer;
  started: boolean;
}

/** Tone of speaker k: distinct, not harmonically related, well apart for the level meter. */
export const speakerTone = (k: number): number => 300 + 137 * k;

export class LoadRun {
  private readonly peers: LoadPeer[] = [];
  private startedAt = 0;
  private lastCpu = process.cpuUsage();
  private lastSampleAt = 0;
  private lastTotals = { frames: 0, gapFrames: 0, ticks: 0, lateTicks: 0 };
  /** Each listener's counts per speaker as last seen: a speaker who leaves keeps what it had. */
  private readonly heardCounts = new Map<string, { frames: number; gapFrames: number }>();

  constructor(private readonly options: LoadOptions) {}

  /** Starts every peer; resolves when all have joined (or failed to). */
  async start(onProblem: (message: string) => void): Promise<void> {
    this.startedAt = performance.now();
    this.lastSampleAt = this.startedAt;
    this.lastCpu = process.cpuUsage();
    const { speakers, listeners, room, serverUrl } = this.options;
    const silent = this.options.silent ?? 0;
    const tag = this.options.tag ? `${this.options.tag}-` : '';
    const joins: Array<Promise<void>> = [];
    for (let i = 0; i < speakers + silent + listeners; i++) {
      const speaker = i < speakers;
      const quiet = !speaker && i < speakers + silent;
      const name = speaker ? `speaker-${i + 1}` : quiet ? `silent-${tag}${i - speakers + 1}` : `listener-${tag}${i - speakers - silent + 1}`;
      const peer = new VoicePeer({
        serverUrl,
        room,
        name,
        source: speaker ? new ToneSource(speakerTone(i)) : new SilenceSource(),
        sink: new NullSink(),
        listenOnly: !speaker && !quiet,
        insecureTls: this.options.insecureTls,
      });
      const entry: LoadPeer = { name, role: speaker ? 'speaker' : quiet ? 'silent' : 'listener', peer, started: false };
      this.peers.push(entry);
      peer.on('problem', ({ message }) => onProblem(`${name}: ${message}`));
      joins.push(
        peer.start().then(
          () => {
            entry.started = true;
          },
          (error: Error) => onProblem(`${name} could not join: ${error.message}`),
        ),
      );
      if (this.options.joinSpacingMs) await new Promise((resolve) => setTimeout(resolve, this.options.joinSpacingMs));
    }
    await Promise.all(joins);
  }

  sample(): LoadSample {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastSampleAt)) * 100;
    this.lastCpu = process.cpuUsage();
    this.lastSampleAt = now;
    let connected = 0;
    const heardCounts: number[] = [];
    const shortfalls: ListenerShortfall[] = [];
    let shortListeners = 0;
    const expected = this.options.expectSpeakers ?? this.options.speakers;
    let gapFrames = 0;
    let frames = 0;
    let ticks = 0;
    let lateTicks = 0;
    for (const entry of this.peers) {
      if (!entry.started) continue;
      // Speakers of every load process in the room count, not only this one's; only their
      // status is asked for (a status per roommate per second would weigh on the run itself).
      const speakers = entry.peer.roommates().filter((member) => SPEAKER_NAME.test(member.name));
      const statuses = speakers.map((member) => ({ speaker: member.name, status: entry.peer.peerStatus(member.id) }));
      const notHeard = statuses.flatMap(({ speaker, status }) => {
        const why = whyNotHeard(status);
        return why === null ? [] : [{ speaker, why }];
      });
      if (statuses.every(({ status }) => status === null || status.connection === 'connected')) connected++;
      if (entry.role === 'listener') {
        const heard = statuses.length - notHeard.length;
        heardCounts.push(heard);
        if (heard < expected && shortListeners++ < MAX_SHORTFALLS) shortfalls.push({ listener: entry.name, heard, speakersInRoom: speakers.length, notHeard });
      }
      for (const { status: p } of statuses) {
        if (p?.audio) this.heardCounts.set(`${entry.name}\u0000${p.name}`, { frames: p.audio.receivedFrames + p.audio.missedFrames, gapFrames: p.audio.missedFrames });
      }
      const clock = entry.peer.status().audio.clock;
      if (clock.pacedBy === 'timer') {
        ticks += clock.ticks;
        lateTicks += clock.lateTicks;
      }
    }
    for (const counts of this.heardCounts.values()) {
      frames += counts.frames;
      gapFrames += counts.gapFrames;
    }
    const round1 = (x: number): number => Math.round(x * 10) / 10;
    const totals = { frames, gapFrames, ticks, lateTicks };
    const delta = { frames: frames - this.lastTotals.frames, gapFrames: gapFrames - this.lastTotals.gapFrames, ticks: ticks - this.lastTotals.ticks, lateTicks: lateTicks - this.lastTotals.lateTicks };
    this.lastTotals = totals;
    return {
      seconds: round1((now - this.startedAt) / 1000),
      peers: this.peers.length,
      connected,
      speakersHeardMin: heardCounts.length > 0 ? Math.min(...heardCounts) : 0,
      speakersHeardMean: heardCounts.length > 0 ? round1(heardCounts.reduce((a, b) => a + b, 0) / heardCounts.length) : 0,
      gapPercent: percentOf(delta.gapFrames, delta.frames),
      gapFrames: delta.gapFrames,
      lateTickPercent: percentOf(delta.lateTicks, delta.ticks),
      totals,
      cpuPercent: round1(cpuPercent),
      rssMb: Math.round(process.memoryUsage().rss / 1048576),
      ...(shortListeners > 0 ? { shortfalls, shortListeners } : {}),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.peer.stop()));
  }
}

/** part / whole in percent, two decimals; 0 when there is no whole. */
export function percentOf(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 10_000) / 100 : 0;
}
