import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DelayInjector } from '../../src/server/delay-injector.js';
import { meshReturnWaitMs, targetMedia, type MediaSetting } from '../../src/server/room-media-policy.js';
import type { MediaMode } from '../../src/protocol.js';
import { credentialRefreshMs, iceServersFor, turnRestCredentials, validateIceUrl } from '../../src/server/ice-config.js';
import { TokenBucket } from '../../src/server/rate-limiter.js';
import { isLocalRequest, isLoopback } from '../../src/server/http-routes.js';
import { RoomMap } from '../../src/server/room-map.js';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(50)).toBe(false);
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(10_000)).toBe(true);
  });
});

describe('ICE configuration', () => {
  it('mints coturn REST credentials', () => {
    const { username, credential } = turnRestCredentials('secret', 'bob', 3600, 1_700_000_000_000);
    expect(username).toBe('1700003600:bob');
    expect(credential).toBe(createHmac('sha1', 'secret').update('1700003600:bob').digest('base64'));
  });

  it('groups STUN and TURN URLs and attaches credentials to TURN only', () => {
    const servers = iceServersFor({ urls: ['stun:a:3478', 'turn:b:3478', 'turns:b:5349'], turnAuth: { kind: 'static', username: 'u', credential: 'c' } }, 'bob', 0);
    expect(servers).toEqual([{ urls: ['stun:a:3478'] }, { urls: ['turn:b:3478', 'turns:b:5349'], username: 'u', credential: 'c' }]);
    expect(iceServersFor({ urls: [], turnAuth: { kind: 'none' } }, 'bob', 0)).toEqual([]);
  });

  it('renews only time-limited TURN credentials, at half their lifetime', () => {
    expect(credentialRefreshMs({ urls: ['turn:b:3478'], turnAuth: { kind: 'secret', secret: 's', ttlSeconds: 20 } })).toBe(10_000);
    expect(credentialRefreshMs({ urls: ['stun:a:3478'], turnAuth: { kind: 'secret', secret: 's', ttlSeconds: 20 } })).toBeNull();
    expect(credentialRefreshMs({ urls: ['turn:b:3478'], turnAuth: { kind: 'static', username: 'u', credential: 'c' } })).toBeNull();
    expect(credentialRefreshMs({ urls: ['turn:b:3478'], turnAuth: { kind: 'none' } })).toBeNull();
  });

  it('rejects URLs that are not STUN or TURN', () => {
    expect(() => validateIceUrl('http://x')).toThrow(/not a STUN\/TURN URL/);
    expect(validateIceUrl('stun:127.0.0.1:3478')).toBe('stun:127.0.0.1:3478');
  });
});

describe('isLocalRequest', () => {
  const request = (remoteAddress: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers }) as unknown as Parameters<typeof isLocalRequest>[0];
  it('is loopback, not forwarded; forwarded only through a trusted proxy for a loopback client', () => {
    expect(isLocalRequest(request('127.0.0.1'), false)).toBe(true);
    expect(isLocalRequest(request('10.0.0.7'), false)).toBe(false);
    // A forged header from elsewhere does not make a remote client local, trusted proxy or not.
    expect(isLocalRequest(request('10.0.0.7', { 'x-forwarded-for': '127.0.0.1' }), true)).toBe(false);
    // A proxy on this machine: local only if trusted and the client it names is.
    expect(isLocalRequest(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }), false)).toBe(false);
    expect(isLocalRequest(request('127.0.0.1', { 'x-forwarded-for': '127.0.0.1' }), false)).toBe(false);
    expect(isLocalRequest(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9, 127.0.0.1' }), true)).toBe(true);
    expect(isLocalRequest(request('127.0.0.1', { 'x-forwarded-for': '127.0.0.1, 203.0.113.9' }), true)).toBe(false);
    expect(isLocalRequest(request('127.0.0.1', { forwarded: 'for=203.0.113.9' }), true)).toBe(false);
  });
});

describe('isLoopback', () => {
  it('knows this machine in every spelling a socket gives, and nothing else', () => {
    for (const address of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) expect(isLoopback(address), address).toBe(true);
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '203.0.113.9', 'fe80::1', 'unknown', '']) expect(isLoopback(address), address).toBe(false);
  });
});

