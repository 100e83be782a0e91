// Resource stability: a peer joins and leaves 200 times while another stays; memory, handles
// and threads of this process at start and end.
import { NullSink } from '../audio/backend.js';
import { ToneSource } from '../audio/tone-source.js';
import { VoicePeer } from '../peer/voice-peer.js';
import { startSignallingServer } from '../server/signalling-server.js';
import { round, rssMb, sleep, threadCount } from './stats.js';

function snapshot() {
  (globalThis as { gc?: () => void }).gc?.();
  return {
    rssMb: round(rssMb()),
    heapMb: round(process.memoryUsage().heapUsed / 1e6),
    handles: process.getActiveResourcesInfo().length,
    threads: threadCount(),
  };
}

export async function measureStability(cycles = 200) {
  const server = await startSignallingServer({ port: 0 });
  const anchor = new VoicePeer({ serverUrl: server.url, room: 'stability', name: 'anchor', source: new ToneSource(440), sink: new NullSink() });
  await anchor.start();
  const until = async (condition: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`stability: timed out waiting for ${what}`);
      await sleep(10);
    }
  };
  const cycle = async (i: number): Promise<void> => {
    const visitor = new VoicePeer({ serverUrl: server.url, room: 'stability', name: `visitor-${i}`, source: new ToneSource(620), sink: new NullSink() });
    await visitor.start();
    // Connected and audio flowing, as a real visit would be (and within the server's rate limits).
    await until(() => visitor.peers()[0]?.connection === 'connected' && (visitor.peers()[0]?.audio?.receivedFrames ?? 0) > 20, `visitor ${i} to connect`);
    await visitor.stop();
    await until(() => anchor.peers().length === 0, `the anchor to see visitor ${i} leave`);
  };
  for (let i = 0; i < 3; i++) await cycle(i);
  const start = snapshot();
  const started = performance.now();
  for (let i = 3; i < cycles + 3; i++) await cycle(i);
  const seconds = round((performance.now() - started) / 1000);
  await sleep(500);
  const end = snapshot();
  await anchor.stop();
  await server.close();
  return { cycles, seconds, start, end, gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function' };
}
