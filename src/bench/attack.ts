// Join latency of a well-behaved room while 127.0.0.2–127.0.0.9 attack the server, against the
// same room unattacked, in one run. Each attacking address is a child process with 40 sockets
// that flood the server with what a hostile client would send: unknown events, malformed and
// oversized joins, join spam, and reconnects whenever the server drops them. The honest clients
// join one after another from 127.0.0.1; the figure is each join's ack time. The attack is
// bounded (1600 messages a second, plus reconnects) so that it measures the server's defences,
// not eight attacking processes starving everything on a 2-core machine.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../protocol.js';
import { percentile, round, sleep } from './stats.js';

export const ATTACK_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
const SOCKETS_PER_ATTACKER = 40;
/** Each attacking socket sends a hostile message this often: 200 a second per address, 1600 in all. */
const MESSAGE_INTERVAL_MS = 200;
const HONEST_JOINS = 60;

export interface AttackFigures {
  quiet: { p50Ms: number; p99Ms: number; failed: number };
  attacked: { p50Ms: number; p99Ms: number; failed: number };
  /** Messages the attackers sent during the attacked run. */
  attackMessages: number;
  /** Times the server dropped an attacking socket (and it came back). */
  attackDisconnects: number;
  /** The server still answered /healthz afterwards. */
  serverAlive: boolean;
}

/** One honest join: connect from 127.0.0.1, join a room, time the ack, leave. */
async function honestJoin(url: string, index: number): Promise<number | null> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 10_000 });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const started = performance.now();
    const ack = (await socket.timeout(10_000).emitWithAck('join', { room: 'honest', name: `guest-${index}`, v: PROTOCOL_VERSION })) as { ok: boolean };
    const ms = performance.now() - started;
    // A well-behaved client leaves: one that only disconnects keeps its seat for the resume grace.
    await socket.timeout(10_000).emitWithAck('leave');
    return ack.ok ? ms : null;
  } catch {
    return null;
  } finally {
    socket.disconnect();
  }
}

async function honestRun(url: string): Promise<{ p50Ms: number; p99Ms: number; failed: number }> {
  const times: number[] = [];
  let failed = 0;
  for (let i = 0; i < HONEST_JOINS; i++) {
    const ms = await honestJoin(url, i);
    if (ms === null) failed++;
    else times.push(ms);
    await sleep(20);
  }
  return { p50Ms: round(percentile(times, 50), 1), p99Ms: round(percentile(times, 99), 1), failed };
}

/** Starts the attackers; resolves once each reported its sockets up. */
async function startAttackers(url: string): Promise<{ stop: () => Promise<{ messages: number; disconnects: number }> }> {
  const self = fileURLToPath(import.meta.url);
  const attackers = ATTACK_ADDRESSES.map((address) => {
    const child = spawn(process.execPath, [self, '--attacker', url, address], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const ready = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (line === 'ready') resolve();
      });
    });
    return { child, lines, ready };
  });
  await Promise.all(attackers.map((a) => a.ready));
  return {
    stop: async () => {
      const totals = { messages: 0, disconnects: 0 };
      await Promise.all(
        attackers.map(async ({ child, lines }) => {
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          await exited;
          const counts = JSON.parse(lines.at(-1) ?? '{}') as { messages?: number; disconnects?: number };
          totals.messages += counts.messages ?? 0;
          totals.disconnects += counts.disconnects ?? 0;
        }),
      );
      return totals;
    },
  };
}

export async function measureAttack(bin: string): Promise<AttackFigures> {
  // Its warnings (one per dropped attacker) would drown the bench's own output.
  const server = spawn(process.execPath, [bin, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
  const url = /(http:\/\/\S+)/.exec(line)![1]!;
  try {
    const quiet = await honestRun(url);
    const attackers = await startAttackers(url);
    await sleep(2000); // let the flood build up
    const attacked = await honestRun(url);
    const { messages, disconnects } = await attackers.stop();
    const serverAlive = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    return { quiet, attacked, attackMessages: messages, attackDisconnects: disconnects, serverAlive };
  } finally {
    server.kill('SIGTERM');
    if (server.exitCode === null) await once(server, 'exit');
  }
}

/** What a hostile client sends, in turn. */
const HOSTILE: Array<(socket: Socket) => void> = [
  (s) => s.emit('no-such-event', { x: 1 }),
  (s) => s.emit('join', { room: 'x'.repeat(5000), name: 'a', v: PROTOCOL_VERSION }),
  (s) => s.emit('join', 'not an object'),
  (s) => s.emit('join', { room: 'spam', name: `s${Math.random()}`, v: PROTOCOL_VERSION }),
  (s) => s.emit('signal', { to: 'nobody', data: { candidate: { candidate: 'x'.repeat(2000) } } }),
  (s) => s.emit('update-state', { muted: 'yes' }),
  (s) => s.emit('join', { room: 'big', name: 'b', v: PROTOCOL_VERSION, resume: 'y'.repeat(600) }),
];

/** Child-process mode: flood `url` from `address` until SIGTERM, then print the counts. */
async function attack(url: string, address: string): Promise<void> {
  let messages = 0;
  let disconnects = 0;
  let stopping = false;
  const sockets = new Set<Socket>();
  const open = (): void => {
    if (stopping) return;
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, localAddress: address } as Parameters<typeof io>[1]);
    sockets.add(socket);
    socket.on('disconnect', () => {
      sockets.delete(socket);
      disconnects++;
      setTimeout(open, 10);
    });
    socket.on('connect_error', () => {
      sockets.delete(socket);
      setTimeout(open, 50);
    });
  };
  for (let i = 0; i < SOCKETS_PER_ATTACKER; i++) open();
  await sleep(1000);
  process.stdout.write('ready\n');
  const timer = setInterval(() => {
    for (const socket of sockets) {
      if (!socket.connected) continue;
      HOSTILE[messages % HOSTILE.length]!(socket);
      messages++;
    }
  }, MESSAGE_INTERVAL_MS);
  await once(process, 'SIGTERM');
  stopping = true;
  clearInterval(timer);
  for (const socket of sockets) socket.disconnect();
  process.stdout.write(`${JSON.stringify({ messages, disconnects })}\n`);
  process.exit(0);
}

if (process.argv[2] === '--attacker') void attack(process.argv[3]!, process.argv[4]!);
