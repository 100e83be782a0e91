// Helpers for tests that talk to a real signalling server over loopback.
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION, type AdminAck, type ClientToServerEvents, type JoinAck, type MemberState, type PeerInfo, type ProtocolError, type ServerToClientEvents } from '../../src/protocol.js';
import { startSignallingServer, type RunningServer, type SignallingServerOptions } from '../../src/server/signalling-server.js';

export type TestClient = Socket<ServerToClientEvents, ClientToServerEvents>;

export async function startTestServer(options: Partial<SignallingServerOptions> = {}): Promise<RunningServer> {
  return startSignallingServer({ port: 0, ...options });
}

export async function connectClient(url: string): Promise<TestClient> {
  const socket: TestClient = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/**
 * What a test client knows of its room, kept from the join ack and the events after it: v2
 * deltas (member-joined/left/updated) or v1 full lists. Updated synchronously in the ack
 * callback, as a real client must, so no event is applied before the join it follows.
 */
export interface RoomView {
  room: string;
  /** Everyone in the room, the client included (as v1's room-users-updated lists them). */
  peers: Array<PeerInfo & { state?: MemberState }>;
}

interface ViewState {
  view: RoomView | null;
  version: number;
  listeners: Set<() => void>;
}

const views = new WeakMap<TestClient, ViewState>();

function viewOf(socket: TestClient): ViewState {
  let state = views.get(socket);
  if (state) return state;
  const created: ViewState = { view: null, version: 0, listeners: new Set() };
  state = created;
  views.set(socket, created);
  const changed = (next: RoomView): void => {
    created.view = next;
    created.version++;
    for (const wake of [...created.listeners]) wake();
  };
  socket.on('room-users-updated', (update) => changed({ room: update.room, peers: update.peers }));
  socket.on('member-joined', ({ room, member }) => {
    if (created.view?.room === room) changed({ room, peers: [...created.view.peers.filter((p) => p.id !== member.id), member] });
  });
  socket.on('member-left', ({ room, id }) => {
    if (created.view?.room === room) changed({ room, peers: created.view.peers.filter((p) => p.id !== id) });
  });
  socket.on('member-updated', ({ room, id, state: memberState }) => {
    if (created.view?.room === room) changed({ room, peers: created.view.peers.map((p) => (p.id === id ? { ...p, state: memberState } : p)) });
  });
  return created;
}

export function join(socket: TestClient, room: string, name: string, extra: { resume?: string; v?: number; token?: string } = {}): Promise<JoinAck> {
  const state = viewOf(socket);
  const version = extra.v ?? PROTOCOL_VERSION;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no join ack within 5 s')), 5000);
    socket.emit('join', { room, name, v: version, ...(extra.resume ? { resume: extra.resume } : {}), ...(extra.token ? { token: extra.token } : {}) }, (ack) => {
      clearTimeout(timer);
      // v1 clients learn the list from the room-users-updated that follows their ack.
      if (ack.ok && version >= 2) {
        state.view = { room, peers: [ack.self, ...ack.peers] };
        state.version++;
        for (const wake of [...state.listeners]) wake();
      }
      resolve(ack);
    });
  });
}

export async function joinOk(socket: TestClient, room: string, name: string, extra: { resume?: string; token?: string } = {}): Promise<Extract<JoinAck, { ok: true }>> {
  const ack = await join(socket, room, name, extra);
  if (!ack.ok) throw new Error(`join failed: ${ack.error.code} ${ack.error.message}`);
  return ack;
}

/** Follows the room the socket is in, so tests can wait for a state. */
/** An admin action (`kick`, `server-mute`) and its ack. */
export function adminRequest(socket: TestClient, event: 'kick', request: { id: string }): Promise<AdminAck>;
export function adminRequest(socket: TestClient, event: 'server-mute', request: { id: string; muted: boolean }): Promise<AdminAck>;
export function adminRequest(socket: TestClient, event: 'kick' | 'server-mute', request: { id: string; muted?: boolean }): Promise<AdminAck> {
  return new Promise((resolve) => (socket as unknown as { emit(event: string, ...args: unknown[]): void }).emit(event, request, resolve));
}

export function trackRoom(socket: TestClient): { latest: () => RoomView | null; changes: () => number; waitFor: (predicate: (u: RoomView) => boolean, ms?: number) => Promise<RoomView> } {
  const state = viewOf(socket);
  return {
    latest: () => state.view,
    changes: () => state.version,
    waitFor: (predicate, ms = 5000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (state.view && predicate(state.view)) {
            state.listeners.delete(check);
            clearTimeout(timer);
            resolve(state.view);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          state.listeners.delete(check);
          reject(new Error(`timed out waiting for room state; last: ${JSON.stringify(state.view)}`));
        }, ms);
        if (!check()) state.listeners.add(check);
      }),
  };
}

export function nextError(socket: TestClient, ms = 3000): Promise<ProtocolError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no error-message arrived')), ms);
    socket.once('error-message', (error) => {
      clearTimeout(timer);
      resolve(error);
    });
  });
}

export const names = (update: RoomView | null): string[] => (update?.peers.map((p) => p.name) ?? []).sort();
