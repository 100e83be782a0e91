// The pure parts of the cluster: name bases for suffixed names (trimmed by characters, as the
// single-node registry trims), and the server list a peer rotates through.
import { describe, expect, it } from 'vitest';
import { nameBases } from '../../src/server/redis-room-store.js';
import { redactedUrl } from '../../src/server/cluster-node.js';
import { serverUrlsOf } from '../../src/peer/signalling-client.js';

describe('nameBases', () => {
  it('leaves a short name whole for every suffix length', () => {
    expect(nameBases('bob')).toEqual(['bob', 'bob', 'bob', 'bob', 'bob']);
  });

  it('trims a long name by characters so name + suffix stays within 32, never splitting a character', () => {
    const name = 'ü'.repeat(32);
    const bases = nameBases(name);
    expect(bases.map((base) => [...base].length)).toEqual([30, 29, 28, 27, 26]);
    expect(bases.every((base) => [...base].every((c) => c === 'ü'))).toBe(true);
  });
});

describe('serverUrlsOf', () => {
  it('splits a comma-separated list, trimming blanks; one URL is a list of one', () => {
    expect(serverUrlsOf('http://a:1')).toEqual(['http://a:1']);
    expect(serverUrlsOf(' http://a:1 , http://b:2,')).toEqual(['http://a:1', 'http://b:2']);
  });

  it('refuses an empty list with a message that says what to pass', () => {
    expect(() => serverUrlsOf(' , ')).toThrow(/--server URL/);
  });
});

describe('redactedUrl', () => {
  it('hides a Redis password in messages', () => {
    expect(redactedUrl('redis://user:secret@host:6379')).toBe('redis://user:***@host:6379');
    expect(redactedUrl('redis://:secret@host:6379')).toBe('redis://:***@host:6379');
    expect(redactedUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});
