// The registry of remote peers' audio: for each peer by name, its reassembly into 10 ms frames,
// its jitter buffer, its gains (volume, and in spatial rooms where it is heard from) and level. The topology pushes decoded PCM in; the engine pulls
// one frame per peer per tick. Volumes outlive a peer's presence (a volume set before someone
// joins applies when they do). Knows nothing of WebRTC or of files.
import type { Frame } from './format.js';
import { FrameAssembler, type PcmChunk } from './frame-assembler.js';
import { JitterBuffer, type JitterBufferStats } from './jitter-buffer.js';
import { LevelMeter } from './level-meter.js';
import { SmoothedGain, type MixInput, type StereoMixInput } from './mixer.js';
import type { Hearing } from './spatial.js';

/** How a peer is heard until the room says otherwise: at full level, in the middle. */
const UNPLACED: Hearing = Object.freeze({ level: 1, left: Math.SQRT1_2, right: Math.SQRT1_2 });

/** One peer's frame for the mix, with its gains for a mono mix (`gain`) and for a stereo one. */
export type RemoteMixInput = MixInput & StereoMixInput;

/**
 * Remote audio is held two frames deep, and up to four when underruns say the machine's
 * scheduling needs it (a calm spell brings it back to two). Two, not one: the jitter left
 * after NetEq is the phase of two 10 ms clocks, but on a loaded 2-core machine wrtc's delivery
 * thread runs late now and then (a V8 garbage collection, whose helper threads take both cores;
 * a new peer connection): at one frame each such moment was a lost frame, about one per call in
 * the failover benchmark; two cover a delivery 10-20 ms late (by the clocks' phase), and lost
 * none in 16 calls (CHANGELOG, 2026-11-27).
 *
 * It may hold far more for a moment: when the event loop is blocked, wrtc's frames pile up and
 * arrive together just before the mix clock's catch-up ticks take them (up to 20, see clock.ts,
 * on top of a target of up to 4); a cap of 8 dropped the older ones, and a 150 ms block left a
 * 70-80 ms gap in the mix. After a longer stall the clock skips ahead and the backlog goes at
 * once (dropBacklogs).
 */
export const REMOTE_BUFFER = { targetFrames: 2, minTargetFrames: 2, maxTargetFrames: 4, maxFrames: 26 };

export interface RemoteAudioStatus extends JitterBufferStats {
  name: string;
  volumePercent: number;
  levelDbfs: number;
  rateChanges: number;
  receivedFrames: number;
}

/** One tick's frame from one remote peer: null when its buffer had nothing to play. Valid during its tick only (the registry reuses it). */
export interface PulledFrame {
  name: string;
  frame: Frame | null;
  /** The gain it is mixed at (1 = 100 %): its volume, times the distance law in a spatial room. */
  gain: number;
}

class RemoteAudio {
  /** The listener's volume for this peer (1 = 100 %). */
  private volume: number;
  private hearing: Hearing = UNPLACED;
  /** False while the room says this peer may not be heard (no speak grant, server-muted): gain 0 whatever the volume. */
  private audible = true;
  /** The gain of a mono mix: volume × level. */
  readonly gain: SmoothedGain;
  /** The gains of a stereo mix: volume × level × pan, per side. */
  readonly left: SmoothedGain;
  readonly right: SmoothedGain;
  readonly meter = new LevelMeter();
  /** This peer's entry in every tick's list, reused: a room of 100 is 100 entries per tick. */
  readonly pulled: PulledFrame;
  buffer = new JitterBuffer(REMOTE_BUFFER);
  /** Present while the peer is connected; released on leave (it may hold a resampler). */
  assembler: FrameAssembler | null = null;
  receivedFrames = 0;
  rateChanges = 0;

  /** Has sent audio since it was first attached (kept across reconnects): from then on it is pulled on every tick. */
  live = false;

  constructor(
    readonly name: string,
    volumePercent: number,
    private readonly onLive: (remote: RemoteAudio) => void,
    private readonly probe?: (frame: Frame) => void,
  ) {
    this.volume = volumePercent / 100;
    this.gain = new SmoothedGain(this.volume * this.hearing.level);
    this.left = new SmoothedGain(this.volume * this.hearing.left);
    this.right = new SmoothedGain(this.volume * this.hearing.right);
    this.pulled = { name, frame: null, gain: this.gain.value };
    this.connect();
  }

  get volumePercent(): number {
    return Math.round(this.volume * 100);
  }

  setVolume(percent: number): void {
    this.volume = percent / 100;
    this.retarget();
  }

  setHearing(hearing: Hearing): void {
    this.hearing = hearing;
    this.retarget();
  }

  get mayBeHeard(): boolean {
    return this.audible;
  }

  /** Also keeps its audio out of recordings and observers: a member who may not be heard is heard nowhere. */
  setAudible(audible: boolean): void {
    this.audible = audible;
    this.retarget();
  }

  /** A silent tick: the gains still move, so a change made while the peer is quiet lands. */
  advanceGains(): void {
    this.gain.advance();
    this.left.advance();
    this.right.advance();
  }

  /** The gains ramp to their new values over the next frame (SmoothedGain): no clicks as people walk. */
  private retarget(): void {
    const volume = this.audible ? this.volume : 0;
    this.gain.set(volume * this.hearing.level);
    this.left.set(volume * this.hearing.left);
    this.right.set(volume * this.hearing.right);
  }

