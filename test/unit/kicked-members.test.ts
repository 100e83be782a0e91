import { describe, expect, it } from 'vitest';
import { kickedMembersPath, parseKickedMembers } from '../../src/server/kicked-members-file.js';
import { KickedMembers } from '../../src/server/kicked-members.js';

describe('KickedMembers (the deny-list of kicked member ids)', () => {
  it('refuses a kicked id until its entry expires', () => {
    const kicked = new KickedMembers({ ttlMs: 1000 });
    kicked.add('m1', 0);
    expect(kicked.has('m1', 999)).toBe(true);
    expect(kicked.has('m2', 10)).toBe(false);
    expect(kicked.has('m1', 1000)).toBe(false);
    expect(kicked.size).toBe(0);
  });

  it('stays bounded: the oldest entries go first', () => {
    const kicked = new KickedMembers({ ttlMs: 60_000, maxEntries: 3 });
    for (const [i, id] of ['a', 'b', 'c', 'd'].entries()) kicked.add(id, i);
    expect(kicked.size).toBe(3);
    expect(kicked.has('a', 10)).toBe(false);
    expect(['b', 'c', 'd'].every((id) => kicked.has(id, 10))).toBe(true);
  });

  it('drops expired entries when new ones arrive, and a second kick renews an entry', () => {
    const kicked = new KickedMembers({ ttlMs: 100 });
    kicked.add('a', 0);
    kicked.add('b', 50);
    kicked.add('a', 60);
    kicked.add('c', 120);
    expect(kicked.size).toBe(3);
    expect(kicked.has('b', 149)).toBe(true);
    expect(kicked.has('a', 159)).toBe(true);
    expect(kicked.has('a', 161)).toBe(false);
  });
});

describe('KickedMembers kept across a restart', () => {
  it('hands over its live entries, oldest first, and takes back only those not yet expired', () => {
    const before = new KickedMembers({ ttlMs: 1000 });
    before.add('m1', 0);
    before.add('m2', 500);
    expect(before.entries(200)).toEqual([['m1', 1000], ['m2', 1500]]);
    expect(before.entries(1200)).toEqual([['m2', 1500]]);
    const after = new KickedMembers({ ttlMs: 1000, maxEntries: 1 });
    after.restore([['m3', 3000], ['m2', 1500], ['gone', 100]], 1200);
    // At most maxEntries, the oldest dropped first.
    expect(after.entries(1200)).toEqual([['m3', 3000]]);
    expect(after.has('gone', 1200)).toBe(false);
  });

  it('reads back only a file it wrote: a list of [member id, expiry]', () => {
    expect(parseKickedMembers('{"kicked":[["m1",1000],["m2",1500]]}')).toEqual([['m1', 1000], ['m2', 1500]]);
    expect(parseKickedMembers('{"kicked":[]}')).toEqual([]);
    for (const bad of ['', 'null', '[]', '{"kicked":{}}', '{"kicked":[["m1"]]}', '{"kicked":[["m1","1000"]]}', '{"kicked":[[1,1000]]}', '{"kicked":[["m1",null]]}']) expect(parseKickedMembers(bad), bad).toBeNull();
  });

  it('is kept in the state directory, one file per key', () => {
    const env = { XDG_STATE_HOME: '/var/lib/x' };
    const path = kickedMembersPath(Buffer.from('key one'), env);
    expect(path).toMatch(/^\/var\/lib\/x\/voxroom\/kicked-[0-9a-f]{16}\.json$/);
    expect(kickedMembersPath(Buffer.from('key two'), env)).not.toBe(path);
  });
});
