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
import { startRedis } from './services.js';
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
  /** Servers the clients were spread over (a cluster's nodes; 1 for a single server). */
  nodes: number;
  /** Share of the relayed signals whose sender and target were on different nodes. */
  crossNodeRelayShare: number;
  /** Paced relays (RELAY_PACE): time from `signal` sent to delivered, all of them. */
  relayP50Ms: number;
  relayP99Ms: number;
  /** The same over the paced relays whose sender and target were on different nodes (null: none were). */
  crossNodeRelayP99Ms: number | null;
  /** And over those whose sender and target shared a node (null: none did). */
  sameNodeRelayP99Ms: number | null;
  pacedRelaysLost: number;
}

/**
 * After the burst, relays one at a time at a steady rate, each timed from send to delivery: the
 * burst's throughput says nothing about one signal's wait on a server that is not saturated.
 */
export const RELAY_PACE = { perSecond: 1000, seconds: 3 } as const;

/** How long the relay phase waits for every signal before giving up. */
export const RELAY_TIMEOUT_MS = 30_000;
/** Share of the expected join updates that must arrive for the join figures to count. */
export const JOIN_UPDATES_NEEDED = 0.99;

async function startServerProcess(args: string[]): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  // The first port in the line: a cluster node's line goes on to name its Redis.
  const port = /https?:\/\/[^\s:]+:(\d+)/.exec(line[0])?.[1] ?? /(\d+)\s*$/.exec(line[0])?.[1];
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/**
 * Client i joins room i % rooms through node ⌊i / rooms⌋ % nodes: each room's members are spread
 * over the nodes, and a relay to the room's next member (i + rooms) crosses nodes.
 */
