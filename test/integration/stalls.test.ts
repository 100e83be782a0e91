// A blocked event loop (a slow synchronous call, a busy machine) must not cost audio that wrtc
// received in time: the frames pile up while the loop is blocked and the mix clock's catch-up
// ticks must play them, not silence. Real peers on loopback, in this process, so that the test
// can block their event loop.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { longestSilenceMs } from '../../src/audio/analysis.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { allConnected, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';
import { startTestServer } from '../helpers/signalling.js';

let server: RunningServer;
const peers: TestPeer[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.peer.stop()));
  await server.close();
});

it('five 150 ms blocks of the event loop leave no gap in the mix, and no lasting backlog', async () => {
  const alice = makePeer(server.url, 'stalls', 'alice', 440);
  const bob = makePeer(server.url, 'stalls', 'bob', 660);
  peers.push(alice, bob);
  await alice.peer.start();
  await bob.peer.start();
  await waitUntil(() => allConnected(alice.peer, 1) && allConnected(bob.peer, 1), 'both connected');
  await sleep(1000);
  const from = alice.sink.frames.length;
  for (let i = 0; i < 5; i++) {
    const until = performance.now() + 150;
    while (performance.now() < until) {
      // blocked, as by a long synchronous call
    }
    await sleep(1000);
  }
  const frames = alice.sink.frames.slice(from);
  const silent = frames.filter((frame) => longestSilenceMs([frame]) > 0).length;
  // Before the catch-up ticks waited for the piled-up I/O, and while the buffer's cap was 8
  // frames, each block left a 70-140 ms gap. One 10 ms frame is allowed for a busy machine.
  expect(longestSilenceMs(frames), `${silent} silent frames`).toBeLessThanOrEqual(10);
  const bobAtAlice = alice.peer.peers().find((p) => p.name === 'bob')!.audio!;
  expect(bobAtAlice.overflows).toBe(0);
  // Every catch-up took its frames: nothing waits beyond the buffer's normal depth.
  expect(bobAtAlice.depth).toBeLessThanOrEqual(bobAtAlice.targetFrames + 1);
}, 60_000);
