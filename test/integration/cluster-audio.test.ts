// Real headless peers (wrtc) in a cluster: peers of one room joined through three different
// nodes all hear each other; and a node killed with -9 behind nginx mid-call: its peer resumes
// through the balancer on the other node under the same id, and the audio has no gap; and Redis
// killed and restarted mid-call.
// Run alone and niced: `nice -n 10 npx vitest run test/integration/cluster-audio.test.ts`.
import { afterEach, describe, expect, it } from 'vitest';
import { longestSilenceMs } from '../../src/audio/analysis.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { callBehindNginx, killCarryingNode, startNode, startRedis, type Service } from '../helpers/cluster.js';
import { allConnected, expectAbsent, expectHears, framesHeard, lastSeconds, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';

const TONES = { alice: 440, bob: 620, carol: 970 } as const;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** A Redis and `count` nodes in this process sharing it, all stopped after the test. */
async function clusterOf(count: number): Promise<{ redis: Service; nodes: RunningServer[] }> {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const nodes: RunningServer[] = [];
  for (let i = 0; i < count; i++) {
    const node = await startNode(redis.url);
    nodes.push(node);
    cleanups.push(() => node.close());
  }
  return { redis, nodes };
}

describe('voice across a cluster', () => {
  it('peers of one room joined through three different nodes all hear each other', async () => {
    const { nodes } = await clusterOf(3);
    const trio = (Object.entries(TONES) as Array<[keyof typeof TONES, number]>).map(([name, hz], i) => makePeer(nodes[i]!.url, 'spread', name, hz));
    for (const p of trio) {
      cleanups.push(() => p.peer.stop());
      await p.peer.start();
    }
    for (const p of trio) await waitUntil(() => allConnected(p.peer, 2), `${p.name} connected to both others`, 20_000);
    await sleep(1500);
    for (const listener of trio) {
      const heard = lastSeconds(listener.sink, 1);
      for (const [other, hz] of Object.entries(TONES)) {
        if (other === listener.name) expectAbsent(heard, hz);
        else expectHears(heard, hz);
      }
    }
    const health = (await (await fetch(`${nodes[0]!.url}/healthz`)).json()) as { peers: number; cluster: { peers: number; nodes: number } };
    expect(health).toMatchObject({ peers: 1, cluster: { peers: 3, nodes: 3 } });
  });

  it('a node killed with -9 behind nginx mid-call: its peer resumes through the balancer on the other node, same id, no gap, volumes kept', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const { nodes, alice, bob, ids } = await callBehindNginx(redis.url, [], TONES, cleanups);
    for (const p of [alice, bob]) await waitUntil(() => allConnected(p.peer, 1), `${p.name} connected`, 20_000);
    // Alice has bob at 50 % (−6 dB): her volumes must carry on through the failure.
    alice.peer.setVolume('bob', 50);
    // The node carrying a peer dies; the survivor carries both after 8 s.
    const { killedAt } = await killCarryingNode(nodes, 2);
    // Every (re)join of each peer came back under its first id.
    for (const name of ['alice', 'bob']) expect(new Set(ids[name]).size, `${name}: ${ids[name]!.join(', ')}`).toBe(1);
    // Neither recording has a gap since before the kill.
    const since = (Date.now() - killedAt) / 1000 + 1;
    const gaps = { alice: longestSilenceMs(framesHeard(alice, since)), bob: longestSilenceMs(framesHeard(bob, since)) };
    const silentAt = (peer: TestPeer): number[] => framesHeard(peer, since).flatMap((frame, i) => (longestSilenceMs([frame]) > 0 ? [Math.round(i * 10 - 1000)] : []));
    console.log(`node kill -9 behind nginx: longest silence heard since the kill: alice ${gaps.alice} ms, bob ${gaps.bob} ms; silent frames (ms after the kill): alice ${silentAt(alice).slice(0, 40).join(' ')}; bob ${silentAt(bob).slice(0, 40).join(' ')}`);
    // Links rebuilt would cost ~300 ms of silence (issue 14). With the jitter buffer at one frame
    // ten runs measured 0 ms (six) or 10 ms (four), the 10 ms in both recordings at once where
    // this process (both peers, both nodes) stalled; at two frames (104c782) three runs
    // measured 0 ms. Bound: 30 ms, three frames of this machine's noise.
    expect(gaps.alice).toBeLessThanOrEqual(30);
    expect(gaps.bob).toBeLessThanOrEqual(30);
    expectHears(lastSeconds(alice.sink, 1), TONES.bob, -6);
    expectHears(lastSeconds(bob.sink, 1), TONES.alice);
  });

  it('Redis killed and started again (empty) mid-call: the call across two nodes goes on without a gap, nobody leaves, and the room is whole again in Redis', async () => {
    const { redis, nodes } = await clusterOf(2);
    const [alice, bob] = (['alice', 'bob'] as const).map((name, i) => makePeer(nodes[i]!.url, 'outage', name, TONES[name]));
    const left: string[] = [];
    for (const p of [alice!, bob!]) {
      cleanups.push(() => p.peer.stop());
      p.peer.on('peer-left', (member) => left.push(`${p.name} saw ${member.name} leave`));
      await p.peer.start();
    }
    for (const p of [alice!, bob!]) await waitUntil(() => allConnected(p.peer, 1), `${p.name} connected`, 20_000);
    await sleep(1000);
    await redis.stop('SIGKILL');
    const killedAt = Date.now();
    await sleep(3000);
    const back = await startRedis(redis.port);
    cleanups.push(() => back.stop());
    // Each node writes its member back: the cluster counts both again, and a newcomer sees them.
    const healthOf = async (): Promise<{ ok: boolean; cluster: { peers: number } }> => (await (await fetch(`${nodes[0]!.url}/healthz`)).json()) as { ok: boolean; cluster: { peers: number } };
    const deadline = Date.now() + 10_000;
    let health = await healthOf();
    while (!(health.ok && health.cluster.peers === 2) && Date.now() < deadline) {
      await sleep(200);
      health = await healthOf();
    }
    expect(health).toMatchObject({ ok: true, cluster: { peers: 2 } });
    const carol = makePeer(nodes[0]!.url, 'outage', 'carol', TONES.carol);
    cleanups.push(() => carol.peer.stop());
    await carol.peer.start();
    await waitUntil(() => allConnected(carol.peer, 2), 'carol connected to both', 20_000);
    await sleep(1500);
    expect(left).toEqual([]);
    // From a second before the kill until now: no gap, and everyone hears everyone.
    const since = (Date.now() - killedAt) / 1000 + 1;
    for (const [listener, otherTone] of [[alice!, TONES.bob], [bob!, TONES.alice]] as const) {
      const gap = longestSilenceMs(framesHeard(listener, since));
      console.log(`Redis outage: longest silence in ${listener.name}'s mix: ${gap} ms`);
      // Three runs at a two-frame jitter buffer: 0 ms. Bound: three frames of this machine's noise.
      expect(gap).toBeLessThanOrEqual(30);
      expectHears(lastSeconds(listener.sink, 1), otherTone);
      expectHears(lastSeconds(listener.sink, 1), TONES.carol);
    }
  });
});