async function run(urls: string[], pids: number[], clients: number, rooms: number, joinsPerSecond = 0): Promise<SignallingFigures> {
  const nodeOf = (client: number): number => Math.floor(client / rooms) % urls.length;
  const rss = (): number => pids.reduce((sum, pid) => sum + rssMb(pid), 0);
  const rssBefore = rss();
  const sockets: Socket[] = [];
  for (let i = 0; i < clients; i += 100) {
    const batch = Array.from({ length: Math.min(100, clients - i) }, (_, k) => io(urls[nodeOf(i + k)]!, { transports: ['websocket'], reconnection: false, forceNew: true }));
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
  const rssAfter = rss();

  // Relay: each client sends 40 signals to the next client in its room.
  const perClient = 40;
  let received = 0;
  sockets.forEach((socket) => socket.on('signal', () => received++));
  const data = { candidate: { candidate: 'candidate:1 1 udp 2122252543 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 } };
  const relayStart = performance.now();
  let crossNode = 0;
  sockets.forEach((socket, i) => {
    const partner = ids[(i + rooms) % clients]!;
    if (nodeOf(i) !== nodeOf((i + rooms) % clients)) crossNode += perClient;
    for (let k = 0; k < perClient; k++) socket.emit('signal', { to: partner, data });
  });
  const total = clients * perClient;
  const deadline = Date.now() + RELAY_TIMEOUT_MS;
  while (received < total && Date.now() < deadline) await sleep(5);
  const relaySeconds = (performance.now() - relayStart) / 1000;
  const relayTimedOut = received < total;
  // Paced relays alternate between a roommate on the sender's node and one on another node (where
  // each exists): the two kinds come in equal numbers, interleaved, under the same load.
  const roommates = (i: number, crossing: boolean): number | undefined => {
    for (let j = (i + rooms) % clients; j !== i; j = (j + rooms) % clients) if ((nodeOf(j) !== nodeOf(i)) === crossing) return j;
    return undefined;
  };
  const routes = sockets.map((_, i) => [roommates(i, false), roommates(i, true)].filter((j) => j !== undefined));
  const paced = await pacedRelays(sockets, ids, (k) => {
    const from = k % clients;
    const choices = routes[from]!;
    // Sender `from` sends its n-th paced signal at k = from + n·clients: alternate with n.
    const to = choices[(from + Math.floor(k / clients)) % choices.length]!;
    return { from, to, crossesNodes: nodeOf(from) !== nodeOf(to) };
  });
  for (const socket of sockets) socket.disconnect();
  const problems = [
    ...(latencies.length < expected * JOIN_UPDATES_NEEDED ? [`${latencies.length} of ${expected} join updates seen`] : []),
    ...(relayTimedOut ? [`${received} of ${total} signals delivered in ${RELAY_TIMEOUT_MS / 1000} s`] : []),
    ...(paced.lost > 0 ? [`${paced.lost} of ${RELAY_PACE.perSecond * RELAY_PACE.seconds} paced signals not delivered`] : []),
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
    nodes: urls.length,
    crossNodeRelayShare: round(crossNode / total, 2),
    relayP50Ms: round(median(paced.all)),
    relayP99Ms: round(percentile(paced.all, 99)),
    crossNodeRelayP99Ms: paced.crossNode.length > 0 ? round(percentile(paced.crossNode, 99)) : null,
    sameNodeRelayP99Ms: paced.sameNode.length > 0 ? round(percentile(paced.sameNode, 99)) : null,
    pacedRelaysLost: paced.lost,
  };
}

/**
 * The k-th paced signal goes as `route(k)` says at k / perSecond; its sdpMid carries k, so its
 * delivery is matched to its send whatever the order.
 */
async function pacedRelays(sockets: Socket[], ids: string[], route: (k: number) => { from: number; to: number; crossesNodes: boolean }): Promise<{ all: number[]; crossNode: number[]; sameNode: number[]; lost: number }> {
  const count = RELAY_PACE.perSecond * RELAY_PACE.seconds;
  const sentAt = new Array<number>(count);
  const all: number[] = [];
  const crossNode: number[] = [];
  const sameNode: number[] = [];
  const onSignal = (event: { data: { candidate?: { sdpMid?: string } } }): void => {
    const k = Number(event.data.candidate?.sdpMid?.replace(/^paced-/, '') ?? NaN);
    if (!Number.isInteger(k) || sentAt[k] === undefined) return;
    const latency = performance.now() - sentAt[k]!;
    all.push(latency);
    (route(k).crossesNodes ? crossNode : sameNode).push(latency);
  };
  for (const socket of sockets) socket.on('signal', onSignal);
  const start = performance.now();
  for (let k = 0; k < count; k++) {
    await sleep(Math.max(0, start + (k * 1000) / RELAY_PACE.perSecond - performance.now()));
    const { from, to } = route(k);
    const candidate = { candidate: 'candidate:1 1 udp 2122252543 127.0.0.1 50000 typ host', sdpMid: `paced-${k}`, sdpMLineIndex: 0 };
    sentAt[k] = performance.now();
    sockets[from]!.emit('signal', { to: ids[to]!, data: { candidate } });
  }
  const deadline = Date.now() + 5_000;
  while (all.length < count && Date.now() < deadline) await sleep(5);
  for (const socket of sockets) socket.off('signal', onSignal);
  return { all, crossNode, sameNode, lost: count - all.length };
}

export interface SignallingComparison {
  voxroom: SignallingFigures;
  bare: SignallingFigures;
}

/** Every bench client comes from this machine's one address: lift the per-address and total limits. */
const LOAD_TEST_SERVE_FLAGS = ['--port', '0', '--max-peers', '64', '--max-connections-per-ip', String(LOAD_TEST_CONNECTION_LIMITS.perAddress), '--max-connections', String(LOAD_TEST_CONNECTION_LIMITS.total)];

/** The storm, then steady arrivals at each rate, each on fresh voxroom and bare servers. */
export async function measureSignalling(bin: string, clients = 1000, rooms = 100, steadyRates = [250, 1000]): Promise<{ storm: SignallingComparison; steady: SignallingComparison[] }> {
  const measure = async (joinsPerSecond: number): Promise<SignallingComparison> => {
    const voxroomServer = await startServerProcess([bin, 'serve', ...LOAD_TEST_SERVE_FLAGS]);
    const voxroom = await run([voxroomServer.url], [voxroomServer.pid], clients, rooms, joinsPerSecond);
    await voxroomServer.stop();
    const bareServer = await startServerProcess([fileURLToPath(new URL('./bare-server.js', import.meta.url))]);
    const bare = await run([bareServer.url], [bareServer.pid], clients, rooms, joinsPerSecond);
    await bareServer.stop();
    return { voxroom, bare };
  };
  const storm = await measure(0);
  const steady: SignallingComparison[] = [];
  for (const rate of steadyRates) steady.push(await measure(rate));
  return { storm, steady };
}

/**
 * The same joins and relays through a cluster: one node without Redis, then 1, 2 and 3 nodes
 * sharing one Redis (a private redis-server on a free port, started here), each room's members
 * spread over the nodes, so most relays cross nodes (crossNodeRelayShare says how many).
 */
export async function measureClusterSignalling(bin: string, clients = 1000, rooms = 100, nodeCounts = [1, 2, 3], joinsPerSecond = 250): Promise<{ alone: SignallingFigures; cluster: SignallingFigures[] }> {
  const alone = await (async () => {
    const server = await startServerProcess([bin, 'serve', ...LOAD_TEST_SERVE_FLAGS]);
    try {
      return await run([server.url], [server.pid], clients, rooms, joinsPerSecond);
    } finally {
      await server.stop();
    }
  })();
  const cluster: SignallingFigures[] = [];
  for (const count of nodeCounts) {
    const redis = await startRedis();
    const nodes: Array<Awaited<ReturnType<typeof startServerProcess>>> = [];
    try {
      for (let n = 0; n < count; n++) nodes.push(await startServerProcess([bin, 'serve', ...LOAD_TEST_SERVE_FLAGS, '--redis', redis.url]));
      cluster.push(await run(nodes.map((node) => node.url), nodes.map((node) => node.pid), clients, rooms, joinsPerSecond));
    } finally {
      for (const node of nodes) await node.stop();
      await redis.stop();
    }
  }
  return { alone, cluster };
}

