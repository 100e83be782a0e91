// Long runs of joins and leaves must not leak connections, handles, threads or memory.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { startTestServer } from '../helpers/signalling.js';
import { allConnected, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';

let server: RunningServer;
let anchor: TestPeer;

beforeAll(async () => {
  server = await startTestServer();
  anchor = makePeer(server.url, 'churn', 'anchor', 440);
  await anchor.peer.start();
});
afterAll(async () => {
  await anchor.peer.stop();
  await server.close();
});

function snapshot() {
  (globalThis as { gc?: () => void }).gc?.();
  return {
    threads: readdirSync('/proc/self/task').length,
    handles: process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length,
    heapMb: process.memoryUsage().heapUsed / 1e6,
    rssMb: process.memoryUsage().rss / 1e6,
  };
}

async function cycle(i: number): Promise<void> {
  const visitor = makePeer(server.url, 'churn', `visitor-${i}`, 620);
  await visitor.peer.start();
  await waitUntil(() => allConnected(visitor.peer, 1), `visitor ${i} connected`);
  await visitor.peer.stop();
  await waitUntil(() => anchor.peer.peers().length === 0, `anchor sees visitor ${i} leave`);
}

describe('resource stability', () => {
  it('50 joins and leaves leave no connections, handles, threads or memory behind', async () => {
    // Warm up: first connections load codecs and start wrtc's long-lived threads.
    for (let i = 0; i < 3; i++) await cycle(i);
    await sleep(500);
    const before = snapshot();
    for (let i = 3; i < 53; i++) await cycle(i);
    await sleep(1000);
    const after = snapshot();
    console.log('resource stability', JSON.stringify({ before, after }));
    expect(anchor.peer.status().links).toBe(0);
    expect(anchor.peer.peers()).toEqual([]);
    expect(after.handles).toBeLessThanOrEqual(before.handles + 2);
    expect(after.threads).toBeLessThanOrEqual(before.threads + 4);
    expect(after.heapMb).toBeLessThan(before.heapMb + 15);
    expect(after.rssMb).toBeLessThan(before.rssMb + 80);
  }, 240_000);
});
