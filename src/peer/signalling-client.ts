// The peer's side of the wire protocol: connect, join, relay signals, and after a lost
// connection rejoin the same room with the resume token (so the name, and with it volumes and
// recordings keyed by name, carry on).
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import {
  PROTOCOL_VERSION,
  TOKEN_ERROR_CODES,
  type AdminAck,
  type ClientToServerEvents,
  type IceServer,
  type JoinAck,
  type MediaChanged,
  type MemberJoined,
  type MemberLeft,
  type MemberStatePatch,
  type MemberUpdated,
  type MoveAck,
  type MoveRequest,
  type Place,
  type ProtocolError,
  type RelayedSignal,
  type ServerToClientEvents,
  type SfuCandidate,
  type SfuOffer,
  type SfuStream,
  type SfuPublishAck,
  type SignalAck,
  type UpdateStateAck,
  type SignalData,
} from '../protocol.js';
import type { Logger } from '../log.js';

export type JoinedRoom = Extract<JoinAck, { ok: true }>;

/** A refusal or failure with a code to branch on (the protocol's, or one of the client's own). */
abstract class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** `connection-refused`: the server would not take our connection at all (its connection limits). */
export class JoinError extends CodedError<ProtocolError['code'] | 'unreachable' | 'timeout' | 'session-replaced' | 'connection-refused'> {}

interface SignallingEvents {
  joined: [room: JoinedRoom, resumed: boolean];
  'member-joined': [event: MemberJoined];
  'member-left': [event: MemberLeft];
  'member-updated': [event: MemberUpdated];
  signal: [signal: RelayedSignal];
  /** The room now carries audio another way. */
  'media-changed': [event: MediaChanged];
  /** SFU rooms: the server's offer for our subscriber connection. */
  'sfu-offer': [offer: SfuOffer];
  /** SFU rooms: our subscriber sections carry other speakers now. */
  'sfu-streams': [streams: SfuStream[]];
  /** Fresh ICE servers (renewed TURN credentials) for connections made from now on. */
  'ice-servers': [iceServers: IceServer[]];
  /** The server could not deliver a signal we sent (the target left, or no answer). */
  'signal-undelivered': [info: { to: string; reason: string }];
  disconnected: [reason: string];
  /** No server answered for the reconnect timeout, or one refused our return: the peer cannot go on. */
  'gave-up': [error: JoinError];
  'server-error': [error: ProtocolError];
  'server-shutdown': [message: string];
  /**
   * The server will not have us back: another session took our name (`session-replaced`), or it
   * refused our token on a rejoin. The client no longer reconnects.
   */
  refused: [error: JoinError];
}

/** The server refused a move (outside-room, unknown-spot, too-many-moves, not-spatial, …). */
/** Why a request the server answers (a move, an admin action) failed: its refusal, or no answer. */
type RequestFailure = ProtocolError['code'] | 'timeout' | 'not-joined';
export class MoveError extends CodedError<RequestFailure> {}
/** An admin action (kick, server-mute) that did not happen: `not-admin`, `unknown-peer`, … */
export class AdminError extends CodedError<RequestFailure> {}

const ACK_TIMEOUT_MS = 10_000;
/** Signals kept while out of the room: an outage's renegotiations and candidates fit many times over. */
const MAX_HELD_SIGNALS = 500;
/** How long to wait for a server that refused a connection to say why. */
const PROBE_TIMEOUT_MS = 2_000;
/** How long a peer tries to get back to an unreachable server before it gives up. */
export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;

export class SignallingClient extends EventEmitter<SignallingEvents> {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private joined: JoinedRoom | null = null;
  /** In the room on the current connection: a signal sent otherwise waits for the rejoin (see sendSignal). */
  private inRoom = false;
  private readonly heldSignals: Array<{ to: string; data: SignalData }> = [];
  private closed = false;
  /** Refused for good (replaced, or a token the server no longer takes): no more reconnects. */
  private refused = false;
  private readonly token: string | undefined;
  /** Runs while we are disconnected after a join: when it fires, we give up. */
  private reconnectDeadline: NodeJS.Timeout | null = null;
  private readonly reconnectTimeoutMs: number;
  /** Spatial rooms: where to enter. */
  /** Where we ask to stand when we join: the entry place given, then wherever the last move took us (a server that restarted puts us back there). */
  private at: Place | undefined;
  /** Every server we may use (a cluster's nodes): a lost or unreachable one makes us try the next. */
  private readonly serverUrls: string[];
  private serverIndex = 0;

