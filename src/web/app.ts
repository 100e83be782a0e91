// The web client served by `voxroom serve`: a person in a browser joins the same room as
// headless peers. Same wire protocol (types from src/protocol.ts), same negotiation roles:
// the newcomer offers, the lower id is polite; one RTCPeerConnection per pair; each remote
// peer's audio goes through its own Web Audio gain (0–200 %) and meter. In a room with a map it
// then goes through a PannerNode placed where the peer stands (Web Audio's inverse distance
// model and equal-power pan, HRTF on request) and a gain for the rest of the same laws as the
// headless peer's (the edge fade, stage and booths): both come from src/audio/spatial.ts, which
// the server also serves to the page at /audio/spatial.js. Dragging your own dot walks there.
// Compiled by tsconfig.web.json to dist/web/app.js; socket.io's browser client comes from the
// server at /socket.io/socket.io.min.js (a global `io`).
import type { Socket } from 'socket.io-client';
import type { ClientToServerEvents, IceServer, JoinAck, MediaMode, Member, MemberState, PeerInfo, Position, RelayedSignal, RoomLayout, SelfState, ServerToClientEvents, SfuOffer, SfuStream, SignalData } from '../protocol.js';
import { SPATIAL_DEFAULTS, hearingRules, placeForListener, type HearingRules, type Point } from '../audio/spatial.js';

// Values, not types, cannot be imported (the browser does not load zod); these annotations make
// the compiler check them against src/protocol.ts.
const PROTOCOL_VERSION: typeof import('../protocol.js').PROTOCOL_VERSION = 2;
const isPolite: typeof import('../protocol.js').isPolite = (selfId, remoteId) => selfId < remoteId;
const mayBeHeard: typeof import('../protocol.js').mayBeHeard = (state) => state.grants.includes('speak') && !state.serverMuted;
const mayHear: typeof import('../protocol.js').mayHear = (state) => state.grants.includes('listen');

type VoxSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
declare const io: (options?: { transports?: string[] }) => VoxSocket;

const $ = <T extends HTMLElement>(selector: string): T => document.querySelector(selector) as T;

/** A spatial room's part of a peer's audio path: gain → fade → panner → speakers, and each side measured. */
interface SpatialPath {
  /** The laws besides the panner's own: the edge fade, 0 across a booth's walls, 1 on a stage. */
  fade: GainNode;
  panner: PannerNode;
  /** After the panner: what reaches each ear (for tests and the curious). */
  sides: [AnalyserNode, AnalyserNode];
}

interface RemotePeer {
  info: Member;
  /** The mesh connection to this peer; null in SFU rooms (its audio comes on the subscriber connection). */
  pc: RTCPeerConnection | null;
  gain: GainNode;
  analyser: AnalyserNode;
  spatial: SpatialPath | null;
  muted: boolean;
  volume: number;
  row: HTMLElement;
  audioElement: HTMLAudioElement;
  ignoreOffer: boolean;
  makingOffer: boolean;
  negotiated: boolean;
}

class RoomClient {
  private socket: VoxSocket | null = null;
  private self: PeerInfo | null = null;
  private iceServers: IceServer[] = [];
  private resumeToken = '';
  private readonly peers = new Map<string, RemotePeer>();
  /** Signals from members not known yet: in a cluster one can overtake the news of its sender (PROTOCOL.md, Order). */
  private readonly early = new Map<string, RelayedSignal[]>();
  private localStream: MediaStream | null = null;
  private context: AudioContext | null = null;
  private selfAnalyser: AnalyserNode | null = null;
  private meterTimer = 0;
  /** Our own state as we last told the room. */
  private readonly ownState: SelfState = { muted: false, speaking: false };
  /** Meter readings (every 100 ms) since our level last crossed the speaking threshold. */
  private speakingRun = 0;
  /** How the room carries audio (PROTOCOL.md, "SFU rooms"). */
  private media: MediaMode = 'mesh';
  private publisher: RTCPeerConnection | null = null;
  private subscriber: RTCPeerConnection | null = null;
  /** SFU rooms: which member each subscriber section (mid) carries, and its audio source there. */
  private streams = new Map<string, string>();
  private readonly sections = new Map<string, { source: MediaStreamAudioSourceNode; element: HTMLAudioElement; connectedTo: GainNode | null }>();
  private sfuOffers: Promise<void> = Promise.resolve();
  /** Another session took our name: the room is theirs now, and we do not rejoin. */
  private replaced = false;
  /** The room's hearing rules; null in a room without a map. */
  private rules: HearingRules | null = null;
  /** Where we stand, as the server last said. */
  private position: Position | null = null;
  /** Where a drag asked us to walk; asked for again every 100 ms until we are there. */
  private walkTarget: Point | null = null;
  private walkTimer = 0;
  private walking = false;
  private panningModel: PanningModelType = 'equalpower';

  constructor(
    private readonly room: string,
    private readonly name: string,
    /** A room token from the page address (#token=…): sent in our join requests, to the server only. */
    private readonly token: string | null,
  ) {}

