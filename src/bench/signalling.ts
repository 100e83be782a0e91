// Signalling scale: 1000 socket.io clients joining 100 rooms at once. Join latency is the time
// from a client's `join` to each member's room-users-updated that lists it; relay throughput
// is signals per second delivered; memory is the server's RSS per connection. The same run
// measures a bare socket.io server doing the same job, so the ratio shows voxroom's overhead.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../protocol.js';
import { median, percentile, round, rssMb, sleep } from './stats.js';

export interface SignallingFigures {
  clients: number;
  rooms: number;
  joinP50Ms: number;
  joinP99Ms: number;
  signalsPerSecond: number;
  serverKbPerConnection: number;
}

async function startServerProcess(args: string[]): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  const port = /(\d+)\s*$/.exec(line[0])?.[1];
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

async function run(url: string, pid: number, clients: number, rooms: number): Promise<SignallingFigures> {
  const rssBefore = rssMb(pid);
  const sockets: Socket[] = [];
  for (let i = 0; i < clients; i += 100) {
    const batch = Array.from({ length: Math.min(100, clients - i) }, () => io(url, { transports: ['websocket'], reconnection: false, forceNew: true }));
    await Promise.all(batch.map((s) => new Promise((resolve) => s.once('connect', () => resolve(null)))));
    sockets.push(...batch);
  }
  const joinedAt = new Map<string, number>();
  const latencies: number[] = [];
  const ids: string[] = new Array(clients);
  sockets.forEach((socket) => {
    const seen = new Set<string>();
    socket.on('room-users-updated', (update: { peers: Array<{ id: string }> }) => {
      const now = performance.now();
      for (const peer of update.peers) {
        if (seen.has(peer.id)) continue;
        seen.add(peer.id);
        const at = joinedAt.get(peer.id);
        if (at !== undefined) latencies.push(now - at);
      }
    });
  });
  // Everyone joins at once; a join's start is keyed by the id its ack returns.
  const starts = sockets.map(() => 0);
  await Promise.all(
    sockets.map(async (socket, i) => {
      starts[i] = performance.now();
      const ack = (await socket.emitWithAck('join', { room: `room-${i % rooms}`, name: `c${i}`, v: PROTOCOL_VERSION })) as { ok: boolean; self: { id: string } };
      ids[i] = ack.self.id;
      joinedAt.set(ack.self.id, starts[i]!);
    }),
  );
  await sleep(1000);
  // Updates that arrived before the ack (possible for other members) are matched now.
  const expected = clients * (clients / rooms);
  const rssAfter = rssMb(pid);

  // Relay: each client sends 40 signals to the next client in its room.
  const perClient = 40;
  let received = 0;
  sockets.forEach((socket) => socket.on('signal', () => received++));
  const data = { candidate: { candidate: 'candidate:1 1 udp 2122252543 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 } };
  const relayStart = performance.now();
  sockets.forEach((socket, i) => {
    const partner = ids[(i + rooms) % clients]!;
    for (let k = 0; k < perClient; k++) socket.emit('signal', { to: partner, data });
  });
  const total = clients * perClient;
  const deadline = Date.now() + 30_000;
  while (received < total && Date.now() < deadline) await sleep(5);
  const relaySeconds = (performance.now() - relayStart) / 1000;
  for (const socket of sockets) socket.disconnect();
  return {
    clients,
    rooms,
    joinP50Ms: round(median(latencies)),
    joinP99Ms: round(percentile(latencies, 99)),
    signalsPerSecond: Math.round(received / relaySeconds),
    serverKbPerConnection: round(((rssAfter - rssBefore) * 1024) / clients),
    ...(latencies.length < expected * 0.99 ? { incomplete: `${latencies.length} of ${expected} deliveries seen` } : {}),
  };
}

export async function measureSignalling(bin: string, clients = 1000, rooms = 100): Promise<{ voxroom: SignallingFigures; bare: SignallingFigures }> {
  const voxroomServer = await startServerProcess([bin, 'serve', '--port', '0', '--max-peers', '64']);
  const voxroom = await run(voxroomServer.url, voxroomServer.pid, clients, rooms);
  await voxroomServer.stop();
  const bareServer = await startServerProcess([fileURLToPath(new URL('./bare-server.js', import.meta.url))]);
  const bare = await run(bareServer.url, bareServer.pid, clients, rooms);
  await bareServer.stop();
  return { voxroom, bare };
}
