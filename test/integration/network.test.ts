// Peers on two "hosts" (network namespaces) whose media link fails mid-call while signalling
// stays up: the connection must notice, restart ICE (or rebuild), and the audio must come back.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VOXROOM_BIN, exitOf, startCli } from '../helpers/cli.js';
import { twoHosts, type TwoHosts } from '../helpers/netns.js';
import { sleep, toneLevelDb } from '../helpers/peers.js';
import { readWav16 } from '../helpers/wav.js';

const scratch = mkdtempSync(join(tmpdir(), 'voxroom-net-'));
let hosts: TwoHosts;
let port = 0;
let stopServer: () => Promise<void>;

beforeAll(async () => {
  hosts = twoHosts(String(process.pid % 10_000));
  const { child, match } = await startCli(['serve', '--port', '0', '--host', '0.0.0.0'], /listening on http:\/\/\S+:(\d+)/);
  port = Number(match[1]);
  stopServer = async () => {
    child.kill('SIGINT');
    await exitOf(child);
  };
});
afterAll(async () => {
  await stopServer?.();
  hosts?.remove();
});

interface NetPeer {
  child: ChildProcessWithoutNullStreams;
  states: Array<{ state: string; at: number }>;
  stderr: () => string;
}

function joinIn(namespace: string, server: string, name: string, hz: number, output: string): NetPeer {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, VOXROOM_BIN, 'join', 'net', '--server', `http://${server}:${port}`, '--name', name, '--input', `tone:${hz}`, '--output', `file:${output}`, '--json', '--verbose']);
  const peer: NetPeer = { child, states: [], stderr: () => errors };
  let errors = '';
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const event = JSON.parse(line) as { event: string; state?: string };
      if (event.event === 'connection-state') peer.states.push({ state: event.state!, at: performance.now() });
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return peer;
}

async function until(predicate: () => boolean, what: string, ms: number, explain: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${explain()}`);
    await sleep(100);
  }
}

describe('a media path that fails mid-call', () => {
  it('is noticed and recovered: the connection comes back and so does the audio', async () => {
    const alice = joinIn(hosts.a, hosts.serverAddressFromA, 'alice', 440, join(scratch, 'alice.wav'));
    const bob = joinIn(hosts.b, hosts.serverAddressFromB, 'bob', 620, join(scratch, 'bob.wav'));
    const explain = (): string => `alice states ${JSON.stringify(alice.states.map((s) => s.state))}, bob states ${JSON.stringify(bob.states.map((s) => s.state))}; bob's log: ${bob.stderr().slice(-1500)}`;
    try {
      const connected = (peer: NetPeer): boolean => peer.states.at(-1)?.state === 'connected';
      await until(() => connected(alice) && connected(bob), 'the first connection', 20_000, explain);
      await sleep(2000);
      hosts.cutMedia(true);
      const cutAt = performance.now();
      await until(() => bob.states.some((s) => s.at > cutAt && s.state !== 'connected'), 'bob to notice the cut', 20_000, explain);
      // Still cut when the first ICE restart begins (3 s after "disconnected").
      await sleep(6000);
      hosts.cutMedia(false);
      const restoredAt = performance.now();
      await until(() => connected(bob) && connected(alice) && bob.states.some((s) => s.at > restoredAt), 'the connection to come back', 40_000, explain);
      await sleep(3000);
    } finally {
      for (const peer of [alice, bob]) peer.child.stdin.end('quit\n');
      await Promise.all([alice, bob].map((peer) => exitOf(peer.child)));
    }
    const { samples } = readWav16(join(scratch, 'bob.wav'));
    const lastTwoSeconds = samples.subarray(samples.length - 96_000);
    expect(Math.abs(toneLevelDb(lastTwoSeconds, 440)), `alice heard by bob after recovery; ${explain()}`).toBeLessThan(3);
    // The recovery took an ICE restart or a fresh connection; the log says which.
    const log = bob.stderr() + alice.stderr();
    expect(log).toMatch(/restarting ICE|replacing/);
    console.log('recovery:', log.split('\n').filter((line) => /restarting ICE|replacing|"state"/.test(line)).map((line) => line.replace(/^.*"msg":/, '')).join(' | '));
  });
});