  constructor(
    readonly serverUrl: string,
    private readonly room: string,
    private readonly name: string,
    private readonly logger: Logger,
    options: { rejectUnauthorized?: boolean; token?: string; reconnectTimeoutMs?: number; at?: Place } = {},
  ) {
    super();
    this.token = options.token;
    this.reconnectTimeoutMs = options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    this.at = options.at;
    this.serverUrls = serverUrlsOf(serverUrl);
    this.socket = io(this.serverUrls[0], {
      transports: ['websocket'],
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      timeout: 5000,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    });
    // Each reconnection attempt goes to the next server of the list: any node of a cluster can
    // take our resume, so whichever answers first is the right one.
    this.socket.io.on('reconnect_attempt', () => this.useNextServer());
    // Room events are handed on in arrival order, and only once the join ack that they follow
    // has been handled (see sendJoin).
    this.socket.on('member-joined', (event) => {
      if (!this.joined) return;
      this.emit('member-joined', event);
      this.releaseHeldSignals((to) => to === event.member.id);
    });
    this.socket.on('member-left', (event) => {
      if (!this.joined) return;
      this.emit('member-left', event);
      this.dropHeldSignals((to) => to === event.id);
    });
    this.socket.on('member-updated', (event) => {
      if (!this.joined) return;
      this.emit('member-updated', event);
      if (!event.state.away) this.releaseHeldSignals((to) => to === event.id);
    });
    this.socket.on('signal', (signal) => this.joined && this.emit('signal', signal));
    this.socket.on('sfu-offer', (offer) => this.joined && this.emit('sfu-offer', offer));
    this.socket.on('sfu-streams', ({ streams }) => this.joined && this.emit('sfu-streams', streams));
    this.socket.on('media-changed', (event) => this.joined && this.emit('media-changed', event));
    this.socket.on('ice-servers', ({ iceServers }) => this.joined && this.emit('ice-servers', iceServers));
    this.socket.on('error-message', (error) => {
      // A trickled candidate can reach the server just after its peer left: nothing to report.
      if (error.code === 'unknown-peer') this.logger.debug('signal to a peer that has left', { message: error.message });
      else this.emit('server-error', error);
    });
    this.socket.on('server-shutdown', ({ message }) => this.emit('server-shutdown', message));
    // Taking the session back would only take it from the other one in turn: stop here.
    this.socket.on('session-replaced', ({ message }) => this.refuse(new JoinError('session-replaced', message)));
    // A kicked member's resume is refused anyway: do not try.
    this.socket.on('kicked', ({ message }) => this.refuse(new JoinError('kicked', message)));
    this.socket.on('disconnect', (reason) => {
      this.inRoom = false;
      if (this.closed || this.refused) return;
      this.emit('disconnected', reason);
      this.startReconnectDeadline();
      // socket.io reconnects by itself after transport failures, but not when the server
      // closed the socket (e.g. it took this session for a resume): ask again, gently.
      if (reason === 'io server disconnect') setTimeout(() => !this.closed && this.socket.connect(), 1000).unref();
    });
    // Every connection after the first rejoins with the resume token. A server that refuses
    // our return (the room filled up after our grace ran out, say) ends the peer clearly.
    this.socket.on('connect', () => {
      if (this.closed || this.refused || !this.joined) return;
      this.sendJoin(true, this.joined.resume).then(
        () => this.clearReconnectDeadline(),
        (error: JoinError) => {
          // A token that expired meanwhile (say) will not be taken on any later attempt either.
          if (TOKEN_ERROR_CODES.has(error.code)) return this.refuse(error);
          // No answer on a connection that stays up (no next connection would come by itself), or
          // a cluster node cut off from its Redis that cannot admit us now: come back (through the
          // next server, if there are several) in a moment; the reconnect deadline still runs.
          if (error.code === 'timeout' || error.code === 'unavailable') {
            const why = error.code === 'timeout' ? 'the server did not answer' : 'the server cannot admit anyone now';
            this.logger.warn(`rejoin after reconnect: ${why}; trying again shortly`, { error: error.message });
            this.socket.disconnect();
            this.startReconnectDeadline();
            setTimeout(() => {
              if (this.closed || this.refused) return;
              this.useNextServer();
              this.socket.connect();
            }, 1000).unref();
            return;
          }
          this.giveUp(new JoinError(error.code, `the server refused our return to room "${this.room}": ${error.message}`));
        },
      );
    });
  }

