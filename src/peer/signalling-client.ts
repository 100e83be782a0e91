// The peer's side of the wire protocol: connect, join, relay signals, and after a lost
// connection rejoin the same room with the resume token (so the name, and with it volumes and
// recordings keyed by name, carry on).
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import {
  PROTOCOL_VERSION,
  type ClientToServerEvents,
  type JoinAck,
  type ProtocolError,
  type RelayedSignal,
  type RoomUsersUpdated,
  type ServerToClientEvents,
  type SignalData,
} from '../protocol.js';
import type { Logger } from '../log.js';

export type JoinedRoom = Extract<JoinAck, { ok: true }>;

export class JoinError extends Error {
  constructor(
    readonly code: ProtocolError['code'] | 'unreachable' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'JoinError';
  }
}

interface SignallingEvents {
  joined: [room: JoinedRoom, resumed: boolean];
  'room-users-updated': [update: RoomUsersUpdated];
  signal: [signal: RelayedSignal];
  disconnected: [reason: string];
  'server-error': [error: ProtocolError];
  'server-shutdown': [message: string];
}

const ACK_TIMEOUT_MS = 10_000;

export class SignallingClient extends EventEmitter<SignallingEvents> {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private joined: JoinedRoom | null = null;
  private closed = false;

  constructor(
    readonly serverUrl: string,
    private readonly room: string,
    private readonly name: string,
    private readonly logger: Logger,
    options: { rejectUnauthorized?: boolean } = {},
  ) {
    super();
    this.socket = io(serverUrl, {
      transports: ['websocket'],
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      timeout: 5000,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    });
    this.socket.on('room-users-updated', (update) => this.emit('room-users-updated', update));
    this.socket.on('signal', (signal) => this.emit('signal', signal));
    this.socket.on('error-message', (error) => {
      // A trickled candidate can reach the server just after its peer left: nothing to report.
      if (error.code === 'unknown-peer') this.logger.debug('signal to a peer that has left', { message: error.message });
      else this.emit('server-error', error);
    });
    this.socket.on('server-shutdown', ({ message }) => this.emit('server-shutdown', message));
    this.socket.on('disconnect', (reason) => {
      if (this.closed) return;
      this.emit('disconnected', reason);
      // socket.io reconnects by itself after transport failures, but not when the server
      // closed the socket (e.g. it took this session for a resume): ask again, gently.
      if (reason === 'io server disconnect') setTimeout(() => !this.closed && this.socket.connect(), 1000).unref();
    });
    // Every connection after the first rejoins with the resume token.
    this.socket.on('connect', () => {
      if (this.closed || !this.joined) return;
      this.sendJoin(this.joined.resume).then(
        (room) => this.emit('joined', room, true),
        (error: Error) => this.logger.warn('rejoin after reconnect failed', { error: error.message }),
      );
    });
  }

  get self(): JoinedRoom['self'] | null {
    return this.joined?.self ?? null;
  }

  /** Connects and joins; rejects with a JoinError that says what to do. */
  async join(): Promise<JoinedRoom> {
    await new Promise<void>((resolve, reject) => {
      const onConnect = (): void => {
        this.socket.off('connect_error', onError);
        resolve();
      };
      const onError = (error: Error): void => {
        this.socket.off('connect', onConnect);
        this.socket.disconnect();
        reject(new JoinError('unreachable', `cannot reach the voxroom server at ${this.serverUrl} (${error.message}); is "voxroom serve" running there? check --server`));
      };
      this.socket.once('connect', onConnect);
      this.socket.once('connect_error', onError);
      this.socket.connect();
    });
    const room = await this.sendJoin();
    this.emit('joined', room, false);
    return room;
  }

  sendSignal(to: string, data: SignalData): void {
    this.socket.emit('signal', { to, data });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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

  private async sendJoin(resume?: string): Promise<JoinedRoom> {
    let ack: JoinAck;
    try {
      ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck('join', { room: this.room, name: this.name, v: PROTOCOL_VERSION, ...(resume ? { resume } : {}) });
    } catch {
      throw new JoinError('timeout', `the server at ${this.serverUrl} did not answer the join within ${ACK_TIMEOUT_MS / 1000} s`);
    }
    if (!ack.ok) throw new JoinError(ack.error.code, ack.error.message);
    this.joined = ack;
    return ack;
  }
}
