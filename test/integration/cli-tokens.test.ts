// Access control from the command line: `voxroom token`, `voxroom serve` with token and TURN
// secrets from files, and `voxroom join` refused for its token. Child processes of the built CLI.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { turnRestCredentials } from '../../src/server/ice-config.js';
import { exitOf, runCli, startCli } from '../helpers/cli.js';
import { connectClient, join, joinOk, type TestClient } from '../helpers/signalling.js';

const scratch = mkdtempSync(joinPath(tmpdir(), 'voxroom-tokens-'));
const SECRET = randomBytes(32).toString('base64');
const secretFile = joinPath(scratch, 'token.secret');
writeFileSync(secretFile, `${SECRET}\n`);
/** What `voxroom` sees of this process's environment: no secrets or tokens of the person running the tests. */
const CLEAN = { VOXROOM_TOKEN_SECRET: '', VOXROOM_TURN_SECRET: '', VOXROOM_TOKEN: '' };

type Started = Awaited<ReturnType<typeof startCli>>;
const running: Started[] = [];
const sockets: TestClient[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  for (const { child } of running.splice(0)) {
    child.kill('SIGINT');
    await exitOf(child);
  }
});

async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ url: string; started: Started }> {
  const started = await startCli(['serve', '--port', '0', '--json', ...args], /"event":"listening","url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*\n/, { ...CLEAN, ...env });
  running.push(started);
  return { url: started.match[1]!, started };
}
async function mint(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await runCli(['token', ...args], { env: { ...CLEAN, ...env } });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout.trim();
}
async function client(url: string): Promise<TestClient> {
  const socket = await connectClient(url);
  sockets.push(socket);
  return socket;
}

describe('voxroom token and voxroom serve --token-…', () => {
  it('mints a token that a server with the same secret file accepts, and the server refuses joins without one', async () => {
    const { url, started } = await serve(['--token-secret-file', secretFile]);
    expect(started.match[0]).toMatch(/"tokens":"HS256"/);
    const token = await mint(['--room', 'lobby', '--name', 'alice', '--ttl', '5m', '--grant', 'speak,admin', '--token-secret-file', secretFile]);
    const socket = await client(url);
    expect(await join(socket, 'lobby', 'alice')).toMatchObject({ ok: false, error: { code: 'token-required' } });
    const ack = await joinOk(socket, 'lobby', 'somebody', { token });
    expect(ack.self).toMatchObject({ name: 'alice', state: { grants: ['speak', 'admin'] } });
    // An open server would have said so on stderr; this one does not.
    expect(started.output().stderr).not.toMatch(/this server is open/);
  });

  it('takes the secret from $VOXROOM_TOKEN_SECRET on both sides, and room prefixes', async () => {
    const { url } = await serve([], { VOXROOM_TOKEN_SECRET: SECRET });
    const token = await mint(['--room-prefix', 'team-', '--name', 'bob'], { VOXROOM_TOKEN_SECRET: SECRET });
    const socket = await client(url);
    expect((await joinOk(socket, 'team-a', 'x', { token })).self).toMatchObject({ name: 'bob', state: { grants: ['speak', 'listen'] } });
    expect(await join(socket, 'lobby', 'x', { token })).toMatchObject({ ok: false, error: { code: 'token-wrong-room' } });
  });

  it('mints with a private key (--private-key) for a server started with the public key (--token-public-key)', async () => {
    for (const [type, options] of [
      ['ed25519', {}],
      ['ec', { namedCurve: 'P-256' }],
    ] as const) {
      const pair = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
      const privateKey = joinPath(scratch, `${type}.key`);
      const publicKey = joinPath(scratch, `${type}.pub`);
      writeFileSync(privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(publicKey, pair.publicKey.export({ type: 'spki', format: 'pem' }));
      const { url } = await serve(['--token-public-key', publicKey]);
      const token = await mint(['--room', 'lobby', '--name', 'carol', '--private-key', privateKey]);
      const socket = await client(url);
      expect((await joinOk(socket, 'lobby', 'x', { token })).self.name).toBe('carol');
      // The shared secret's tokens are not this server's.
      const hmac = await mint(['--room', 'lobby', '--name', 'carol', '--token-secret-file', secretFile]);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await join(socket, 'lobby', 'x', { token: hmac })).toMatchObject({ ok: false, error: { code: 'token-invalid' } });
    }
  });

  it('usage errors exit 2 with a message that says what to do', async () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['token', '--room', 'lobby', '--name', 'a'], {}, /no key to sign with: give --token-secret-file FILE.*--private-key FILE, or set \$VOXROOM_TOKEN_SECRET/],
      [['token', '--name', 'a', '--token-secret-file', secretFile], {}, /give either --room ROOM or --room-prefix PREFIX/],
      [['token', '--room', 'a', '--room-prefix', 'b', '--name', 'a', '--token-secret-file', secretFile], {}, /give either --room ROOM or --room-prefix PREFIX/],
      [['token', '--room', 'lobby', '--token-secret-file', secretFile], {}, /required option '-n, --name <name>' not specified/],
      [['token', '--room', 'lobby', '--name', 'a', '--grant', 'speak,fly', '--token-secret-file', secretFile], {}, /unknown grant "fly"; grants are speak, listen, admin/],
      [['token', '--room', 'lobby', '--name', 'a', '--ttl', 'soon', '--token-secret-file', secretFile], {}, /"soon" is not a duration; use e\.g\. 90s, 10m, 12h or 7d/],
      [['token', '--room', 'no room', '--name', 'a', '--token-secret-file', secretFile], {}, /room ids are 1–64 characters/],
      [['token', '--room', 'lobby', '--name', 'a', '--token-secret-file', joinPath(scratch, 'missing')], {}, /--token-secret-file: cannot read .*missing \(ENOENT\)/],
      [['token', '--room', 'lobby', '--name', 'a'], { VOXROOM_TOKEN_SECRET: 'short' }, /\$VOXROOM_TOKEN_SECRET: the token secret is 5 bytes; HS256 needs at least 32 random bytes/],
      [['serve', '--token-secret-file', secretFile, '--token-public-key', secretFile], {}, /use either --token-secret-file or --token-public-key, not both/],
      [['serve', '--token-public-key', secretFile], {}, /--token-public-key .*: not a PEM public key/],
      [['serve', '--turn-secret', 'x', '--turn-secret-file', secretFile], {}, /use either --turn-secret-file or --turn-secret, not both/],
    ];
    for (const [args, env, message] of cases) {
      const result = await runCli(args, { env: { ...CLEAN, ...env } });
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
    }
  });
});

