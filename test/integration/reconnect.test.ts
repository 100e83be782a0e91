// A server restarted without its key (it cannot verify old resume tokens): peers reconnect,
// rejoin under the same names (new ids), rebuild their connections, and audio flows again.
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../helpers/signalling.js';
import { allConnected, expectHears, lastSeconds, makePeer, sleep, waitUntil } from '../helpers/peers.js';

describe('signalling reconnect', () => {
  it('a server restarted without its key: peers rejoin with their names and hear each other again', async () => {
    let server = await startTestServer();
    const port = server.port;
    const alice = makePeer(server.url, 'back', 'alice', 440);
    const bob = makePeer(server.url, 'back', 'bob', 620);
    const rejoins: string[] = [];
    alice.peer.on('joined', ({ resumed, self }) => resumed && rejoins.push(`alice:${self.name}`));
    bob.peer.on('joined', ({ resumed, self }) => resumed && rejoins.push(`bob:${self.name}`));
    try {
      await alice.peer.start();
      await bob.peer.start();
      await waitUntil(() => allConnected(alice.peer, 1) && allConnected(bob.peer, 1), 'first connection');
      const firstIds = [alice.peer.identity!.id, bob.peer.identity!.id];

      await server.close();
      await sleep(300);
      server = await startTestServer({ port });
      await waitUntil(() => rejoins.length === 2, 'both peers to rejoin', 20_000);
      expect(rejoins.sort()).toEqual(['alice:alice', 'bob:bob']);
      expect([alice.peer.identity!.id, bob.peer.identity!.id]).not.toEqual(firstIds);
      await waitUntil(() => allConnected(alice.peer, 1) && allConnected(bob.peer, 1), 'connection rebuilt', 20_000);
      expect(alice.peer.status().links).toBe(1);
      await sleep(1200);
      expectHears(lastSeconds(bob.sink, 1), 440);
      expectHears(lastSeconds(alice.sink, 1), 620);
    } finally {
      await alice.peer.stop();
      await bob.peer.stop();
      await server.close();
    }
  });
});
