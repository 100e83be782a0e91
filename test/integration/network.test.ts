// Peers on two "hosts" (network namespaces). One media link fails mid-call while signalling
// stays up: the connection must notice, restart ICE (or rebuild), and the audio must come back.
// Two hosts with no path between them at all must talk through a real TURN relay (coturn),
// with the time-limited credentials the server mints from coturn's shared secret.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VOXROOM_BIN, exitOf, startCli } from '../helpers/cli.js';
import { twoHosts } from '../helpers/netns.js';
import { sleep, toneLevelDb } from '../helpers/peers.js';
import { readWav16 } from '../helpers/wav.js';

const scratch = mkdtempSync(join(tmpdir(), 'voxroom-net-'));
const tag = String(process.pid % 10_000);
let port = 0;
let cleanups: Array<() => Promise<void> | void> = [];

async function startServer(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
  const { child, match } = await startCli(['serve', '--port', '0', '--host', '0.0.0.0', ...extraArgs], /listening on http:\/\/\S+:(\d+)/, env);
  port = Number(match[1]);
  cleanups.push(async () => {
    child.kill('SIGINT');
    await exitOf(child);
  });
}

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

interface NetPeer {
  child: ChildProcessWithoutNullStreams;
  states: Array<{ state: string; at: number }>;
  stderr: () => string;
}