  async join(): Promise<void> {
    if (!window.isSecureContext) {
      throw new Error('This page is not a secure context, so the browser will not give it a microphone. Open it over https (start the server with --tls-cert/--tls-key) or at http://localhost.');
    }
    this.context = new AudioContext();
    await this.context.resume();
    try {
      this.localStream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false });
    } catch (error) {
      const name = (error as DOMException).name;
      if (name === 'NotAllowedError') throw new Error('Microphone access was denied. Allow it in the address bar (the camera/microphone icon) and join again.');
      if (name === 'NotFoundError') throw new Error('No microphone was found. Connect one and join again.');
      throw new Error(`The microphone could not be opened (${name}).`);
    }
    this.selfAnalyser = this.context.createAnalyser();
    this.selfAnalyser.fftSize = 2048;
    this.context.createMediaStreamSource(this.localStream).connect(this.selfAnalyser);

    const socket = io({ transports: ['websocket'] });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', () => reject(new Error(`The voxroom server at ${location.host} cannot be reached. Is it running? Reload to try again.`)));
    });
    // Room events apply in order, each to the state the previous one left (PROTOCOL.md).
    socket.on('member-joined', ({ member }) => this.self && this.addPeer(member, false));
    socket.on('member-left', ({ id }) => this.removePeer(id));
    socket.on('member-updated', ({ id, state }) => (id === this.self?.id ? this.updateSelf(state) : this.updatePeer(id, state)));
    socket.on('signal', (signal) => void this.onSignal(signal));
    socket.on('sfu-offer', (offer) => {
      this.sfuOffers = this.sfuOffers.then(() => this.applySfuOffer(offer)).catch((error: Error) => showProblem(`Media server: ${error.message}`));
    });
    socket.on('sfu-streams', ({ streams }) => {
      this.sfuOffers = this.sfuOffers.then(() => this.mapSections(streams));
    });
    socket.on('media-changed', ({ media, reason }) => this.switchMedia(media, reason));
    socket.on('ice-servers', ({ iceServers }) => this.renewIceServers(iceServers));
    socket.on('error-message', (error) => showProblem(`Server: ${error.message}`));
    socket.on('server-shutdown', ({ message }) => setStatus(`Server: ${message}. Reconnecting when it is back…`));
    socket.on('session-replaced', ({ message }) => {
      this.replaced = true;
      setStatus(`You left the room: ${message}.`);
    });
    socket.on('kicked', ({ message }) => {
      // Like a replaced session: the server will not take us back, so do not try.
      this.replaced = true;
      socket.io.reconnection(false);
      setStatus(`You were removed from the room: ${message}.`);
    });
    socket.on('disconnect', () => !this.replaced && setStatus('Lost the server; reconnecting…'));
    socket.io.on('reconnect', () => void this.rejoin());
    await this.sendJoin();
    this.meterTimer = window.setInterval(() => this.updateMeters(), 100);
  }

  setMicMuted(muted: boolean): void {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !muted;
    this.publishState({ muted });
  }

  private publishState(patch: Partial<SelfState>): void {
    const changed = (Object.keys(patch) as Array<keyof SelfState>).filter((key) => patch[key] !== undefined && patch[key] !== this.ownState[key]);
    if (changed.length === 0) return;
    Object.assign(this.ownState, patch);
    this.socket?.emit('update-state', patch);
  }

  /** HRTF (for headphones) or equal-power panning, the default that the headless peer also uses. */
  setHrtf(on: boolean): void {
    this.panningModel = on ? 'HRTF' : 'equalpower';
    for (const peer of this.peers.values()) if (peer.spatial) peer.spatial.panner.panningModel = this.panningModel;
  }

  /** Walks to a point of the map (a drag of our own dot): the server lets us go 5 m/s. */
  walkTo(target: Point): void {
    this.walkTarget = target;
    // One step now, then one per 100 ms however often the pointer moves (a drag fires far more).
    if (this.walkTimer) return;
    this.walkTimer = window.setInterval(() => this.walkStep(), 100);
    this.walkStep();
  }

  private walkStep(): void {
    const target = this.walkTarget;
    if (!target || this.walking || !this.socket) return;
    this.walking = true;
    // An answer lost with the connection must not stop the walk for good: the step is asked again.
    let settled = false;
    const lost = window.setTimeout(() => {
      settled = true;
      this.walking = false;
    }, MOVE_ANSWER_MS);
    this.socket.emit('move', { x: target.x, y: target.y }, (answer) => {
      if (settled) return;
      settled = true;
      window.clearTimeout(lost);
      this.walking = false;
      if (!answer.ok) {
        // Too many moves in this second: the next step asks again. Anything else ends the walk.
        if (answer.error.code !== 'too-many-moves') this.stopWalking(answer.error.message);
        return;
      }
      this.updateSelf({ ...this.ownState, position: answer.position });
      if (!answer.shortened && this.walkTarget === target) this.stopWalking();
    });
  }

  private stopWalking(problem?: string): void {
    this.walkTarget = null;
    window.clearInterval(this.walkTimer);
    this.walkTimer = 0;
    if (problem) showProblem(`Cannot go there: ${problem}`);
  }

  leave(): void {
    window.clearInterval(this.meterTimer);
    this.stopWalking();
    this.socket?.emit('leave');
    this.socket?.disconnect();
    for (const peer of this.peers.values()) this.closePeer(peer);
    this.peers.clear();
    this.early.clear();
    this.closeSfu();
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    void this.context?.close();
  }

  /** For tests and the curious: levels as the page hears them. */
  debug() {
    return {
      self: this.self,
      media: () => this.media,
      peers: () => [...this.peers.values()].map((p) => ({ name: p.info.name, connection: this.connectionOf(p), volume: p.volume, muted: p.muted, state: p.info.state })),
      toneLevel: (name: string, hz: number) => {
        const peer = [...this.peers.values()].find((p) => p.info.name === name);
        return peer ? toneLevelDb(peer.analyser, hz) : null;
      },
      /** Spatial rooms: a peer's tone after the panner, on each side (dB), or null. */
      sideLevels: (name: string, hz: number) => {
        const sides = [...this.peers.values()].find((p) => p.info.name === name)?.spatial?.sides;
        return sides ? { left: toneLevelDb(sides[0], hz), right: toneLevelDb(sides[1], hz) } : null;
      },
      position: () => this.position,
      walkTo: (x: number, y: number) => this.walkTo({ x, y }),
    };
  }

  private async sendJoin(resume?: string): Promise<void> {
    // The ack is handled inside its callback: room events that follow it must find the room set up.
    const ack = await new Promise<JoinAck>((resolve) =>
      this.socket!.emit('join', { room: this.room, name: this.name, v: PROTOCOL_VERSION, ...(resume ? { resume } : {}), ...(this.token ? { token: this.token } : {}) }, (answer) => {
        if (answer.ok) this.enterRoom(answer);
        resolve(answer);
      }),
    );
    if (!ack.ok) throw new Error(ack.error.code === 'room-full' ? `Room "${this.room}" is full. Try another room.` : ack.error.message);
  }

  private enterRoom(ack: Extract<JoinAck, { ok: true }>): void {
    // Back in our place after a lost server connection: the calls went on meanwhile and stay.
    const inPlace = ack.resumed && ack.mediaKept && this.self?.id === ack.self.id && ack.media === this.media;
    if (!inPlace) {
      for (const peer of this.peers.values()) this.closePeer(peer);
      this.peers.clear();
      // Held for our previous membership: an offer to the old id must not reach a new connection.
      this.early.clear();
      this.closeSfu();
    }
    this.self = ack.self;
    this.renewIceServers(ack.iceServers);
    this.resumeToken = ack.resume;
    setStatus(`In room “${this.room}” as ${ack.self.name}${ack.renamed ? ' (your name was taken)' : ''}.`);
    this.rules = ack.map ? hearingRules(ack.map) : null;
    this.position = ack.self.state.position ?? null;
    // In place, the map and everyone's avatar stay (a redraw would wipe roommates not back yet).
    if (!inPlace) drawMap(ack.map, (target) => this.walkTo(target));
    this.placeListener();
    this.media = ack.media;
    if (inPlace) {
      // Roommates not back yet (a restarted server) stay, away, for the grace.
      const listed = new Set(ack.peers.map((peer) => peer.id));
      for (const peer of this.peers.values()) {
        if (listed.has(peer.info.id)) continue;
        this.updatePeer(peer.info.id, { ...peer.info.state, away: true });
        setTimeout(() => this.peers.get(peer.info.id)?.info.state.away && this.removePeer(peer.info.id), ack.resumeGraceMs);
      }
    }
    for (const peer of ack.peers) this.addPeer(peer, true);
    if (this.media === 'sfu' && !inPlace) void this.publish();
    // After a resume the room may hold an older state of ours than we have.
    const { muted, speaking } = ack.self.state;
    const ours = { ...this.ownState };
    this.ownState.muted = muted;
    this.ownState.speaking = speaking;
    this.publishState(ours);
  }

  private async rejoin(): Promise<void> {
    try {
      await this.sendJoin(this.resumeToken);
    } catch (error) {
      showProblem((error as Error).message);
    }
  }

  private removePeer(id: string): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.closePeer(peer);
    this.peers.delete(id);
  }

  private updatePeer(id: string, state: MemberState): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    const wasHeard = mayBeHeard(peer.info.state);
    peer.info = { ...peer.info, state };
    showMemberState(peer.row, state);
    this.placePeer(peer);
    if (mayBeHeard(state) !== wasHeard) this.setVolume(peer, peer.volume);
    this.sendTo(peer).catch((error: Error) => showProblem(`Could not change what ${peer.info.name} gets from you: ${error.message}`));
  }

  /** What we send a roommate: our microphone, or nothing to one who may not hear (no `listen` grant). */
  private outgoingTrackFor(peer: RemotePeer): MediaStreamTrack | null {
    return mayHear(peer.info.state) ? (this.localStream?.getAudioTracks()[0] ?? null) : null;
  }

  private async sendTo(peer: RemotePeer): Promise<void> {
    const transceiver = peer.pc?.getTransceivers().find((t) => t.receiver.track.kind === 'audio' && t.direction === 'sendrecv');
    const track = this.outgoingTrackFor(peer);
    if (transceiver && transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
  }

  /** Our own state as the server has it: when we moved, everyone is heard from elsewhere. */
  private updateSelf(state: Pick<MemberState, 'position'>): void {
    const position = state.position ?? null;
    if (!position || (this.position && position.x === this.position.x && position.y === this.position.y && position.facing === this.position.facing)) return;
    this.position = position;
    this.placeListener();
    for (const peer of this.peers.values()) this.placePeer(peer);
  }

  /** The Web Audio listener stands and faces where we do (map x → Web Audio x, map y → z). */
  private placeListener(): void {
    const context = this.context;
    const position = this.position;
    if (!context || !position || !this.rules) return;
    const { listener } = context;
    const now = context.currentTime;
    listener.positionX.setTargetAtTime(position.x, now, RAMP_SECONDS);
    listener.positionY.setValueAtTime(0, now);
    listener.positionZ.setTargetAtTime(position.y, now, RAMP_SECONDS);
    const radians = (position.facing * Math.PI) / 180;
    listener.forwardX.setValueAtTime(Math.sin(radians), now);
    listener.forwardY.setValueAtTime(0, now);
    listener.forwardZ.setValueAtTime(-Math.cos(radians), now);
    listener.upX.setValueAtTime(0, now);
    listener.upY.setValueAtTime(1, now);
    listener.upZ.setValueAtTime(0, now);
    drawAvatar(this.self!.id, this.self!.name, position, true);
  }

  /** Puts a peer's panner where we should hear it from (zones applied), and its fade. */
  private placePeer(peer: RemotePeer): void {
    const speaker = peer.info.state.position;
    if (speaker) drawAvatar(peer.info.id, peer.info.name, speaker, false);
    const listener = this.position;
    if (!peer.spatial || !listener || !this.rules || !this.context) return;
    const { source, extraGain } = placeForListener(listener, speaker ?? listener, this.rules);
    const now = this.context.currentTime;
    peer.spatial.panner.positionX.setTargetAtTime(source.x, now, RAMP_SECONDS);
    peer.spatial.panner.positionZ.setTargetAtTime(source.y, now, RAMP_SECONDS);
    peer.spatial.fade.gain.setTargetAtTime(speaker ? extraGain : 0, now, RAMP_SECONDS);
  }

  /** Spatial rooms: gain → fade → panner → speakers, the panner with the headless peer's laws. */
  private spatialPath(gain: GainNode): SpatialPath | null {
    const context = this.context!;
    if (!this.rules) return null;
    // Mono into the panner: Chromium decodes a WebRTC track as two equal channels, and the
    // equal-power panner pans a stereo input by another law (full left would be +6 dB, centre
    // 0 dB a side instead of −3). A voice is mono; so is the headless peer's model.
    const fade = new GainNode(context, { channelCount: 1, channelCountMode: 'explicit', channelInterpretation: 'speakers' });
    const panner = new PannerNode(context, {
      panningModel: this.panningModel,
      distanceModel: 'inverse',
      refDistance: SPATIAL_DEFAULTS.refDistance,
      rolloffFactor: this.rules.rolloff,
      // The hearing radius is the fade's business; the panner's own ceiling stays out of the way.
      maxDistance: 10_000,
    });
    const splitter = context.createChannelSplitter(2);
    const sides: [AnalyserNode, AnalyserNode] = [context.createAnalyser(), context.createAnalyser()];
    gain.connect(fade).connect(panner).connect(context.destination);
    panner.connect(splitter);
    sides.forEach((side, index) => {
      side.fftSize = 8192;
      side.smoothingTimeConstant = 0;
      splitter.connect(side, index);
    });
    return { fade, panner, sides };
  }

  private addPeer(info: Member, initiator: boolean): RemotePeer | null {
    if (info.id === this.self?.id) return null;
    // Known already: back after the server was lost (its call never stopped).
    if (this.peers.has(info.id)) {
      this.updatePeer(info.id, info.state);
      return null;
    }
    const context = this.context!;
    const gain = context.createGain();
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0; // each reading reflects now, not earlier readings
    gain.connect(analyser);
    // A room without a map: straight to the speakers, as before. With one: through the panner.
    const spatial = this.spatialPath(gain);
    if (!spatial) analyser.connect(context.destination);
    const peer: RemotePeer = { info, pc: null, gain, analyser, spatial, muted: false, volume: 100, row: peerRow(info), audioElement: new Audio(), ignoreOffer: false, makingOffer: false, negotiated: false };
    // A member the room does not let us hear starts silent (gain 0), not at full volume.
    if (!mayBeHeard(info.state)) gain.gain.value = 0;
    this.peers.set(info.id, peer);
    this.wireRow(peer);
    this.placePeer(peer);
    if (this.media === 'sfu') {
      // Its audio may already be on a subscriber section.
      for (const [mid, member] of this.streams) if (member === info.id) this.routeSection(mid);
      return peer;
    }
    const pc = new RTCPeerConnection({ iceServers: this.iceServers as RTCIceServer[], bundlePolicy: 'max-bundle' });
    peer.pc = pc;
    const send = (data: SignalData): void => {
      this.socket?.emit('signal', { to: info.id, data });
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) send({ candidate: { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } });
    };
    pc.ontrack = ({ streams, track }) => {
      const stream = streams[0] ?? new MediaStream([track]);
      // Chromium only feeds a remote WebRTC stream into Web Audio while a media element plays it.
      peer.audioElement.srcObject = stream;
      peer.audioElement.muted = true;
      void peer.audioElement.play().catch(() => undefined);
      context.createMediaStreamSource(stream).connect(gain);
    };
    pc.onconnectionstatechange = () => {
      peer.row.querySelector('.state')!.textContent = pc.connectionState;
      if (pc.connectionState === 'failed') pc.restartIce();
    };
    pc.onnegotiationneeded = async () => {
      if (!initiator && !peer.negotiated) return; // roles: the newcomer offers first
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        send({ description: { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp } });
      } catch (error) {
        showProblem(`Negotiation with ${info.name} failed: ${(error as Error).message}`);
      } finally {
        peer.makingOffer = false;
      }
    };
    if (initiator) {
      for (const track of this.localStream!.getAudioTracks()) pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.localStream!] });
      this.sendTo(peer).catch((error: Error) => showProblem(`Could not change what ${info.name} gets from you: ${error.message}`));
    }
    // Applied in the order they came: the connection queues each operation behind the last.
    const held = this.early.get(info.id) ?? [];
    this.early.delete(info.id);
    for (const signal of held) void this.onSignal(signal);
    return peer;
  }

  private async onSignal(signal: RelayedSignal): Promise<void> {
    const { from, data } = signal;
    const peer = this.peers.get(from);
    if (!peer) return this.holdEarly(signal);
    if (!peer.pc) return;
    const { pc } = peer;
    try {
      if ('description' in data) {
        const description = data.description;
        const collision = description.type === 'offer' && (peer.makingOffer || pc.signalingState !== 'stable');
        peer.ignoreOffer = !isPolite(this.self!.id, from) && collision;
        if (peer.ignoreOffer) return;
        await pc.setRemoteDescription(description as RTCSessionDescriptionInit);
        if (description.type === 'offer') {
          const transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === 'audio');
          const track = this.outgoingTrackFor(peer);
          if (transceiver && transceiver.direction !== 'sendrecv') transceiver.direction = 'sendrecv';
          if (transceiver && transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
          await pc.setLocalDescription();
          this.socket?.emit('signal', { to: from, data: { description: { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp } } });
        }
        peer.negotiated = true;
      } else {
        try {
          await pc.addIceCandidate(data.candidate as RTCIceCandidateInit);
        } catch (error) {
          if (!peer.ignoreOffer) throw error;
        }
      }
    } catch (error) {
      showProblem(`Connection to ${peer.info.name}: ${(error as Error).message}`);
    }
  }

  /** Kept until the sender's member-joined comes (within seconds, or it was never a roommate). */
  private holdEarly(signal: RelayedSignal): void {
    const held = this.early.get(signal.from);
    if (held) {
      if (held.length < MAX_EARLY_SIGNALS) held.push(signal);
      return;
    }
    const list = [signal];
    this.early.set(signal.from, list);
    window.setTimeout(() => this.early.get(signal.from) === list && this.early.delete(signal.from), EARLY_SIGNAL_MS);
  }

  private setVolume(peer: RemotePeer, percent: number): void {
    peer.volume = percent;
    // Grants are enforced here too: a member without speak, or server-muted, is not played.
    const target = peer.muted || !mayBeHeard(peer.info.state) ? 0 : percent / 100;
    // A short ramp, as in the headless mixer: no clicks.
    peer.gain.gain.setTargetAtTime(target, this.context!.currentTime, 0.01);
    (peer.row.querySelector('input[type=range]') as HTMLInputElement).value = String(percent);
    peer.row.querySelector('.volume')!.textContent = `${percent} %`;
  }

  private wireRow(peer: RemotePeer): void {
    const slider = peer.row.querySelector('input[type=range]') as HTMLInputElement;
    slider.addEventListener('input', () => this.setVolume(peer, Number(slider.value)));
    const mute = peer.row.querySelector('button.mute') as HTMLButtonElement;
    mute.addEventListener('click', () => {
      peer.muted = !peer.muted;
      mute.textContent = peer.muted ? 'Unmute' : 'Mute';
      mute.setAttribute('aria-pressed', String(peer.muted));
      this.setVolume(peer, peer.volume);
    });
    $('#peers').append(peer.row);
  }

  private closePeer(peer: RemotePeer): void {
    peer.pc?.close();
    peer.pc = null;
    peer.gain.disconnect();
    peer.analyser.disconnect();
    peer.spatial?.fade.disconnect();
    peer.spatial?.panner.disconnect();
    document.querySelector(`#map [data-member="${CSS.escape(peer.info.id)}"]`)?.remove();
    peer.audioElement.srcObject = null;
    peer.row.remove();
  }

  /** Renewed TURN credentials: connections made or ICE-restarted from now on use them. */
  private renewIceServers(iceServers: IceServer[]): void {
    this.iceServers = iceServers;
    const connections = [...[...this.peers.values()].map((peer) => peer.pc), this.publisher, this.subscriber];
    for (const pc of connections) {
      try {
        pc?.setConfiguration({ ...pc.getConfiguration(), iceServers: iceServers as RTCIceServer[] });
      } catch (error) {
        console.warn('could not renew ICE servers of a connection', error);
      }
    }
  }

  /** A peer's connection: its mesh link, or in SFU rooms the subscriber's while it carries the peer. */
  private connectionOf(peer: RemotePeer): RTCPeerConnectionState | 'never-started' | 'not-forwarded' {
    if (peer.pc) return peer.pc.connectionState;
    if (!this.subscriber) return 'never-started';
    // In the room, but the media server does not send it to us now (not among the loudest).
    return [...this.streams.values()].includes(peer.info.id) ? this.subscriber.connectionState : 'not-forwarded';
  }

  // ---- SFU rooms: one publisher and one subscriber connection, negotiated with the server ----

  private async publish(): Promise<void> {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers as RTCIceServer[], bundlePolicy: 'max-bundle' });
    this.publisher = pc;
    pc.onicecandidate = ({ candidate }) => this.socket?.emit('sfu-candidate', { target: 'publisher', candidate: candidate ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } : null });
    for (const track of this.localStream!.getAudioTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [this.localStream!] });
    try {
      await pc.setLocalDescription();
      const ack = await this.socket!.emitWithAck('sfu-publish', { sdp: pc.localDescription!.sdp });
      if (this.publisher !== pc) return;
      if (!ack.ok) throw new Error(ack.error.message);
      await pc.setRemoteDescription({ type: 'answer', sdp: ack.sdp });
    } catch (error) {
      if (this.publisher === pc) showProblem(`Could not send your audio to the media server: ${(error as Error).message}`);
    }
  }

  private async applySfuOffer(offer: SfuOffer): Promise<void> {
    if (this.media !== 'sfu') return;
    let pc = this.subscriber;
    if (!pc) {
      pc = new RTCPeerConnection({ iceServers: this.iceServers as RTCIceServer[], bundlePolicy: 'max-bundle' });
      this.subscriber = pc;
      pc.onicecandidate = ({ candidate }) => this.socket?.emit('sfu-candidate', { target: 'subscriber', candidate: candidate ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } : null });
      pc.ontrack = ({ track, transceiver }) => this.addSection(transceiver.mid, track);
      pc.onconnectionstatechange = () => {
        for (const peer of this.peers.values()) peer.row.querySelector('.state')!.textContent = this.connectionOf(peer);
      };
    }
    await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    await pc.setLocalDescription();
    this.socket?.emit('sfu-answer', { sdp: pc.localDescription!.sdp });
    this.mapSections(offer.streams);
  }

  private addSection(mid: string | null, track: MediaStreamTrack): void {
    if (mid === null || this.sections.has(mid)) return;
    const stream = new MediaStream([track]);
    // Chromium only feeds a remote WebRTC stream into Web Audio while a media element plays it.
    const element = new Audio();
    element.srcObject = stream;
    element.muted = true;
    void element.play().catch(() => undefined);
    this.sections.set(mid, { source: this.context!.createMediaStreamSource(stream), element, connectedTo: null });
    this.routeSection(mid);
  }

  /** The server says which member each section carries now (an offer, or a loudest-speaker switch). */
  private mapSections(streams: SfuStream[]): void {
    this.streams = new Map(streams.map(({ mid, member }) => [mid, member]));
    for (const mid of this.sections.keys()) this.routeSection(mid);
    for (const peer of this.peers.values()) peer.row.querySelector('.state')!.textContent = this.connectionOf(peer);
  }

  /** Connects a section's audio to the gain of the member it carries (and nothing else). */
  private routeSection(mid: string): void {
    const section = this.sections.get(mid);
    if (!section) return;
    const memberId = this.streams.get(mid);
    const gain = memberId ? (this.peers.get(memberId)?.gain ?? null) : null;
    if (section.connectedTo === gain) return;
    if (section.connectedTo) section.source.disconnect(section.connectedTo);
    if (gain) section.source.connect(gain);
    section.connectedTo = gain;
  }

  private closeSfu(): void {
    for (const section of this.sections.values()) {
      section.source.disconnect();
      section.element.srcObject = null;
    }
    this.sections.clear();
    this.streams.clear();
    this.publisher?.close();
    this.subscriber?.close();
    this.publisher = null;
    this.subscriber = null;
  }

  /** The room now carries audio another way: rebuild every connection (the page does it break-before-make). */
  private switchMedia(media: MediaMode, reason: string): void {
    if (!this.self || media === this.media) return;
    setStatus(`In room “${this.room}” as ${this.self.name}. ${media === 'sfu' ? 'Audio now goes through the media server' : 'Audio now goes peer to peer'}: ${reason}.`);
    const members = [...this.peers.values()].map((peer) => peer.info);
    for (const peer of this.peers.values()) this.closePeer(peer);
    this.peers.clear();
    this.closeSfu();
    this.media = media;
    // In a mesh nobody joined last: the impolite peer of each pair offers.
    for (const info of members) this.addPeer(info, !isPolite(this.self.id, info.id));
    if (media === 'sfu') void this.publish();
  }

  private updateMeters(): void {
    if (this.selfAnalyser) {
      const db = levelDb(this.selfAnalyser);
      setMeter($('#self-meter'), db);
      // Speaking, as the headless peer decides it: above −45 dBFS; ends after 0.5 s below.
      const loud = db > -45 && !this.ownState.muted;
      this.speakingRun = loud === this.ownState.speaking ? 0 : this.speakingRun + 1;
      if (this.speakingRun >= (loud ? 1 : 5)) {
        this.speakingRun = 0;
        this.publishState({ speaking: loud });
      }
    }
    for (const peer of this.peers.values()) setMeter(peer.row.querySelector('.meter') as HTMLElement, levelDb(peer.analyser));
  }
}