describe('RoomMap', () => {
  it('picks the room layout, else the default, else none', () => {
    const map = RoomMap.parse(JSON.stringify({ default: { width: 5, height: 5 }, rooms: { hall: { width: 50, height: 20, spots: [{ name: 'stage', x: 25, y: 1, radius: 3 }] } } }), 'm.json');
    expect(map.layoutFor('hall')?.spots[0]?.name).toBe('stage');
    expect(map.layoutFor('other')).toEqual({ width: 5, height: 5, spots: [] });
    expect(RoomMap.empty().layoutFor('x')).toBeNull();
  });

  it.each([
    ['{', /not valid JSON/],
    ['{}', /needs a "default" layout/],
    ['{"default":{"width":-1,"height":2}}', /default.width/],
    ['{"default":{"width":10,"height":10,"spots":[{"name":"a","x":11,"y":1}]}}', /outside the 10×10 m room/],
    ['{"default":{"width":10,"height":10,"spots":[{"name":"a","x":1,"y":1},{"name":"a","x":2,"y":2}]}}', /used twice/],
    ['{"rooms":{"bad room":{"width":1,"height":1}}}', /rooms/],
    ['{"default":{"width":1,"height":1},"colour":"red"}', /colour|Unrecognized/i],
  ])('rejects %s with a clear message', (text, pattern) => {
    expect(() => RoomMap.parse(text, 'm.json')).toThrow(pattern);
  });
});

describe('DelayInjector', () => {
  it('keeps one socket\'s messages in order while messages of different sockets overtake each other', () => {
    let now = 0;
    const draws = [0.9, 0.1, 0.05, 0.5];
    const delays = new DelayInjector(200, () => draws.shift() ?? 0, () => now);
    expect(delays.delayFor('a')).toBeCloseTo(180); // a1 released at 180
    expect(delays.delayFor('a')).toBeCloseTo(180); // a2 drew 20 ms, but may not pass a1
    now = 10;
    expect(delays.delayFor('b')).toBeCloseTo(10); // b1 at 20: overtakes both of a's
    delays.forget('a');
    expect(delays.delayFor('a')).toBeCloseTo(100); // a fresh socket starts over
  });
});

describe('room media policy', () => {
  const room = (setting: MediaSetting, current: MediaMode, members: number, smallForMs = 0, janusAvailable = true) => ({ setting, current, members, smallForMs, janusAvailable });

  it('keeps fixed settings, and the mesh while Janus is away', () => {
    expect(targetMedia(room('mesh', 'mesh', 50))).toBe('mesh');
    expect(targetMedia(room('sfu', 'mesh', 2))).toBe('sfu');
    expect(targetMedia(room('sfu', 'sfu', 2, 0, false))).toBe('mesh');
    expect(targetMedia(room('auto', 'sfu', 50, 0, false))).toBe('mesh');
  });

  it('auto: past --mesh-max to the SFU; back only after 10 s at 4 or fewer', () => {
    expect(targetMedia(room('auto', 'mesh', 6))).toBe('mesh');
    expect(targetMedia(room('auto', 'mesh', 7))).toBe('sfu');
    expect(targetMedia(room('auto', 'sfu', 5, 60_000))).toBe('sfu'); // not small enough
    expect(targetMedia(room('auto', 'sfu', 4, 9_999))).toBe('sfu'); // not long enough
    expect(targetMedia(room('auto', 'sfu', 4, 10_000))).toBe('mesh');
    expect(targetMedia(room('auto', 'mesh', 4, 0), { meshMax: 3, meshReturnAt: 2, meshReturnAfterMs: 1000 })).toBe('sfu');
  });

  it('auto: a small SFU room\'s return timer that ran a little early waits out the rest, and only a small SFU room waits', () => {
    expect(meshReturnWaitMs(room('auto', 'sfu', 4, 9_998))).toBe(2); // the timer ran 2 ms short by the clock
    expect(meshReturnWaitMs(room('auto', 'sfu', 4, 10_000))).toBe(0);
    expect(meshReturnWaitMs(room('auto', 'sfu', 4, 12_000))).toBe(0);
    expect(meshReturnWaitMs(room('auto', 'sfu', 5, 9_998))).toBeNull(); // grew again
    expect(meshReturnWaitMs(room('auto', 'mesh', 2, 0))).toBeNull();
    expect(meshReturnWaitMs(room('sfu', 'sfu', 2, 0))).toBeNull();
    expect(meshReturnWaitMs(room('auto', 'sfu', 2, 0, false))).toBeNull(); // no Janus: it falls back at once anyway
  });
});
