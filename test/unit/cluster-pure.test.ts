// The pure parts of the cluster: name bases for suffixed names (trimmed by characters, as the
// single-node registry trims), the server list a peer rotates through, and how nodes agree on a
// shared SFU room (its Janus id, its publishers' names) without asking each other.
import { describe, expect, it } from 'vitest';
import { nameBases } from '../../src/server/redis-room-store.js';
import { redactedUrl, tooOldRedis } from '../../src/server/cluster-node.js';
import { serverUrlsOf } from '../../src/peer/signalling-client.js';
import { parsePublisherDisplay, publisherDisplay, sharedJanusRoomId } from '../../src/server/janus-driver.js';
import { janusConfig } from '../../src/server/janus-process.js';

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

describe('tooOldRedis', () => {
  it('names a Redis older than 6.2 (no XTRIM MINID), and passes 6.2 and later or an INFO without a version', () => {
    const info = (version: string) => `# Server\r\nredis_version:${version}\r\nredis_git_sha1:00000000\r\n`;
    expect(tooOldRedis(info('6.0.16'))).toBe('6.0');
    expect(tooOldRedis(info('5.0.7'))).toBe('5.0');
    expect(tooOldRedis(info('6.2.0'))).toBeNull();
    expect(tooOldRedis(info('7.0.15'))).toBeNull();
    expect(tooOldRedis(info('10.1.0'))).toBeNull();
    expect(tooOldRedis('# Server\r\n')).toBeNull();
  });
});

describe('redactedUrl', () => {
  it('hides a Redis password in messages', () => {
    expect(redactedUrl('redis://user:secret@host:6379')).toBe('redis://user:***@host:6379');
    expect(redactedUrl('redis://:secret@host:6379')).toBe('redis://:***@host:6379');
    expect(redactedUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});

describe('shared SFU rooms', () => {
  it('give a room the same Janus id on every node: a whole number above 0, exact as JSON, different for different names', () => {
    const id = sharedJanusRoomId('hall');
    expect(sharedJanusRoomId('hall')).toBe(id);
    expect(Number.isSafeInteger(id) && id > 0 && id < 2 ** 48 + 1).toBe(true);
    const ids = new Set(Array.from({ length: 1000 }, (_, i) => sharedJanusRoomId(`room-${i}`)));
    expect(ids.size).toBe(1000);
  });

  it('name a publisher by its member and when it published, and read that back; an older node\'s plain id is generation 0', () => {
    const display = publisherDisplay('a1b2c3', 1_764_000_000_123);
    expect(parsePublisherDisplay(display)).toEqual({ member: 'a1b2c3', generation: 1_764_000_000_123 });
    expect(parsePublisherDisplay('a1b2c3')).toEqual({ member: 'a1b2c3', generation: 0 });
    expect(parsePublisherDisplay('a1b2c3#')).toEqual({ member: 'a1b2c3#', generation: 0 });
    // A later publish reads as a later generation.
    expect(parsePublisherDisplay(publisherDisplay('x', 2000)).generation).toBeGreaterThan(parsePublisherDisplay(publisherDisplay('x', 1999)).generation);
  });

  const janusInputs = { libraryDir: '/lib/janus', wsPort: 1, adminPort: 2, adminSecret: 's', rtpPortRange: [20000, 20100] as [number, number], configDir: '/tmp/c', eventLoops: 2 };

  it('keep a dead node\'s Janus session for the configured seconds (reclaim_session_timeout), and none by default', () => {
    expect(janusConfig(janusInputs)['janus.jcfg']).toMatch(/reclaim_session_timeout = 0\n/);
    expect(janusConfig({ ...janusInputs, reclaimSessionTimeoutS: 30 })['janus.jcfg']).toMatch(/reclaim_session_timeout = 30\n/);
  });

  it('run Janus\'s handles on a fixed pool of event loops, not a thread per handle', () => {
    expect(janusConfig({ ...janusInputs, eventLoops: 3 })['janus.jcfg']).toMatch(/event_loops = 3\n/);
  });
});
