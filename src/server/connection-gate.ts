// Who may open a socket.io connection: a bounded number per client address and in total, and
// browsers only from allowed web origins. Pure (no sockets): the server asks it in socket.io's
// allowRequest, before any handler runs, so a refusal costs a header lookup and a map read.
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/** Documented in README ("Connection limits"); `voxroom serve` can change both. */
export const DEFAULT_CONNECTION_LIMITS = Object.freeze({ perAddress: 20, total: 5000 });

/** Load tests and benchmarks open thousands of sockets from one machine (one address). */
export const LOAD_TEST_CONNECTION_LIMITS = Object.freeze({ perAddress: 100_000, total: 100_000 });

export interface ConnectionLimits {
  /** Open connections from one client address. */
  perAddress: number;
  /** Open connections in all. */
  total: number;
}

export type GateRefusal = { reason: 'per-address' | 'total'; message: string };

export class ConnectionGate {
  private readonly open = new Map<string, number>();
  private count = 0;

  constructor(private readonly limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS) {}

  /** Would a new connection from `address` be admitted now? null: yes. */
  check(address: string): GateRefusal | null {
    if (this.count >= this.limits.total) return { reason: 'total', message: `the server has its maximum of ${this.limits.total} connections; try again later` };
    if ((this.open.get(address) ?? 0) >= this.limits.perAddress) return { reason: 'per-address', message: `at most ${this.limits.perAddress} connections per address; close some first` };
    return null;
  }

  /** A connection from `address` opened: counted, unless over a limit (then refused, not counted). */
  opened(address: string): GateRefusal | null {
    const refusal = this.check(address);
    if (refusal) return refusal;
    this.open.set(address, (this.open.get(address) ?? 0) + 1);
    this.count++;
    return null;
  }

  /** A counted connection closed. */
  closed(address: string): void {
    const left = (this.open.get(address) ?? 0) - 1;
    if (left < 0) return;
    if (left === 0) this.open.delete(address);
    else this.open.set(address, left);
    this.count--;
  }

  get total(): number {
    return this.count;
  }
}

/**
 * The client's address: the socket's peer, or behind a trusted load balancer the address it
 * appended to X-Forwarded-For (the last entry: the earlier ones are whatever the client sent,
 * so anyone could choose them).
 */
export function clientAddress(remoteAddress: string | undefined, forwardedFor: string | string[] | undefined, trustProxy: boolean): string {
  const direct = remoteAddress ?? 'unknown';
  if (!trustProxy || forwardedFor === undefined) return direct;
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const last = header
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .at(-1);
  return last ?? direct;
}

/** Origins a browser may connect from: the server's own always, plus these (`*`: any). */
export interface OriginPolicy {
  allowed: readonly string[];
  /** DNS names that are the server's own: those its TLS certificate is for (lower case). */
  ownNames?: readonly string[];
}

/** The DNS names a certificate is for (its subjectAltName DNS entries, else its CN): the server's own names. */
export function certificateNames(certificate: X509Certificate): string[] {
  const alternatives = (certificate.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  if (alternatives.length > 0) return alternatives;
  const common = /(?:^|\n)CN=([^\n]+)/.exec(certificate.subject)?.[1];
  return common ? [common.toLowerCase()] : [];
}

function nameMatches(pattern: string, hostname: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === hostname;
  const rest = hostname.slice(hostname.indexOf('.') + 1);
  return hostname.includes('.') && rest === pattern.slice(2);
}

/**
 * Whether a handshake's Origin header is acceptable. No header: not a browser (headless peers,
 * scripts), which CORS does not concern. Otherwise the page must come from an allowed origin, or
 * from this server: the same host and port as the Host header (the scheme is not compared:
 * behind a proxy that ends TLS the page is https and this server http), where that host is an
 * IP address, localhost, or a name the server's TLS certificate is for. Any other DNS name must
 * be listed even when the page came from here (`unlisted-name`): otherwise any site could point
 * its name at this server's address (DNS rebinding) and pass as the server's own, Host and all.
 */
export function checkOrigin(origin: string | undefined, host: string | undefined, policy: OriginPolicy): 'allowed' | 'foreign' | 'unlisted-name' {
  if (origin === undefined) return 'allowed';
  if (policy.allowed.includes('*')) return 'allowed';
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return 'foreign';
  }
  if (policy.allowed.some((allowed) => normalOrigin(allowed) === parsed.origin)) return 'allowed';
  if (host === undefined || parsed.host !== host.toLowerCase()) return 'foreign';
  const hostname = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isIP(hostname) !== 0 || hostname === 'localhost' || hostname.endsWith('.localhost')) return 'allowed';
  return (policy.ownNames ?? []).some((name) => nameMatches(name, hostname)) ? 'allowed' : 'unlisted-name';
}

/** `https://Example.org:443/` → `https://example.org`: how browsers write an Origin header. */
export function normalOrigin(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.origin === 'null' ? null : url.origin;
  } catch {
    return null;
  }
}