  get self(): JoinedRoom['self'] | null {
    return this.joined?.self ?? null;
  }

  private refuse(error: JoinError): void {
    if (this.closed || this.refused) return;
    this.refused = true;
    this.joined = null;
    this.socket.io.reconnection(false);
    this.socket.disconnect();
    this.emit('refused', error);
  }

  /** Connects (to the first server of the list that answers) and joins; rejects with a JoinError that says what to do. */
  async join(): Promise<JoinedRoom> {
    const failures: string[] = [];
    const refusals: string[] = [];
    for (let attempt = 0; attempt < this.serverUrls.length; attempt++) {
      if (attempt > 0) this.useNextServer();
      const error = await new Promise<Error | null>((resolve) => {
        const onConnect = (): void => {
          this.socket.off('connect_error', onError);
          resolve(null);
        };
        const onError = (failure: Error): void => {
          this.socket.off('connect', onConnect);
          this.socket.disconnect();
          resolve(failure);
        };
        this.socket.once('connect', onConnect);
        this.socket.once('connect_error', onError);
        this.socket.connect();
      });
      if (!error) return this.sendJoin(false);
      const url = this.serverUrls[this.serverIndex]!;
      // A server that answered the upgrade with a 4xx refused us; ask it why (one refusing node of
      // a cluster does not end the run: the next may take us).
      const refusal = refusedUpgrade(error) ? await connectionRefusal(url) : null;
      if (refusal !== null) refusals.push(`the voxroom server at ${url} refused the connection: ${refusal}`);
      else failures.push(`${url}: ${error.message}`);
    }
    if (refusals.length > 0) throw new JoinError('connection-refused', refusals.join('; '));
    throw new JoinError('unreachable', `cannot reach the voxroom server (${failures.join('; ')}); is "voxroom serve" running there? check --server`);
  }

  /**
   * Points the connection at the next server of the list. socket.io's Manager opens every
   * (re)connection from its \`uri\`, which it does not let us change through its API; setting
   * it is how one connection (and its handlers) moves between a cluster's nodes.
   */
  private useNextServer(): void {
    if (this.serverUrls.length < 2) return;
    this.serverIndex = (this.serverIndex + 1) % this.serverUrls.length;
    (this.socket.io as unknown as { uri: string }).uri = this.serverUrls[this.serverIndex]!;
    this.logger.debug('trying the next server', { url: this.serverUrls[this.serverIndex] });
  }

  /**
   * Sends a signal; one the server cannot deliver is reported as 'signal-undelivered'. While we
   * are out of the room (the connection lost, or back but not yet rejoined) it waits: socket.io
   * would send it as soon as it reconnects, before our rejoin, and the server would refuse it
   * (not in a room), losing an ICE restart's offer or a renegotiation made meanwhile. After the
   * rejoin it waits on for a roommate that is not back yet (see releaseHeldSignals).
   */
  sendSignal(to: string, data: SignalData): void {
    // (After the ones still held for the same roommate: an offer must not be overtaken by its candidates.)
    if (!this.inRoom || this.heldSignals.some((held) => held.to === to)) {
      if (this.heldSignals.length >= MAX_HELD_SIGNALS) {
        const dropped = this.heldSignals.shift()!;
        this.emit('signal-undelivered', { to: dropped.to, reason: `more than ${MAX_HELD_SIGNALS} signals waited for the server to come back` });
      }
      this.heldSignals.push({ to, data });
      return;
    }
    const confirmed = ackWithin<SignalAck>(ACK_TIMEOUT_MS, (result) => {
      if (this.closed) return;
      if (result === null) this.emit('signal-undelivered', { to, reason: `the server did not confirm it within ${ACK_TIMEOUT_MS / 1000} s` });
      else if (!result.ok) this.emit('signal-undelivered', { to, reason: `${result.error.message} (${result.error.code})` });
    });
    this.socket.emit('signal', { to, data }, confirmed);
  }

  /**
   * Sends the signals held for roommates `isBack` says are in the room again. A server restarted
   * meanwhile knows a roommate only once it has resumed too (it comes as member-joined), and
   * would refuse a signal to it before.
   */
  private releaseHeldSignals(isBack: (to: string) => boolean): void {
    if (!this.inRoom || this.heldSignals.length === 0) return;
    const ready = this.heldSignals.filter(({ to }) => isBack(to));
    this.dropHeldSignals(isBack);
    for (const { to, data } of ready) this.sendSignal(to, data);
  }

