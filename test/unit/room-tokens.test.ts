// Room tokens: minting and checking, with the real jose and real keys (no mocks: it is pure logic).
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { RoomTokenSigner, RoomTokenVerifier, TOKEN_AUDIENCE, TOKEN_CLOCK_LEEWAY_SECONDS, errorCodeFor, type TokenCheck } from '../../src/server/room-tokens.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const signer = RoomTokenSigner.fromSecret(SECRET);
const verifier = RoomTokenVerifier.fromSecret(SECRET);
const mint = (overrides: Partial<Parameters<RoomTokenSigner['mint']>[0]> = {}, nowMs = NOW): Promise<string> =>
  signer.mint({ name: 'alice', scope: { room: 'lobby' }, grants: ['speak', 'listen'], ttlSeconds: 600, ...overrides }, nowMs);
const refusedWith = (check: TokenCheck): string => (check.ok ? 'accepted' : check.reason);

describe('room tokens', () => {
  it('a minted token admits its name to its room with its grants', async () => {
    const check = await verifier.verify(await mint({ grants: ['listen', 'admin', 'listen'] }), 'lobby', NOW);
    expect(check).toEqual({ ok: true, claims: { name: 'alice', scope: { room: 'lobby' }, grants: ['listen', 'admin'], expiresAt: NOW / 1000 + 600 } });
  });

  it('refuses a missing token, saying how to get one', async () => {
    const check = await verifier.verify(undefined, 'lobby', NOW);
    expect(refusedWith(check)).toBe('missing');
    expect(!check.ok && check.message).toMatch(/needs a room token.*voxroom token.*--token/);
  });

  it('refuses malformed tokens and forged ones (another secret, a changed payload, no signature)', async () => {
    expect(refusedWith(await verifier.verify('not-a-token', 'lobby', NOW))).toBe('malformed');
    expect(refusedWith(await verifier.verify('a.b.c', 'lobby', NOW))).toBe('malformed');
    const other = RoomTokenSigner.fromSecret('another-secret-also-32-bytes-long!!');
    const foreign = await verifier.verify(await other.mint({ name: 'alice', scope: { room: 'lobby' }, grants: ['speak'], ttlSeconds: 60 }, NOW), 'lobby', NOW);
    expect(refusedWith(foreign)).toBe('bad-signature');
    expect(!foreign.ok && foreign.message).toMatch(/signature does not match this server's secret/);
    // Bob's payload under Alice's signature.
    const [header, , signature] = (await mint()).split('.');
    const bobPayload = Buffer.from(JSON.stringify({ sub: 'bob', room: 'lobby', grants: ['speak', 'listen', 'admin'], aud: TOKEN_AUDIENCE, exp: NOW / 1000 + 600 })).toString('base64url');
    expect(refusedWith(await verifier.verify(`${header}.${bobPayload}.${signature}`, 'lobby', NOW))).toBe('bad-signature');
    const unsigned = new UnsecuredJWT({ room: 'lobby', grants: ['admin'] }).setSubject('bob').setAudience(TOKEN_AUDIENCE).setExpirationTime(NOW / 1000 + 600).encode();
    const none = await verifier.verify(unsigned, 'lobby', NOW);
    expect(refusedWith(none)).toBe('bad-signature');
    expect(!none.ok && none.message).toMatch(/signed with "none", and this server accepts HS256 only/);
    expect(errorCodeFor('bad-signature')).toBe('token-invalid');
    expect(errorCodeFor('malformed')).toBe('token-invalid');
  });

  it('accepts a token expired within the clock leeway, refuses one expired beyond it', async () => {
    const token = await mint({ ttlSeconds: 60 });
    const expiry = NOW + 60_000;
    expect((await verifier.verify(token, 'lobby', expiry + (TOKEN_CLOCK_LEEWAY_SECONDS - 5) * 1000)).ok).toBe(true);
    const late = await verifier.verify(token, 'lobby', expiry + (TOKEN_CLOCK_LEEWAY_SECONDS + 5) * 1000);
    expect(refusedWith(late)).toBe('expired');
    expect(!late.ok && late.message).toMatch(/expired at 2026-01-01T12:01:00.000Z \(35 s ago, beyond the 30 s clock leeway\); ask for a new one/);
    expect(errorCodeFor('expired')).toBe('token-expired');
  });

  it('refuses another audience, and claims that are missing or wrong', async () => {
    const key = new TextEncoder().encode(SECRET);
    const build = (claims: Record<string, unknown>, audience = TOKEN_AUDIENCE): Promise<string> =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setAudience(audience).setExpirationTime(NOW / 1000 + 600).sign(key);
    const wrongAudience = await verifier.verify(await build({ room: 'lobby', grants: [] }, 'chat'), 'lobby', NOW);
    expect(refusedWith(wrongAudience)).toBe('wrong-audience');
    expect(!wrongAudience.ok && wrongAudience.message).toMatch(/audience "chat", not "voxroom"/);
    expect(refusedWith(await verifier.verify(await build({ room: 'lobby' }), 'lobby', NOW))).toBe('bad-claims');
    expect(refusedWith(await verifier.verify(await build({ grants: ['speak'] }), 'lobby', NOW))).toBe('bad-claims');
    expect(refusedWith(await verifier.verify(await build({ room: 'lobby', room_prefix: 'lob', grants: [] }), 'lobby', NOW))).toBe('bad-claims');
    expect(refusedWith(await verifier.verify(await build({ room: 'lobby', grants: ['fly'] }), 'lobby', NOW))).toBe('bad-claims');
    expect(errorCodeFor('bad-claims')).toBe('token-invalid');
    // No exp at all: a token that never expires is not one voxroom accepts.
    const forever = await new SignJWT({ room: 'lobby', grants: [] }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setAudience(TOKEN_AUDIENCE).sign(key);
    expect(refusedWith(await verifier.verify(forever, 'lobby', NOW))).toBe('bad-claims');
  });

  it('admits to its room only, or to every room with its prefix', async () => {
    const wrongRoom = await verifier.verify(await mint(), 'kitchen', NOW);
    expect(refusedWith(wrongRoom)).toBe('wrong-room');
    expect(!wrongRoom.ok && wrongRoom.message).toMatch(/for room "lobby", not room "kitchen"/);
    const prefixed = await mint({ scope: { roomPrefix: 'team-' } });
    expect((await verifier.verify(prefixed, 'team-a', NOW)).ok).toBe(true);
    expect((await verifier.verify(prefixed, 'team-', NOW)).ok).toBe(true);
    expect(refusedWith(await verifier.verify(prefixed, 'teams', NOW))).toBe('wrong-room');
    expect(errorCodeFor('wrong-room')).toBe('token-wrong-room');
  });

  it('verifies EdDSA and ES256 tokens with the public key, and refuses other algorithms', async () => {
    for (const [type, options, algorithm] of [
      ['ed25519', {}, 'EdDSA'],
      ['ec', { namedCurve: 'P-256' }, 'ES256'],
    ] as const) {
      const pair = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
      const keySigner = RoomTokenSigner.fromPrivateKeyPem(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      const keyVerifier = RoomTokenVerifier.fromPublicKeyPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      expect(keyVerifier.algorithm).toBe(algorithm);
      const token = await keySigner.mint({ name: 'bob', scope: { room: 'lobby' }, grants: ['listen'], ttlSeconds: 60 }, NOW);
      expect(await keyVerifier.verify(token, 'lobby', NOW)).toMatchObject({ ok: true, claims: { name: 'bob', grants: ['listen'] } });
      // A token signed with the shared secret is not one the key pair's server takes.
      const hmac = await keyVerifier.verify(await mint(), 'lobby', NOW);
      expect(refusedWith(hmac)).toBe('bad-signature');
      expect(!hmac.ok && hmac.message).toMatch(new RegExp(`signed with "HS256", and this server accepts ${algorithm} only`));
      // Another key pair of the same kind: forged.
      const stranger = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
      const strangerSigner = RoomTokenSigner.fromPrivateKeyPem(stranger.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      expect(refusedWith(await keyVerifier.verify(await strangerSigner.mint({ name: 'bob', scope: { room: 'lobby' }, grants: [], ttlSeconds: 60 }, NOW), 'lobby', NOW))).toBe('bad-signature');
    }
  });

  it('refuses weak secrets and unsupported keys with a message that says what to use', () => {
    expect(() => RoomTokenVerifier.fromSecret('short\n')).toThrow(/5 bytes; HS256 needs at least 32 random bytes, e\.g\. "openssl rand/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => RoomTokenVerifier.fromPublicKeyPem(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString())).toThrow(/a rsa key is not supported; use Ed25519 \(EdDSA\) or P-256 \(ES256\)/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(() => RoomTokenSigner.fromPrivateKeyPem(p384.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(/an EC key on secp384r1 is not supported/);
    expect(() => RoomTokenVerifier.fromPublicKeyPem('hello')).toThrow(/not a PEM public key/);
  });

  it('the secret file\'s final newline is not part of the secret', async () => {
    const fromFile = RoomTokenVerifier.fromSecret(`${SECRET}\n`);
    expect((await fromFile.verify(await mint(), 'lobby', NOW)).ok).toBe(true);
  });
});