function peerRow(info: Member): HTMLElement {
  const row = document.createElement('li');
  row.className = 'peer';
  row.dataset.name = info.name;
  row.innerHTML = `<span class="name"></span><span class="member-state"></span><span class="state">new</span><span class="meter" role="meter" aria-label="level"><span></span></span>
    <input type="range" min="0" max="200" value="100" aria-label="volume"><span class="volume">100 %</span><button class="mute" aria-pressed="false">Mute</button>`;
  row.querySelector('.name')!.textContent = info.name;
  (row.querySelector('input') as HTMLInputElement).setAttribute('aria-label', `volume of ${info.name}`);
  showMemberState(row, info.state);
  return row;
}

/** Shows a member's own mute and whether it speaks (from the room's member state). */
function showMemberState(row: HTMLElement, state: MemberState): void {
  row.dataset.muted = String(state.muted);
  row.dataset.speaking = String(state.speaking);
  row.dataset.away = String(state.away);
  row.dataset.serverMuted = String(state.serverMuted);
  row.querySelector('.member-state')!.textContent = state.away
    ? '⏳ away (reconnecting)'
    : state.serverMuted
      ? '⛔ muted by an admin'
      : !state.grants.includes('speak')
        ? '👂 listener'
        : state.muted
          ? '🔇 muted'
          : state.speaking
            ? '🔊 speaking'
            : '';
}