  /** A roommate we stopped waiting for (its grace ran out while the server did not know it): its held signals go. */
  forgetHeldSignals(to: string): void {
    this.dropHeldSignals((id) => id === to);
  }

  /** Forgets the held signals for roommates that left (or all, after a fresh join: new ids). */
  private dropHeldSignals(matches: (to: string) => boolean): void {
    for (let i = this.heldSignals.length - 1; i >= 0; i--) if (matches(this.heldSignals[i]!.to)) this.heldSignals.splice(i, 1);
  }

  /** SFU rooms: sends our publisher offer; resolves with the media server's answer. */
  sfuPublish(sdp: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const answered = ackWithin<SfuPublishAck>(ACK_TIMEOUT_MS, (result) => {
        if (result === null) reject(new Error(`the server did not answer the publish within ${ACK_TIMEOUT_MS / 1000} s`));
        else if (!result.ok) reject(new Error(`${result.error.message} (${result.error.code})`));
        else resolve(result.sdp);
      });
      this.socket.emit('sfu-publish', { sdp }, answered);
    });
  }

  /** SFU rooms: our answer to the server's latest subscriber offer. */
  sfuAnswer(sdp: string): void {
    this.socket.emit('sfu-answer', { sdp }, this.reportFailure('answer'));
  }

  sfuCandidate(target: SfuCandidate['target'], candidate: SfuCandidate['candidate']): void {
    this.socket.emit('sfu-candidate', { target, candidate }, this.reportFailure('candidate'));
  }

  private reportFailure(what: string): (result: UpdateStateAck) => void {
    return ackWithin<UpdateStateAck>(ACK_TIMEOUT_MS, (result) => {
      if (this.closed || result === null || result.ok) return;
      this.emit('server-error', { code: result.error.code, message: `SFU ${what}: ${result.error.message}` });
    });
  }

  /** Tells the room about a change of our own member state (muted, speaking). */
  updateState(patch: MemberStatePatch): void {
    if (!this.joined || !this.socket.connected) return;
    this.socket.emit('update-state', patch);
  }

  private startReconnectDeadline(): void {
    if (this.reconnectDeadline || !this.joined) return;
    this.reconnectDeadline = setTimeout(() => {
      this.giveUp(new JoinError('unreachable', `lost the voxroom server at ${this.serverUrl} and could not get back within ${this.reconnectTimeoutMs / 1000} s; is it running? (--reconnect-timeout sets how long to try)`));
    }, this.reconnectTimeoutMs);
    this.reconnectDeadline.unref();
  }

  private clearReconnectDeadline(): void {
    if (this.reconnectDeadline) clearTimeout(this.reconnectDeadline);
    this.reconnectDeadline = null;
  }

  private giveUp(error: JoinError): void {
    if (this.closed) return;
    this.clearReconnectDeadline();
    this.socket.io.reconnection(false);
    this.socket.disconnect();
    this.emit('gave-up', error);
  }

  /** Spatial rooms: asks the server to move us; resolves with where we stand now. */
  async move(request: MoveRequest): Promise<Extract<MoveAck, { ok: true }>> {
    const ack = await this.ask<MoveAck>('the move', MoveError, (answered) => this.socket.emit('move', request, answered));
    this.at = { x: ack.position.x, y: ack.position.y };
    return ack;
  }

  /** Admins: removes a roommate from the room (it cannot resume). */
  kick(id: string): Promise<unknown> {
    return this.ask<AdminAck>('the kick', AdminError, (answered) => this.socket.emit('kick', { id }, answered));
  }

  /** Admins: silences a roommate for everyone (`muted: true`), or lets it be heard again. */
  serverMute(id: string, muted: boolean): Promise<unknown> {
    return this.ask<AdminAck>('the server-mute', AdminError, (answered) => this.socket.emit('server-mute', { id, muted }, answered));
  }

  /** Sends a request the server acknowledges; resolves with its success, rejects with its refusal (or no answer in time). */
  private ask<A extends { ok: true } | { ok: false; error: ProtocolError }>(what: string, Failure: new (code: RequestFailure, message: string) => Error, send: (answered: (result: A) => void) => void): Promise<Extract<A, { ok: true }>> {
    return new Promise((resolve, reject) => {
      if (!this.joined || !this.socket.connected) return reject(new Failure('not-joined', 'not in the room right now (reconnecting?); try again in a moment'));
      send(
        ackWithin<A>(ACK_TIMEOUT_MS, (result) => {
          if (result === null) reject(new Failure('timeout', `the server did not answer ${what} within ${ACK_TIMEOUT_MS / 1000} s`));
          else if (!result.ok) reject(new Failure(result.error.code, result.error.message));
          else resolve(result as Extract<A, { ok: true }>);
        }),
      );
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clearReconnectDeadline();
    if (this.socket.connected && this.joined) {
      await this.socket
        .timeout(1000)
        .emitWithAck('leave')
        .catch(() => undefined);
    }
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners();
    this.socket.disconnect();
  }

  /**
   * Joins and emits 'joined' from inside the ack callback, never after an await: socket.io
   * dispatches every packet of one network read synchronously, so a room event that arrives
   * in the same read as the ack would otherwise be handled before the join it follows, and be
   * dropped (a member never learnt of, its offer ignored: the silent pair of issue 17).
   */
  private sendJoin(resumed: boolean, resume?: string): Promise<JoinedRoom> {
    return new Promise((resolve, reject) => {
      // The token goes with every join, a rejoin too: the server checks it each time.
      const request = { room: this.room, name: this.name, v: PROTOCOL_VERSION, ...(resume ? { resume } : {}), ...(this.token !== undefined ? { token: this.token } : {}), ...(this.at ? { at: this.at } : {}) };
      const answered = ackWithin<JoinAck>(ACK_TIMEOUT_MS, (ack) => {
        if (ack === null) return reject(new JoinError('timeout', `the server at ${this.serverUrl} did not answer the join within ${ACK_TIMEOUT_MS / 1000} s`));
        if (!ack.ok) return reject(new JoinError(ack.error.code, ack.error.message));
        this.joined = ack;
        this.inRoom = true;
        // Joined anew (new ids all round): what was held is for connections that go now.
        if (ack.resumed !== true) this.dropHeldSignals(() => true);
        if (!this.closed) this.emit('joined', ack, resumed);
        const back = new Set(ack.peers.filter((peer) => !peer.state.away).map((peer) => peer.id));
        this.releaseHeldSignals((to) => back.has(to));
        resolve(ack);
      });
      this.socket.emit('join', request, answered);
    });
  }
}

/** An ack callback that reports null if no answer came within `ms` (and ignores a late one). */
function ackWithin<T>(ms: number, onResult: (result: T | null) => void): (result: T) => void {
  let settled = false;
  const timer = setTimeout(() => {
    settled = true;
    onResult(null);
  }, ms);
  timer.unref();
  return (result) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    onResult(result);
  };
}

