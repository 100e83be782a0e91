// Signalling scale: 1000 socket.io clients joining 100 rooms, twice: all at once (a storm: the
// figure is mostly queueing on a 2-core machine that also runs the 1000 clients), and arriving
// at a steady rate until all 1000 are in (what a busy server sees). Join latency is the time
// from a client's `join` to its own ack and to each roommate's `member-joined` for it; relay throughput
// is signals per second delivered; memory is the server's RSS per connection. The same run
// measures a bare socket.io server doing the same job, so the ratio shows voxroom's overhead.
import { LOAD_TEST_CONNECTION_LIMITS } from '../server/connection-gate.js';
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
  /** Joins spread evenly at this rate (0: all at once). */
  joinsPerSecond: number;
  /** Room updates that listed a newcomer, against the number the joins should have caused. */
  joinUpdatesSeen: number;
  joinUpdatesExpected: number;
  signalsSent: number;
  signalsDelivered: number;
  /** The relay stopped waiting (RELAY_TIMEOUT_MS) before every signal was delivered. */
  relayTimedOut: boolean;
  /** Why these figures are not from a complete run, or null when it completed. */
  incomplete: string | null;
}

/** How long the relay phase waits for every signal before giving up. */
export const RELAY_TIMEOUT_MS = 30_000;
/** Share of the expected join updates that must arrive for the join figures to count. */
export const JOIN_UPDATES_NEEDED = 0.99;

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

async function run(url: string, pid: number, clients: number, rooms: number, joinsPerSecond = 0): Promise<SignallingFigures> {
  const rssBefore = rssMb(pid);
  const sockets: Socket[] = [];
  for (let i = 0; i < clients; i += 100) {
    const batch = Array.from({ length: Math.min(100, clients - i) }, () => io(url, { transports: ['websocket'], reconnection: false, forceNew: true }));
    await Promise.all(batch.map((s) => new Promise((resolve) => s.once('connect', () => resolve(null)))));
    sockets.push(...batch);
  }
  // Sightings are matched to join starts once every ack is in (an event can beat its ack):
  // a newcomer sees itself in its join ack, everyone already in its room in a member-joined.
  const sightings: Array<{ id: string; at: number }> = [];
  const ids: string[] = new Array(clients);
  sockets.forEach((socket) => {
    socket.on('member-joined', (event: { member: { id: string } }) => sightings.push({ id: event.member.id, at: performance.now() }));
  });
  // Everyone joins at once, or join i at i / joinsPerSecond.
  const startedAt = new Map<string, number>();
  const firstAt = performance.now();
  await Promise.all(
    sockets.map(async (socket, i) => {
      if (joinsPerSecond > 0) await sleep(Math.max(0, firstAt + (i * 1000) / joinsPerSecond - performance.now()));
      const start = performance.now();
      const ack = (await socket.emitWithAck('join', { room: `room-${i % rooms}`, name: `c${i}`, v: PROTOCOL_VERSION })) as { ok: boolean; self: { id: string } };
      sightings.push({ id: ack.self.id, at: performance.now() });
      ids[i] = ack.self.id;
      startedAt.set(ack.self.id, start);
    }),
  );
  await sleep(1000);
  const latencies = sightings.map((s) => s.at - startedAt.get(s.id)!);
  // Each member is seen by itself and by everyone who was in its room before it came.
  const perRoom = clients / rooms;
  const expected = rooms * ((perRoom * (perRoom + 1)) / 2);
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
  const deadline = Date.now() + RELAY_TIMEOUT_MS;
  while (received < total && Date.now() < deadline) await sleep(5);
  const relaySeconds = (performance.now() - relayStart) / 1000;
  const relayTimedOut = received < total;
  for (const socket of sockets) socket.disconnect();
  const problems = [
    ...(latencies.length < expected * JOIN_UPDATES_NEEDED ? [`${latencies.length} of ${expected} join updates seen`] : []),
    ...(relayTimedOut ? [`${received} of ${total} signals delivered in ${RELAY_TIMEOUT_MS / 1000} s`] : []),
  ];
  return {
    clients,
    rooms,
    joinP50Ms: round(median(latencies)),
    joinP99Ms: round(percentile(latencies, 99)),
    signalsPerSecond: Math.round(received / relaySeconds),
    serverKbPerConnection: round(((rssAfter - rssBefore) * 1024) / clients),
    joinsPerSecond,
    joinUpdatesSeen: latencies.length,
    joinUpdatesExpected: expected,
    signalsSent: total,
    signalsDelivered: received,
    relayTimedOut,
    incomplete: problems.length > 0 ? problems.join('; ') : null,
  };
}

export interface SignallingComparison {
  voxroom: SignallingFigures;
  bare: SignallingFigures;
}

/** The storm, then steady arrivals at each rate, each on fresh voxroom and bare servers. */
export async function measureSignalling(bin: string, clients = 1000, rooms = 100, steadyRates = [250, 1000]): Promise<{ storm: SignallingComparison; steady: SignallingComparison[] }> {
  const measure = async (joinsPerSecond: number): Promise<SignallingComparison> => {
    const voxroomServer = await startServerProcess([bin, 'serve', '--port', '0', '--max-peers', '64', '--max-connections-per-ip', String(LOAD_TEST_CONNECTION_LIMITS.perAddress), '--max-connections', String(LOAD_TEST_CONNECTION_LIMITS.total)]);
    const voxroom = await run(voxroomServer.url, voxroomServer.pid, clients, rooms, joinsPerSecond);
    await voxroomServer.stop();
    const bareServer = await startServerProcess([fileURLToPath(new URL('./bare-server.js', import.meta.url))]);
    const bare = await run(bareServer.url, bareServer.pid, clients, rooms, joinsPerSecond);
    await bareServer.stop();
    return { voxroom, bare };
  };
  const storm = await measure(0);
  const steady: SignallingComparison[] = [];
  for (const rate of steadyRates) steady.push(await measure(rate));
  return { storm, steady };
}