function levelDb(analyser: AnalyserNode): number {
  const samples = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(samples);
  let sum = 0;
  for (const s of samples) sum += s * s;
  return 10 * Math.log10(sum / samples.length + 1e-12);
}

/** Level of one frequency in dBFS (sine peak), from the analyser's spectrum. */
function toneLevelDb(analyser: AnalyserNode, hz: number): number {
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const bin = Math.round((hz / analyser.context.sampleRate) * analyser.fftSize);
  return Math.max(bins[bin - 1] ?? -Infinity, bins[bin] ?? -Infinity, bins[bin + 1] ?? -Infinity);
}

function setMeter(meter: HTMLElement, db: number): void {
  const fill = Math.max(0, Math.min(1, (db + 60) / 60));
  (meter.firstElementChild as HTMLElement).style.width = `${Math.round(fill * 100)}%`;
  meter.dataset.speaking = String(db > -45);
  meter.setAttribute('aria-valuenow', String(Math.round(db)));
}

/** A move not answered this soon is taken as lost (the connection went): the walk asks again. */
const MOVE_ANSWER_MS = 2000;
/** Position changes glide over this time constant in the page too: no clicks as people walk. */
const RAMP_SECONDS = 0.02;
const SVG = 'http://www.w3.org/2000/svg';
/** Early signals (holdEarly): as long and as many as the headless peer holds (mesh-topology.ts). */
const EARLY_SIGNAL_MS = 5000;
const MAX_EARLY_SIGNALS = 64;

