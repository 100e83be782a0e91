// A cluster for tests: the private redis-server and nginx of src/bench/services.ts, and
// signalling nodes in this process that join through that Redis.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { expect } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { joinCluster } from '../../src/server/cluster-node.js';
import { startSignallingServer, type RunningServer, type SignallingServerOptions } from '../../src/server/signalling-server.js';

import { exitOf, startCli } from './cli.js';
import { makePeer, type TestPeer } from './peers.js';

import { startNginx } from '../../src/bench/services.js';

export { startNginx, startRedis, type Service } from '../../src/bench/services.js';
export { freePort } from '../../src/server/free-port.js';

/** A signalling node in this process, joined to the cluster at `redisUrl`. */
export async function startNode(redisUrl: string, options: Partial<SignallingServerOptions> = {}): Promise<RunningServer> {
  const cluster = await joinCluster(redisUrl, options.logger ?? silentLogger);
  return startSignallingServer({ port: 0, cluster, ...options });
}

/** A `voxroom serve` child process, as startCli gives it (its URL in match[1]). */
export interface NodeProcess {
  child: ChildProcessWithoutNullStreams;
  match: RegExpMatchArray;
}

/**
 * Mid-call: kills (-9, or stops with `signal`) the first node that carries a member (by its
 * /healthz) a second from now, waits for it to exit, lets the call go on for `afterMs`, and
 * checks that the survivor carries the `members` of the cluster. Returns the survivor and when
 * the node died.
 */
export async function killCarryingNode(nodes: NodeProcess[], members: number, afterMs = 8000, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ survivor: NodeProcess; killedAt: number }> {
  const carried = await Promise.all(nodes.map(async (node) => ((await (await fetch(`${node.match[1]}/healthz`)).json()) as { peers: number }).peers));
  const victim = carried.findIndex((peers) => peers >= 1);
  expect(victim).toBeGreaterThanOrEqual(0);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  nodes[victim]!.child.kill(signal);
  await exitOf(nodes[victim]!.child);
  const killedAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  const survivor = nodes.find((_, i) => i !== victim)!;
  const health = (await (await fetch(`${survivor.match[1]}/healthz`)).json()) as { peers: number; cluster: { peers: number } };
  expect(health).toMatchObject({ peers: members, cluster: { peers: members } });
  return { survivor, killedAt };
}

/**
 * Two `voxroom serve --redis` nodes (with `serveArgs`) behind nginx, and alice and bob (tones
 * `tones`) joined through it; every (re)join's member id is kept in `ids`. All of it is stopped
 * by `cleanups` (run in reverse order after the test).
 */
export async function callBehindNginx(redisUrl: string, serveArgs: string[], tones: { alice: number; bob: number }, cleanups: Array<() => Promise<unknown>>): Promise<{ nodes: NodeProcess[]; alice: TestPeer; bob: TestPeer; ids: Record<string, string[]> }> {
  const serve = () => startCli(['serve', '--port', '0', '--redis', redisUrl, '--resume-grace', '15', ...serveArgs], /listening on (http:\/\/[^\s;]+)/);
  const nodes = [await serve(), await serve()];
  for (const node of nodes) cleanups.push(async () => node.child.kill('SIGKILL'));
  const nginx = await startNginx(nodes.map((node) => Number(new URL(node.match[1]!).port)));
  cleanups.push(() => nginx.stop());
  const alice = makePeer(nginx.url, 'balanced', 'alice', tones.alice, { reconnectTimeoutMs: 30_000 });
  const bob = makePeer(nginx.url, 'balanced', 'bob', tones.bob, { reconnectTimeoutMs: 30_000 });
  const ids: Record<string, string[]> = { alice: [], bob: [] };
  for (const p of [alice, bob]) {
    p.peer.on('joined', ({ self }) => ids[p.name]!.push(self.id));
    cleanups.push(() => p.peer.stop());
    await p.peer.start();
  }
  return { nodes, alice, bob, ids };
}