function joinIn(namespace: string, server: string, name: string, hz: number, output: string, room: string): NetPeer {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, VOXROOM_BIN, 'join', room, '--server', `http://${server}:${port}`, '--name', name, '--input', `tone:${hz}`, '--output', `file:${output}`, '--json', '--verbose']);
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
    const hosts = twoHosts(tag);
    cleanups.push(() => hosts.remove());
    await startServer();
    // Another host reads no metrics from a server without a metrics token; this machine does.
    const remoteMetrics = execFileSync('ip', ['netns', 'exec', hosts.a, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${hosts.serverAddressFromA}:${port}/metrics`]).toString();
    expect(remoteMetrics).toBe('403');
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    const alice = joinIn(hosts.a, hosts.serverAddressFromA, 'alice', 440, join(scratch, 'alice.wav'), 'net');
    const bob = joinIn(hosts.b, hosts.serverAddressFromB, 'bob', 620, join(scratch, 'bob.wav'), 'net');
    const explain = (): string => `alice states ${JSON.stringify(alice.states.map((s) => s.state))}, bob states ${JSON.stringify(bob.states.map((s) => s.state))}; alice's log: ${alice.stderr().slice(-1500)}; bob's log: ${bob.stderr().slice(-1500)}`;
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

interface Coturn {
  port: number;
  log: () => string;
  /** coturn's log is block-buffered into a pipe: it is complete once coturn has exited. */
  stop: () => Promise<void>;
}

function startCoturn(hosts: ReturnType<typeof twoHosts>, secret: string, extraArgs: string[] = []): Coturn {
  const port = 30_000 + (process.pid % 5000); // a fixed port may still be held by an earlier run
  const coturn = spawn('turnserver', ['-n', `--listening-ip=${hosts.serverAddressFromA}`, `--listening-ip=${hosts.serverAddressFromB}`, `--listening-port=${port}`, '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=voxroom.test', '--no-tls', '--no-dtls', '--no-cli', '--log-file=stdout', '--simple-log', '--min-port=49200', '--max-port=49400', '--verbose', ...extraArgs]);
  let log = '';
  coturn.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  coturn.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (coturn.exitCode !== null || coturn.signalCode !== null) return;
    const exited = new Promise((resolve) => coturn.once('exit', resolve));
    coturn.kill('SIGTERM');
    await exited;
  };
  cleanups.push(stop);
  return { port, log: () => log, stop };
}

/** Each host reaches the relay only at its own link's address; both URLs go to everyone. */
function turnServerArgs(hosts: ReturnType<typeof twoHosts>, turn: Coturn): string[] {
  return ['--ice-server', `turn:${hosts.serverAddressFromA}:${turn.port}`, '--ice-server', `turn:${hosts.serverAddressFromB}:${turn.port}`];
}

describe('two hosts that cannot reach each other', () => {
  it('talk through coturn with credentials the server mints from its shared secret', async () => {
    const hosts = twoHosts(tag, { mediaLink: false });
    cleanups.push(() => hosts.remove());
    const secret = 'test-secret-' + tag;
    const turn = startCoturn(hosts, secret);
    await startServer([...turnServerArgs(hosts, turn), '--turn-secret', secret]);
    const alice = joinIn(hosts.a, hosts.serverAddressFromA, 'alice', 440, join(scratch, 'turn-alice.wav'), 'turn');
    const bob = joinIn(hosts.b, hosts.serverAddressFromB, 'bob', 620, join(scratch, 'turn-bob.wav'), 'turn');
    const explain = (): string => `alice states ${JSON.stringify(alice.states.map((s) => s.state))}, bob states ${JSON.stringify(bob.states.map((s) => s.state))}; coturn: ${turn.log().slice(-1500)}`;
    try {
      const connected = (peer: NetPeer): boolean => peer.states.at(-1)?.state === 'connected';
      await until(() => connected(alice) && connected(bob), 'a connection through the relay', 30_000, explain);
      await sleep(3000);
    } finally {
      for (const peer of [alice, bob]) peer.child.stdin.end('quit\n');
      await Promise.all([alice, bob].map((peer) => exitOf(peer.child)));
    }
    for (const [listener, hz] of [
      ['turn-bob.wav', 440],
      ['turn-alice.wav', 620],
    ] as const) {
      const { samples } = readWav16(join(scratch, listener));
      expect(Math.abs(toneLevelDb(samples.subarray(samples.length - 96_000), hz)), `${listener} holds ${hz} Hz; ${explain()}`).toBeLessThan(3);
    }
    // The relay was allocated with the minted (time-limited) credentials. One allocation can
    // carry the call (coturn may place it on the address the other host reaches directly).
    await turn.stop();
    expect(turn.log(), explain()).toMatch(/user <\d+:(alice|bob)>: incoming packet ALLOCATE processed, success/);
  });

  it('keep connecting through the relay long after their first credentials expired', async () => {
    // coturn checks a credential's expiry when an allocation is made: a call already relayed
    // outlives it, but every new connection (a newcomer, an ICE restart) needs a fresh one. The
    // relay addresses are on a root address neither host reaches: every pair needs an allocation
    // of its own on both sides. alice and bob talk past the TTL (10 s, the least `--turn-ttl` takes); then carol joins
    // and alice must allocate with credentials the server pushed after her join.
    const ttlSeconds = 10;
    const hosts = twoHosts(tag, { mediaLink: false, rootOnlyAddress: true });
    cleanups.push(() => hosts.remove());
    const secret = 'test-secret-' + tag;
    const turn = startCoturn(hosts, secret, [`--relay-ip=${hosts.rootOnlyAddress}`]);
    await startServer([...turnServerArgs(hosts, turn), '--turn-ttl', String(ttlSeconds)], { VOXROOM_TURN_SECRET: secret });
    const alice = joinIn(hosts.a, hosts.serverAddressFromA, 'alice', 440, join(scratch, 'ttl-alice.wav'), 'ttl');
    const bob = joinIn(hosts.b, hosts.serverAddressFromB, 'bob', 620, join(scratch, 'ttl-bob.wav'), 'ttl');
    const peers = [alice, bob];
    const explain = (): string => `states ${JSON.stringify(peers.map((peer) => peer.states.map((s) => s.state)))}; alice's log: ${alice.stderr().slice(-1500)}; coturn: ${turn.log().slice(-1500)}`;
    const aliceJoinedAt = performance.now();
    try {
      const connected = (peer: NetPeer): boolean => peer.states.at(-1)?.state === 'connected';
      await until(() => connected(alice) && connected(bob), 'a connection through the relay', 30_000, explain);
      await sleep(aliceJoinedAt + (ttlSeconds + 8) * 1000 - performance.now());
      const carol = joinIn(hosts.b, hosts.serverAddressFromB, 'carol', 780, join(scratch, 'ttl-carol.wav'), 'ttl');
      peers.push(carol);
      await until(() => connected(carol), "carol's connections", 30_000, explain);
      await sleep(3000);
    } finally {
      for (const peer of peers) peer.child.stdin.end('quit\n');
      await Promise.all(peers.map((peer) => exitOf(peer.child)));
    }
    await turn.stop();
    for (const [listener, hz] of [
      ['ttl-bob.wav', 440],
      ['ttl-alice.wav', 620],
      ['ttl-alice.wav', 780],
      ['ttl-carol.wav', 440],
    ] as const) {
      const { samples } = readWav16(join(scratch, listener));
      expect(Math.abs(toneLevelDb(samples.subarray(samples.length - 96_000), hz)), `${listener} holds ${hz} Hz; ${explain()}`).toBeLessThan(3);
    }
    // alice's allocations were made under two credentials: the join's and a pushed one.
    const expiries = new Set([...turn.log().matchAll(/user <(\d+):alice>: incoming packet ALLOCATE processed, success/g)].map((match) => match[1]));
    expect(expiries.size, `alice's allocations by credential expiry: ${[...expiries].join(', ')}`).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
