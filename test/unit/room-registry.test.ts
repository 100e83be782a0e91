import { describe, expect, it } from 'vitest';
import { RoomRegistry } from '../../src/server/room-registry.js';

function registry(max = 3): RoomRegistry {
  let id = 0;
  let token = 0;
  return new RoomRegistry(max, () => `p${++id}`, () => `t${++token}`);
}

describe('RoomRegistry', () => {
  it('lists the others already in the room to a newcomer', () => {
    const rooms = registry();
    const a = rooms.join('sa', 'lobby', 'alice');
    const b = rooms.join('sb', 'lobby', 'bob');
    expect(a.ok && a.others).toEqual([]);
    expect(b.ok && b.others).toEqual([{ id: 'p1', name: 'alice', state: { muted: false, speaking: false } }]);
    expect(rooms.peersIn('lobby')).toEqual([{ id: 'p1', name: 'alice' }, { id: 'p2', name: 'bob' }]);
  });

  it('keeps each member\'s state, changes only what a patch names, and says whether it changed', () => {
    const rooms = registry();
    rooms.join('sa', 'lobby', 'alice');
    expect(rooms.updateState('sa', { muted: true })).toMatchObject({ changed: true, member: { state: { muted: true, speaking: false } } });
    expect(rooms.updateState('sa', { muted: true })?.changed).toBe(false);
    expect(rooms.updateState('sa', { speaking: true })?.member.state).toEqual({ muted: true, speaking: true });
    expect(rooms.updateState('nobody', { muted: true })).toBeNull();
    // A newcomer sees the state, not a shared object it could change.
    const bob = rooms.join('sb', 'lobby', 'bob');
    expect(bob.ok && bob.others[0]!.state).toEqual({ muted: true, speaking: true });
    if (bob.ok) bob.others[0]!.state.muted = false;
    expect(rooms.memberOf('sa')!.state.muted).toBe(true);
  });

  it('carries the state over a resume, and remembers each member\'s protocol version', () => {
    const rooms = registry();
    const first = rooms.join('s1', 'lobby', 'alice', undefined, 1);
    rooms.updateState('s1', { muted: true });
    const resumed = rooms.join('s2', 'lobby', 'alice', first.ok ? first.member.resumeToken : undefined, 2);
    expect(resumed.ok && resumed.member.state.muted).toBe(true);
    expect(resumed.ok && resumed.member.protocolVersion).toBe(2);
    expect(first.ok && first.member.protocolVersion).toBe(1);
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
    // A resume replaces the stale entry, so it fits too.
    const stale = rooms.memberOf('s1');
    const resumed = rooms.join('s9', 'r', 'whatever', stale!.resumeToken);
    expect(resumed.ok && resumed.member.name).toBe('a');
    expect(resumed.ok && resumed.replaced?.id).toBe(stale!.id);
    expect(rooms.memberOf('s1')).toBeNull();
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

  it('ignores an unknown or used resume token', () => {
    const rooms = registry();
    const first = rooms.join('s1', 'r', 'a');
    if (!first.ok) throw new Error('join failed');
    const resumed = rooms.join('s2', 'r', 'b', 'not-a-token');
    expect(resumed.ok && resumed.member.name).toBe('b');
    expect(resumed.ok && resumed.replaced).toBeNull();
  });
});
