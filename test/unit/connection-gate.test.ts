import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { ConnectionGate, certificateNames, checkOrigin, clientAddress, normalOrigin } from '../../src/server/connection-gate.js';

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
  it("a name the server's TLS certificate is for is its own (wildcards one label deep)", () => {
    const own = { allowed: [], ownNames: ['voice.example.org', '*.rooms.example.org'] };
    expect(checkOrigin('https://voice.example.org', 'voice.example.org', own)).toBe('allowed');
    expect(checkOrigin('https://a.rooms.example.org', 'a.rooms.example.org', own)).toBe('allowed');
    expect(checkOrigin('https://a.b.rooms.example.org', 'a.b.rooms.example.org', own)).toBe('unlisted-name');
    expect(checkOrigin('https://rooms.example.org', 'rooms.example.org', own)).toBe('unlisted-name');
    expect(checkOrigin('https://attacker.example', 'attacker.example', own)).toBe('unlisted-name');
  });

  it('reads those names from a certificate: its DNS alternative names, else its common name', () => {
    expect(certificateNames(new X509Certificate(CERT_WITH_NAMES))).toEqual(['voice.example.org', '*.rooms.example.org']);
    expect(certificateNames(new X509Certificate(CERT_WITH_CN_ONLY))).toEqual(['solo.example.org']);
  });

  it('lets listed origins in, written as browsers write them, or any with *', () => {
    const policy = { allowed: ['https://App.example.org:443/'] };
    expect(checkOrigin('https://app.example.org', 'voice.example', policy)).toBe('allowed');
    expect(checkOrigin('https://app.example.org:8443', 'voice.example', policy)).toBe('foreign');
    expect(checkOrigin('http://anything', 'voice.example', { allowed: ['*'] })).toBe('allowed');
    expect(normalOrigin('not a url')).toBeNull();
  });
});

// Self-signed, made with openssl req -x509 … -subj /CN=ignored.example -addext "subjectAltName=DNS:Voice.Example.org,DNS:*.rooms.example.org,IP:10.0.0.5".
const CERT_WITH_NAMES = `-----BEGIN CERTIFICATE-----
MIIBwzCCAWqgAwIBAgIUSkbqrUafKzIUCZATCBMur1YU4DIwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPaWdub3JlZC5leGFtcGxlMB4XDTI2MTEyNjA3NDIwMVoXDTM2
MTEyMzA3NDIwMVowGjEYMBYGA1UEAwwPaWdub3JlZC5leGFtcGxlMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAED29og/SjslzU8lWSk3hF0z7Ryew6rIYt6HUxAHKh
BWA5LRsd+xP7FD+FgKeV3YCyaAzRpqYosPkeumI7DzurGqOBjTCBijAdBgNVHQ4E
FgQUIDzyDfT8OqoVQQU8l8+7LvEc/I4wHwYDVR0jBBgwFoAUIDzyDfT8OqoVQQU8
l8+7LvEc/I4wDwYDVR0TAQH/BAUwAwEB/zA3BgNVHREEMDAughFWb2ljZS5FeGFt
cGxlLm9yZ4ITKi5yb29tcy5leGFtcGxlLm9yZ4cECgAABTAKBggqhkjOPQQDAgNH
ADBEAiARfu1WuMxIMSvFFocJIt7FgJ33jOk0tgVgvJ+t3zzq8wIgBCIZKMhYw4do
ENUWfiecMcOWfuVvX+98FvogNfRF1hw=
-----END CERTIFICATE-----`;
// The same with -subj /CN=solo.example.org and no alternative names.
const CERT_WITH_CN_ONLY = `-----BEGIN CERTIFICATE-----
MIIBijCCATGgAwIBAgIUbFdphz7/Rmlj+xQKFroMbl22WSUwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQc29sby5leGFtcGxlLm9yZzAeFw0yNjExMjYwNzQyMDFaFw0z
NjExMjMwNzQyMDFaMBsxGTAXBgNVBAMMEHNvbG8uZXhhbXBsZS5vcmcwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAS7KIL4SRKuwS++vkB4KFR/x0/E1RyxZqgfU0Te
U3/diyEjhQGRoc8u5OWI2pEyyUnlJGGUj//vbQ/wAyOIlBmyo1MwUTAdBgNVHQ4E
FgQUu4tXUw+FXD9836SENyGpzSCVFs8wHwYDVR0jBBgwFoAUu4tXUw+FXD9836SE
NyGpzSCVFs8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBaBFhQ
ReW3lu+62COFvZg6LLHgsqx3n+6wNgHJzY6c6AIgEUDmsgoDUdpmIBiBfRgGu8M2
oeJR/SOLXDqLnGbfc3M=
-----END CERTIFICATE-----`;