  connect(): void {
    if (this.assembler) return;
    this.buffer = new JitterBuffer(REMOTE_BUFFER);
    this.assembler = new FrameAssembler((frame) => {
      this.receivedFrames++;
      if (!this.live) {
        this.live = true;
        // A volume or position set while it was quiet applies from its first frame.
        this.advanceGains();
        this.onLive(this);
      }
      this.probe?.(frame);
      this.buffer.push(frame);
    });
  }

  disconnect(): void {
    if (!this.assembler) return;
    this.rateChanges += this.assembler.rateChanges;
    this.assembler.close();
    this.assembler = null;
  }
}

export class RemoteAudioRegistry {
  private readonly remotes = new Map<string, RemoteAudio>();
  /**
   * The remotes that have sent audio. In an SFU room a listener receives a few speakers of
   * many members; a tick that needs no entry for the others (no recorder, no observer) costs
   * what the speakers cost, not what the room does.
   */
  private readonly live = new Set<RemoteAudio>();
  private readonly volumes = new Map<string, number>();
  /** Peers the room does not let us hear (kept by name like volumes: it applies when they attach). */
  private readonly inaudible = new Set<string>();

  constructor(
    initialVolumes: Record<string, number> = {},
    /** Sees every decoded 48 kHz frame as it enters a peer's jitter buffer (benchmarks). */
    private readonly onRemoteFrame?: (name: string, frame: Frame) => void,
  ) {
    for (const [name, percent] of Object.entries(initialVolumes)) this.volumes.set(name, percent);
  }

  /** A remote peer with this name is (again) connected. Returns true when it is new. */
  attach(name: string): boolean {
    const existing = this.remotes.get(name);
    if (existing) {
      existing.connect();
      return false;
    }
    const probe = this.onRemoteFrame;
    const remote = new RemoteAudio(name, this.volumeOf(name), (live) => this.live.add(live), probe && ((frame) => probe(name, frame)));
    if (this.inaudible.has(name)) remote.setAudible(false);
    this.remotes.set(name, remote);
    return true;
  }

  /**
   * The peer left: what is buffered plays out, then silence. `keep` keeps it in the tick's
   * list (a recorded peer stays on the timeline); otherwise it is forgotten but for its volume.
   */
  detach(name: string, keep: boolean): void {
    const remote = this.remotes.get(name);
    if (!remote) return;
    remote.disconnect();
    if (!keep) {
      this.remotes.delete(name);
      this.live.delete(remote);
    }
  }

  detachAll(): void {
    for (const remote of this.remotes.values()) remote.disconnect();
  }

  push(name: string, chunk: PcmChunk): void {
    this.remotes.get(name)?.assembler?.push(chunk);
  }

  setVolume(name: string, percent: number): void {
    this.volumes.set(name, percent);
    this.remotes.get(name)?.setVolume(percent);
  }

  /** Spatial rooms: where this peer is heard from (on top of its volume). */
  setHearing(name: string, hearing: Hearing): void {
    this.remotes.get(name)?.setHearing(hearing);
  }

  /**
   * Whether this peer may be heard at all (its grants and server-mute, PROTOCOL.md): when not,
   * its audio is mixed at gain 0 whatever its volume, until it may be heard again.
   */
  setAudible(name: string, audible: boolean): void {
    if (audible) this.inaudible.delete(name);
    else this.inaudible.add(name);
    this.remotes.get(name)?.setAudible(audible);
  }

  volumeOf(name: string): number {
    return this.volumes.get(name) ?? 100;
  }

  /** After a stall the mix clock skipped: every buffer back to its target (see JitterBuffer.dropBacklog). */
  dropBacklogs(): void {
    for (const remote of this.remotes.values()) remote.buffer.dropBacklog();
  }

  /**
   * One tick: the mix inputs with their gains, and a frame (or null) per peer: from every peer
   * when `everyone` (a recorder or an observer looks at them), else from those that have sent
   * audio (the others have nothing to play). A peer with nothing to play still advances its
   * gain, so a volume change while silent lands.
   */
  pull(everyone = true): { frames: PulledFrame[]; inputs: RemoteMixInput[] } {
    const frames: PulledFrame[] = [];
    const inputs: RemoteMixInput[] = [];
    for (const remote of everyone ? this.remotes.values() : this.live) {
      const frame = remote.buffer.pull();
      remote.meter.update(frame);
      const pulled = remote.pulled;
      // Recordings and expectations get what the mix plays: nothing from a member who may not be heard.
      pulled.frame = remote.mayBeHeard ? frame : null;
      pulled.gain = remote.gain.value;
      frames.push(pulled);
      if (frame) inputs.push({ frame, gain: remote.gain, left: remote.left, right: remote.right });
      else remote.advanceGains();
    }
    return { frames, inputs };
  }

  status(name: string): RemoteAudioStatus | null {
    const remote = this.remotes.get(name);
    if (!remote) return null;
    return {
      name,
      volumePercent: remote.volumePercent,
      levelDbfs: remote.meter.dbfs,
      rateChanges: remote.rateChanges + (remote.assembler?.rateChanges ?? 0),
      receivedFrames: remote.receivedFrames,
      ...remote.buffer.stats,
    };
  }
}
