// Helpers for tests that talk to a real signalling server over loopback.
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION, type ClientToServerEvents, type JoinAck, type ProtocolError, type RoomUsersUpdated, type ServerToClientEvents } from '../../src/protocol.js';
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

export function join(socket: TestClient, room: string, name: string, extra: { resume?: string; v?: number } = {}): Promise<JoinAck> {
  return socket.timeout(5000).emitWithAck('join', { room, name, v: extra.v ?? PROTOCOL_VERSION, ...(extra.resume ? { resume: extra.resume } : {}) });
}

export async function joinOk(socket: TestClient, room: string, name: string, extra: { resume?: string } = {}): Promise<Extract<JoinAck, { ok: true }>> {
  const ack = await join(socket, room, name, extra);
  if (!ack.ok) throw new Error(`join failed: ${ack.error.code} ${ack.error.message}`);
  return ack;
}

/** Records every room-users-updated the socket receives, so tests can wait for a state. */
export function trackRoom(socket: TestClient): { latest: () => RoomUsersUpdated | null; waitFor: (predicate: (u: RoomUsersUpdated) => boolean, ms?: number) => Promise<RoomUsersUpdated> } {
  let latest: RoomUsersUpdated | null = null;
  const waiters = new Set<() => void>();
  socket.on('room-users-updated', (update) => {
    latest = update;
    for (const wake of [...waiters]) wake();
  });
  return {
    latest: () => latest,
    waitFor: (predicate, ms = 5000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (latest && predicate(latest)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(latest);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for room state; last: ${JSON.stringify(latest)}`));
        }, ms);
        if (!check()) waiters.add(check);
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

export const names = (update: RoomUsersUpdated | null): string[] => (update?.peers.map((p) => p.name) ?? []).sort();