/** "URL1,URL2" → the servers to try, in order (one URL is a list of one). */
/** Whether a failed connect was a WebSocket upgrade the server answered with 4xx (ws: "Unexpected server response: 400"). */
function refusedUpgrade(error: Error): boolean {
  // engine.io's TransportError carries ws's ErrorEvent (not an Error) as its description.
  const description = (error as Error & { description?: { message?: unknown } | string }).description;
  const text = typeof description === 'string' ? description : typeof description?.message === 'string' ? description.message : '';
  return /Unexpected server response: 4\d\d/.test(text);
}

/**
 * Why a server that answers refused our connection, or null. A refused WebSocket upgrade shows
 * only as "websocket error" (the reason is in a body socket.io's client never reads), so ask the
 * same endpoint over plain HTTP: a refusal comes back as 403 with engine.io's JSON message.
 */
async function connectionRefusal(url: string): Promise<string | null> {
  try {
    const response = await fetch(new URL('/socket.io/?EIO=4&transport=polling', url), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    if (response.status !== 403) return null;
    const body = (await response.json()) as { message?: unknown };
    return typeof body.message === 'string' ? body.message.slice(0, 300) : 'no reason given';
  } catch {
    return null; // nobody there, or not a voxroom server: unreachable, as the connection said
  }
}

export function serverUrlsOf(list: string): [string, ...string[]] {
  const urls = list.split(',').map((url) => url.trim()).filter((url) => url !== '');
  if (urls.length === 0) throw new JoinError('unreachable', 'no server given; pass --server URL (or several: URL1,URL2)');
  return urls as [string, ...string[]];
}
