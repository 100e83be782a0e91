import { describe, expect, it } from 'vitest';
import { ConnectionGate, checkOrigin, clientAddress, normalOrigin } from '../../src/server/connection-gate.js';

describe('ConnectionGate', () => {
  it('admits up to the per-address limit, and again after one closes', () => {
    const gate = new ConnectionGate({ perAddress: 2, total: 10 });
    expect(gate.opened('a')).toBeNull();
    expect(gate.opened('a')).toBeNull();
    expect(gate.opened('a')?.reason).toBe('per-address');
    expect(gate.opened('b')).toBeNull();
    gate.closed('a');
    expect(gate.check('a')).toBeNull();
    expect(gate.total).toBe(2);
  });

  it('refuses everyone at the total limit, and never counts below zero', () => {
    const gate = new ConnectionGate({ perAddress: 5, total: 2 });
    gate.opened('a');
    gate.opened('b');
    expect(gate.check('c')).toEqual({ reason: 'total', message: expect.stringMatching(/maximum of 2 connections/) });
    gate.closed('zzz');
    expect(gate.total).toBe(2);
  });
});

describe('clientAddress', () => {
  it('ignores X-Forwarded-For unless the proxy is trusted, then takes its last entry', () => {
    expect(clientAddress('10.0.0.9', '1.2.3.4', false)).toBe('10.0.0.9');
    expect(clientAddress('10.0.0.9', 'spoofed, 1.2.3.4', true)).toBe('1.2.3.4');
    expect(clientAddress('10.0.0.9', ['a', 'b , c'], true)).toBe('c');
    expect(clientAddress('10.0.0.9', ' , ', true)).toBe('10.0.0.9');
    expect(clientAddress(undefined, undefined, true)).toBe('unknown');
  });
});

describe('checkOrigin', () => {
  const none = { allowed: [] };
  it("lets non-browsers (no Origin) and the server's own pages in when it is reached by address, and nobody else by default", () => {
    expect(checkOrigin(undefined, 'voice.example:8080', none)).toBe('allowed');
    expect(checkOrigin('http://127.0.0.1:8080', '127.0.0.1:8080', none)).toBe('allowed');
    expect(checkOrigin('http://[::1]:8080', '[::1]:8080', none)).toBe('allowed');
    expect(checkOrigin('http://localhost:8080', 'LOCALHOST:8080', none)).toBe('allowed');
    // Behind a proxy that ends TLS the page is https, the server http: the same host is enough.
    expect(checkOrigin('https://10.0.0.5', '10.0.0.5', none)).toBe('allowed');
    expect(checkOrigin('http://127.0.0.1:8081', '127.0.0.1:8080', none)).toBe('foreign');
    expect(checkOrigin('http://evil.example', '127.0.0.1:8080', none)).toBe('foreign');
    expect(checkOrigin('null', '127.0.0.1:8080', none)).toBe('foreign');
  });
  it('refuses a page under a DNS name that is not listed, even with a matching Host header (DNS rebinding)', () => {
    expect(checkOrigin('http://evil.example:8080', 'evil.example:8080', none)).toBe('unlisted-name');
    expect(checkOrigin('https://voice.example', 'Voice.example', none)).toBe('unlisted-name');
    expect(checkOrigin('https://voice.example', 'voice.example', { allowed: ['https://voice.example'] })).toBe('allowed');
  });
  it('lets listed origins in, written as browsers write them, or any with *', () => {
    const policy = { allowed: ['https://App.example.org:443/'] };
    expect(checkOrigin('https://app.example.org', 'voice.example', policy)).toBe('allowed');
    expect(checkOrigin('https://app.example.org:8443', 'voice.example', policy)).toBe('foreign');
    expect(checkOrigin('http://anything', 'voice.example', { allowed: ['*'] })).toBe('allowed');
    expect(normalOrigin('not a url')).toBeNull();
  });
});