/** The map: the room, its zones and spots, and a dot per member; dragging your own dot walks there. */
function drawMap(map: RoomLayout | null, walkTo: (target: Point) => void): void {
  const holder = $('#map');
  holder.hidden = map === null;
  if (!map) return;
  const zones = (map.zones ?? []).map((z) => `<rect class="zone ${z.kind}" x="${z.x}" y="${z.y}" width="${z.width}" height="${z.height}"></rect><text x="${z.x + z.width / 2}" y="${z.y + z.height / 2}">${escapeHtml(z.name)}</text>`).join('');
  const spots = map.spots
    .map((s) => `<circle class="spot" cx="${s.x}" cy="${s.y}" r="${s.radius ?? Math.max(map.width, map.height) / 60}"></circle><text x="${s.x}" y="${s.y}" dy="-0.8">${escapeHtml(s.name)}</text>`)
    .join('');
  const canvas = holder.querySelector('.canvas')!;
  canvas.innerHTML = `<svg viewBox="0 0 ${map.width} ${map.height}" role="img" aria-label="room map"><rect class="room" width="${map.width}" height="${map.height}"></rect>${zones}${spots}<g class="avatars"></g></svg>`;
  const svg = canvas.querySelector('svg')!;
  const toMap = (event: PointerEvent): Point => {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM()!.inverse());
    return { x: Math.min(map.width, Math.max(0, point.x)), y: Math.min(map.height, Math.max(0, point.y)) };
  };
  let dragging = false;
  svg.addEventListener('pointerdown', (event) => {
    if (!(event.target as Element).closest('.avatar.self')) return;
    dragging = true;
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener('pointermove', (event) => {
    if (dragging) walkTo(toMap(event));
  });
  const drop = (): void => {
    dragging = false;
  };
  svg.addEventListener('pointerup', drop);
  svg.addEventListener('pointercancel', drop);
}

/** Draws (or moves) a member's dot on the map, with a tick showing where it faces. */
function drawAvatar(id: string, name: string, position: Position, self: boolean): void {
  const layer = document.querySelector('#map .avatars');
  if (!layer) return;
  let avatar = layer.querySelector<SVGGElement>(`[data-member="${CSS.escape(id)}"]`);
  if (!avatar) {
    avatar = document.createElementNS(SVG, 'g');
    avatar.setAttribute('class', self ? 'avatar self' : 'avatar');
    avatar.dataset.member = id;
    avatar.innerHTML = `<circle class="avatar-dot" r="0.5"></circle><line x1="0" y1="0" x2="0" y2="-0.9"></line><text dy="1.3"></text>`;
    avatar.querySelector('text')!.textContent = name;
    layer.append(avatar);
  }
  avatar.setAttribute('transform', `translate(${position.x} ${position.y})`);
  avatar.querySelector('line')!.setAttribute('transform', `rotate(${position.facing})`);
  avatar.dataset.x = String(position.x);
  avatar.dataset.y = String(position.y);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function setStatus(text: string): void {
  $('#status').textContent = text;
}

function showProblem(text: string): void {
  const box = $('#problem');
  box.textContent = text;
  box.hidden = false;
}

function start(): void {
  const match = /^\/r\/([A-Za-z0-9_-]{1,64})\/?$/.exec(location.pathname);
  const nameInput = $<HTMLInputElement>('#name');
  nameInput.value = new URLSearchParams(location.search).get('name') ?? localStorage.getItem('voxroom-name') ?? '';
  if (!match) {
    $('#pick').hidden = false;
    $('#pick').addEventListener('submit', (event) => {
      event.preventDefault();
      const room = $<HTMLInputElement>('#room').value.trim();
      localStorage.setItem('voxroom-name', nameInput.value.trim());
      location.href = `/r/${encodeURIComponent(room)}?name=${encodeURIComponent(nameInput.value.trim())}`;
    });
    return;
  }
  const room = match[1]!;
  document.title = `${room} · voxroom`;
  $('#room-title').textContent = room;
  $('#lobby').hidden = false;
  $('#join').addEventListener('click', async () => {
    const name = nameInput.value.trim() || 'guest';
    localStorage.setItem('voxroom-name', name);
    // The fragment never reaches the server with the page request; the token goes only in our join.
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    const client = new RoomClient(room, name, token);
    (window as unknown as { voxroom: unknown }).voxroom = client.debug();
    $('#join').setAttribute('disabled', '');
    try {
      await client.join();
      (window as unknown as { voxroom: unknown }).voxroom = client.debug();
      $('#lobby').hidden = true;
      $('#in-room').hidden = false;
      $('#problem').hidden = true;
    } catch (error) {
      client.leave();
      showProblem((error as Error).message);
      $('#join').removeAttribute('disabled');
      return;
    }
    const hrtf = $<HTMLInputElement>('#hrtf');
    hrtf.checked = new URLSearchParams(location.search).has('hrtf');
    client.setHrtf(hrtf.checked);
    hrtf.addEventListener('change', () => client.setHrtf(hrtf.checked));
    const micButton = $<HTMLButtonElement>('#mute-self');
    micButton.addEventListener('click', () => {
      const muted = micButton.getAttribute('aria-pressed') !== 'true';
      client.setMicMuted(muted);
      micButton.setAttribute('aria-pressed', String(muted));
      micButton.textContent = muted ? 'Unmute microphone' : 'Mute microphone';
    });
    $('#leave').addEventListener('click', () => {
      client.leave();
      $('#in-room').hidden = true;
      $('#lobby').hidden = false;
      $('#join').removeAttribute('disabled');
      setStatus('You left the room.');
    });
  });
}

start();
