import { describe, expect, it } from 'vitest';
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
