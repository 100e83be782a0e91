import { describe, expect, it } from 'vitest';
import { RoomRegistry } from '../../src/server/room-registry.js';

function registry(max = 3): RoomRegistry {
  let id = 0;
  return new RoomRegistry(max, () => `p${++id}`);
}

const OPEN = ['speak', 'listen'];
/** A verified resume claim for a member (what the server hands the registry after checking a token). */
const claimOf = (member: { room: string; id: string; name: string }) => ({ room: member.room, id: member.id, name: member.name });

describe('RoomRegistry', () => {
  it('lists the others already in the room to a newcomer', () => {
    const rooms = registry();
    const a = rooms.join('sa', 'lobby', 'alice');
    const b = rooms.join('sb', 'lobby', 'bob');
    expect(a.ok && a.others).toEqual([]);
    expect(b.ok && b.others).toEqual([{ id: 'p1', name: 'alice', state: { muted: false, speaking: false, away: false, serverMuted: false, grants: OPEN } }]);
    expect(rooms.peersIn('lobby')).toEqual([{ id: 'p1', name: 'alice' }, { id: 'p2', name: 'bob' }]);
  });

  it('keeps each member\'s state, changes only what a patch names, and says whether it changed', () => {
    const rooms = registry();
    rooms.join('sa', 'lobby', 'alice');
    expect(rooms.updateState('sa', { muted: true })).toMatchObject({ changed: true, member: { state: { muted: true, speaking: false } } });
    expect(rooms.updateState('sa', { muted: true })?.changed).toBe(false);
    expect(rooms.updateState('sa', { speaking: true })?.member.state).toEqual({ muted: true, speaking: true, away: false, serverMuted: false, grants: OPEN });
    expect(rooms.updateState('nobody', { muted: true })).toBeNull();
    // A newcomer sees the state, not a shared object it could change.
    const bob = rooms.join('sb', 'lobby', 'bob');
    expect(bob.ok && bob.others[0]!.state).toEqual({ muted: true, speaking: true, away: false, serverMuted: false, grants: OPEN });
    if (bob.ok) {
      bob.others[0]!.state.muted = false;
      bob.others[0]!.state.grants.push('admin');
    }
    expect(rooms.memberOf('sa')!.state).toEqual({ muted: true, speaking: true, away: false, serverMuted: false, grants: OPEN });
  });

  it('keeps an away member in its place, and takes it back on a resume: same id, name and state', () => {
    const rooms = registry();
    const first = rooms.join('s1', 'lobby', 'alice', { protocolVersion: 1 });
    if (!first.ok) throw new Error('join failed');
    rooms.updateState('s1', { muted: true });
    expect(rooms.markAway('s1')?.state.away).toBe(true);
    expect(rooms.memberOf('s1')).toBeNull();
    expect(rooms.peerCount).toBe(1); // away, but still holding its place
    const back = rooms.join('s2', 'lobby', 'whatever', { resume: claimOf(first.member), protocolVersion: 2 });
    if (!back.ok) throw new Error('resume failed');
    expect(back).toMatchObject({ resumed: 'rebound', staleSocketId: null, renamed: false, replaced: null });
    expect(back.member).toMatchObject({ id: first.member.id, name: 'alice', socketId: 's2', protocolVersion: 2, state: { muted: true, away: false } });
    expect(rooms.removeAway(first.member.id)).toBeNull(); // back: its grace no longer ends it
  });

  it('rebinds a member still connected on an old socket, and says which socket to close', () => {
    const rooms = registry();
    const first = rooms.join('s1', 'lobby', 'alice');
    if (!first.ok) throw new Error('join failed');
    const back = rooms.join('s2', 'lobby', 'alice', { resume: claimOf(first.member) });
    expect(back.ok && back.staleSocketId).toBe('s1');
    expect(rooms.memberOf('s1')).toBeNull();
    expect(rooms.memberOf('s2')?.id).toBe(first.member.id);
  });

  it('restores a member it never knew (a restarted server) under its old id and name', () => {
    const rooms = registry();
    const restored = rooms.join('s1', 'lobby', 'ignored', { resume: { room: 'lobby', id: 'old-id', name: 'alice' } });
    expect(restored).toMatchObject({ ok: true, resumed: 'restored', renamed: false, member: { id: 'old-id', name: 'alice' } });
    // A claim for another room is no claim here.
    const elsewhere = rooms.join('s2', 'lobby', 'bob', { resume: { room: 'other', id: 'x', name: 'carl' } });
    expect(elsewhere).toMatchObject({ ok: true, resumed: null, member: { id: 'p1', name: 'bob' } });
  });

  it('restores neither id nor name when a newcomer took the name meanwhile: the claimant joins anew, renamed', () => {
    const rooms = registry();
    // A restarted server seated a newcomer as alice before the old alice came back.
    rooms.join('s1', 'lobby', 'alice');
    const back = rooms.join('s2', 'lobby', 'alice', { resume: { room: 'lobby', id: 'old-id', name: 'alice' } });
    expect(back).toMatchObject({ ok: true, resumed: null, renamed: true, member: { name: 'alice-2' } });
    expect(back.ok && back.member.id).not.toBe('old-id');
  });

  it('ends an away member when its grace runs out, and only then', () => {
    const rooms = registry();
    const first = rooms.join('s1', 'lobby', 'alice');
    if (!first.ok) throw new Error('join failed');
    expect(rooms.removeAway(first.member.id)).toBeNull(); // not away
    rooms.markAway('s1');
    expect(rooms.removeAway(first.member.id)?.name).toBe('alice');
    expect(rooms.peerCount).toBe(0);
    expect(rooms.roomCount).toBe(0);
  });

  it('suffixes taken names and keeps them within 32 characters', () => {
    const rooms = registry(5);
    const long = 'x'.repeat(32);
    rooms.join('s1', 'r', long);
    const second = rooms.join('s2', 'r', long);
    expect(second.ok && second.member.name).toBe('x'.repeat(30) + '-2');
    expect(second.ok && second.renamed).toBe(true);
    rooms.join('s3', 'r', 'bob');
    const bob2 = rooms.join('s4', 'r', 'bob');
    expect(bob2.ok && bob2.member.name).toBe('bob-2');
  });

  it('counts the room limit without the socket that is moving or being replaced', () => {
    const rooms = registry(2);
    rooms.join('s1', 'r', 'a');
    const b = rooms.join('s2', 'r', 'b');
    expect(rooms.join('s3', 'r', 'c')).toEqual({ ok: false, reason: 'room-full' });
    // Rejoining the same room from the same socket is not "one more".
    expect(rooms.join('s2', 'r', 'b').ok).toBe(true);
    // A resume takes a place back, so it fits too (an away member still holds its place).
    const stale = rooms.memberOf('s1')!;
    rooms.markAway('s1');
    expect(rooms.join('s8', 'r', 'c')).toEqual({ ok: false, reason: 'room-full' });
    const resumed = rooms.join('s9', 'r', 'whatever', { resume: claimOf(stale) });
    expect(resumed.ok && resumed.member.name).toBe('a');
    expect(resumed.ok && resumed.member.id).toBe(stale.id);
    expect(b.ok).toBe(true);
  });

  it('moves a socket between rooms and forgets empty rooms', () => {
    const rooms = registry();
    rooms.join('s1', 'red', 'a');
    rooms.join('s1', 'blue', 'a');
    expect(rooms.peersIn('red')).toEqual([]);
    expect(rooms.roomCount).toBe(1);
    expect(rooms.leave('s1')?.room).toBe('blue');
    expect(rooms.roomCount).toBe(0);
    expect(rooms.peerCount).toBe(0);
    expect(rooms.leave('s1')).toBeNull();
  });

  it('finds roommates only within the same room, never oneself', () => {
    const rooms = registry();
    const a = rooms.join('s1', 'red', 'a');
    const b = rooms.join('s2', 'red', 'b');
    const c = rooms.join('s3', 'blue', 'c');
    if (!a.ok || !b.ok || !c.ok) throw new Error('joins failed');
    expect(rooms.roommate('s1', b.member.id)?.socketId).toBe('s2');
    expect(rooms.roommate('s1', c.member.id)).toBeNull();
    expect(rooms.roommate('s1', a.member.id)).toBeNull();
    expect(rooms.roommate('nobody', a.member.id)).toBeNull();
  });

  it('gives each member the grants of its join, and a resumed one the grants of its new join', () => {
    const rooms = registry();
    const first = rooms.join('s1', 'r', 'alice', { grants: ['listen'], ownsName: true });
    if (!first.ok) throw new Error('join failed');
    expect(first.member.state).toEqual({ muted: false, speaking: false, away: false, serverMuted: false, grants: ['listen'] });
    rooms.updateState('s1', { muted: true });
    rooms.markAway('s1');
    const resumed = rooms.join('s2', 'r', 'alice', { resume: claimOf(first.member), grants: ['speak', 'listen', 'admin'], ownsName: true });
    expect(resumed.ok && resumed.resumed).toBe('rebound');
    expect(resumed.ok && resumed.member.state).toEqual({ muted: true, speaking: false, away: false, serverMuted: false, grants: ['speak', 'listen', 'admin'] });
  });

  it('an owned name is never suffixed: its session in the room is replaced (fresh state), in another room left alone', () => {
    const rooms = registry();
    const first = rooms.join('s1', 'r', 'alice', { ownsName: true });
    rooms.join('s2', 'r', 'bob', { ownsName: true });
    rooms.join('s3', 'other', 'alice', { ownsName: true });
    rooms.updateState('s1', { muted: true });
    const second = rooms.join('s4', 'r', 'alice', { ownsName: true });
    if (!first.ok || !second.ok) throw new Error('joins failed');
    expect(second.member.name).toBe('alice');
    expect(second.renamed).toBe(false);
    expect(second.replaced?.id).toBe(first.member.id);
    expect(second.resumed).toBeNull();
    expect(second.member.state.muted).toBe(false);
    expect(second.others.map((m) => m.name)).toEqual(['bob']);
    expect(rooms.memberOf('s1')).toBeNull();
    expect(rooms.peersIn('other').map((p) => p.name)).toEqual(['alice']);
    // A full room still takes the replacement: it frees the place it takes.
    const full = registry(1);
    full.join('s1', 'r', 'alice', { ownsName: true });
    expect(full.join('s2', 'r', 'alice', { ownsName: true }).ok).toBe(true);
  });

  it('an owned name cannot use a resume claim to take over someone else\'s place', () => {
    const rooms = registry();
    const bob = rooms.join('s1', 'r', 'bob', { ownsName: true });
    if (!bob.ok) throw new Error('join failed');
    const mallory = rooms.join('s2', 'r', 'mallory', { resume: claimOf(bob.member), ownsName: true });
    expect(mallory.ok && mallory.member.name).toBe('mallory');
    expect(mallory.ok && mallory.resumed).toBeNull();
    expect(rooms.memberOf('s1')?.name).toBe('bob');
  });
});