describe('voxroom serve: open servers and TURN secrets', () => {
  it('an open server says so at start; --turn-secret works with a warning, --turn-secret-file and $VOXROOM_TURN_SECRET without', async () => {
    const turnSecretFile = joinPath(scratch, 'turn.secret');
    writeFileSync(turnSecretFile, 'turn-secret-from-file\n');
    const variants: Array<[string[], NodeJS.ProcessEnv, string, boolean]> = [
      [['--turn-secret', 'turn-secret-on-the-command-line'], {}, 'turn-secret-on-the-command-line', true],
      [['--turn-secret-file', turnSecretFile], {}, 'turn-secret-from-file', false],
      [[], { VOXROOM_TURN_SECRET: 'turn-secret-from-env' }, 'turn-secret-from-env', false],
    ];
    for (const [args, env, secret, warns] of variants) {
      const { url, started } = await serve(['--ice-server', 'turn:turn.example.org:3478', ...args], env);
      const socket = await client(url);
      const ack = await joinOk(socket, 'lobby', 'alice');
      const turn = ack.iceServers[0]!;
      // The credential for this username (expiry:user) under the expected secret: at time 0 the TTL is the expiry.
      expect(turn.credential).toBe(turnRestCredentials(secret, 'alice', Number(turn.username!.split(':')[0]), 0).credential);
      const { stderr } = started.output();
      expect(stderr).toMatch(/"level":"warn","msg":"this server is open: anyone who can reach it can join any room under any name/);
      if (warns) expect(stderr).toMatch(/"level":"warn","msg":"--turn-secret puts the secret on the command line, where `ps` shows it.*use --turn-secret-file FILE or \$VOXROOM_TURN_SECRET/);
      else expect(stderr).not.toMatch(/--turn-secret puts/);
    }
  });

  it('a static TURN password comes from --turn-credential-file or $VOXROOM_TURN_CREDENTIAL; --turn-credential still works, with a warning', async () => {
    const passwordFile = joinPath(scratch, 'turn.password');
    writeFileSync(passwordFile, 'password-from-file\n');
    const variants: Array<[string[], NodeJS.ProcessEnv, string, boolean]> = [
      [['--turn-credential', 'password-on-the-command-line'], {}, 'password-on-the-command-line', true],
      [['--turn-credential-file', passwordFile], {}, 'password-from-file', false],
      [[], { VOXROOM_TURN_CREDENTIAL: 'password-from-env' }, 'password-from-env', false],
    ];
    for (const [args, env, password, warns] of variants) {
      const { url, started } = await serve(['--ice-server', 'turn:turn.example.org:3478', '--turn-username', 'relay-user', ...args], { VOXROOM_TURN_CREDENTIAL: '', ...env });
      const ack = await joinOk(await client(url), 'lobby', 'alice');
      expect(ack.iceServers).toEqual([{ urls: ['turn:turn.example.org:3478'], username: 'relay-user', credential: password }]);
      const { stderr } = started.output();
      if (warns) expect(stderr).toMatch(/--turn-credential puts the TURN password on the command line.*--turn-credential-file FILE or \$VOXROOM_TURN_CREDENTIAL/);
      else expect(stderr).not.toMatch(/--turn-credential puts/);
    }
    const missing = await runCli(['serve', '--port', '0', '--ice-server', 'turn:turn.example.org:3478', '--turn-username', 'relay-user'], { env: { ...CLEAN, VOXROOM_TURN_CREDENTIAL: '' } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--turn-username and its password \(--turn-credential-file or \$VOXROOM_TURN_CREDENTIAL\) go together/);
  });
});

describe('voxroom join --token', () => {
  it('a join refused for its token ends with the refusal and its code, and exit code 6', async () => {
    const { url } = await serve(['--token-secret-file', secretFile]);
    const base = ['join', 'lobby', '--server', url, '--input', 'silence', '--output', 'null'];
    const missing = await runCli(base, { env: CLEAN });
    expect(missing.code).toBe(6);
    expect(missing.stderr).toMatch(/room "lobby" needs a room token.*\(token-required\)/);
    const elsewhere = await mint(['--room', 'kitchen', '--name', 'bot', '--token-secret-file', secretFile]);
    const wrongRoom = await runCli(base, { env: { ...CLEAN, VOXROOM_TOKEN: elsewhere } });
    expect(wrongRoom.code).toBe(6);
    expect(wrongRoom.stderr).toMatch(/the room token is for room "kitchen", not room "lobby".*\(token-wrong-room\)/);
    const forged = await runCli([...base, '--token', 'garbage'], { env: CLEAN });
    expect(forged.code).toBe(6);
    expect(forged.stderr).toMatch(/not a well-formed signed token.*\(token-invalid\)/);
  });

  it('a session replaced by another under its token name ends with exit code 6 and a fatal error event', async () => {
    const { url } = await serve(['--token-secret-file', secretFile]);
    const token = await mint(['--room', 'lobby', '--name', 'alice', '--token-secret-file', secretFile]);
    const args = ['join', 'lobby', '--server', url, '--input', 'silence', '--output', 'null', '--json'];
    const first = await startCli(args, /"event":"joined"/, { ...CLEAN, VOXROOM_TOKEN: token });
    running.push(first);
    const second = await startCli(args, /"event":"joined"/, { ...CLEAN, VOXROOM_TOKEN: token });
    running.push(second);
    const { code } = await exitOf(first.child);
    expect(code).toBe(6);
    const events = first.output().stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string });
    expect(events.find((event) => event.event === 'error')).toMatchObject({ code: 'refused', exitCode: 6, reason: 'session-replaced', fatal: true, message: expect.stringMatching(/another session joined room "lobby" as "alice".*\(session-replaced\)/) });
    expect(events.at(-1)).toMatchObject({ event: 'ended', reason: 'another session took this name' });
  });
});
