// Signed resume tokens and the server's key file: pure logic and a temporary directory.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RESUME_TOKEN_TTL_MS, ResumeTokens } from '../../src/server/resume-tokens.js';
import { defaultSecretPath, loadOrCreateSecret, readSecretFile } from '../../src/server/server-secret.js';

const claim = { room: 'lobby', id: 'abc123', name: 'Ann Lee' };
const NOW = 1_800_000_000_000;

describe('resume tokens', () => {
  it('verify with the key that issued them, before they expire', () => {
    const tokens = new ResumeTokens(Buffer.alloc(32, 1));
    const token = tokens.issue(claim, NOW);
    expect(tokens.verify(token, NOW + RESUME_TOKEN_TTL_MS - 1)).toEqual({ ok: true, claim });
    expect(tokens.verify(token, NOW + RESUME_TOKEN_TTL_MS + 1)).toEqual({ ok: false, reason: 'expired' });
    // Another process with the same key (a restarted server, another node) takes it too.
    expect(new ResumeTokens(Buffer.alloc(32, 1)).verify(token, NOW)).toEqual({ ok: true, claim });
  });

  it('refuse another key, an altered claim and garbage', () => {
    const tokens = new ResumeTokens(Buffer.alloc(32, 1));
    const token = tokens.issue(claim, NOW);
    expect(new ResumeTokens(Buffer.alloc(32, 2)).verify(token, NOW)).toEqual({ ok: false, reason: 'forged' });
    const [version, , signature] = token.split('.');
    const otherName = Buffer.from(JSON.stringify({ r: 'lobby', i: 'abc123', n: 'mallory', e: NOW + 1000 })).toString('base64url');
    expect(tokens.verify(`${version}.${otherName}.${signature}`, NOW)).toEqual({ ok: false, reason: 'forged' });
    for (const garbage of ['', 'x', 'r1.a', 'r2.a.b', `${token}.extra`]) expect(tokens.verify(garbage, NOW).ok).toBe(false);
    expect(() => new ResumeTokens(Buffer.alloc(8))).toThrow(/at least 16 bytes/);
  });
});

describe('the server secret', () => {
  it('is generated once (readable by its owner only) and read back the same', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-secret-'));
    const path = join(dir, 'state', 'voxroom', 'server-secret');
    const first = await loadOrCreateSecret(path);
    expect(first.length).toBe(64);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateSecret(path)).equals(first)).toBe(true);
    expect(readFileSync(path, 'utf8').trim()).toBe(first.toString());
  });

  it('reads a given file and says what is wrong with a short or missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxroom-secret-'));
    writeFileSync(join(dir, 'short'), 'abc\n');
    await expect(readSecretFile(join(dir, 'short'))).rejects.toThrow(/holds 3 bytes; use at least 16/);
    await expect(readSecretFile(join(dir, 'missing'))).rejects.toThrow(/cannot read secret file .*: ENOENT; create it with/);
  });

  it('lives in the XDG state directory', () => {
    expect(defaultSecretPath({ XDG_STATE_HOME: '/var/state' })).toBe('/var/state/voxroom/server-secret');
    expect(defaultSecretPath({ XDG_STATE_HOME: 'relative' })).toMatch(/\/\.local\/state\/voxroom\/server-secret$/);
  });
});
