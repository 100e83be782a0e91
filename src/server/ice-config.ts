// ICE servers handed to peers in the join ack. TURN credentials are either static or minted per
// join from a shared secret, in the form coturn's REST API (`use-auth-secret`) expects:
// username = "<expiry unix seconds>:<user>", credential = base64(HMAC-SHA1(secret, username)).
// A TURN server checks that expiry whenever a connection allocates a relay (a newcomer, an ICE
// restart), so members get fresh credentials pushed while they stay in the room.
import { createHmac } from 'node:crypto';
import type { IceServer } from '../protocol.js';

export type TurnAuth =
  | { kind: 'none' }
  | { kind: 'static'; username: string; credential: string }
  | { kind: 'secret'; secret: string; ttlSeconds: number };

export interface IceConfig {
  urls: string[];
  turnAuth: TurnAuth;
}

const ICE_URL_PATTERN = /^(stun|stuns|turn|turns):[^\s]+$/;

export function validateIceUrl(url: string): string {
  if (!ICE_URL_PATTERN.test(url)) {
    throw new Error(`"${url}" is not a STUN/TURN URL; use e.g. stun:stun.example.org:3478 or turn:turn.example.org:3478?transport=udp`);
  }
  return url;
}

export function isTurnUrl(url: string): boolean {
  return url.startsWith('turn:') || url.startsWith('turns:');
}

export function turnRestCredentials(secret: string, user: string, ttlSeconds: number, nowMs: number): { username: string; credential: string } {
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiry}:${user}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/** How often an admitted member gets fresh time-limited credentials: at half their lifetime (none for other kinds). */
export function credentialRefreshMs(config: IceConfig): number | null {
  const auth = config.turnAuth;
  if (auth.kind !== 'secret' || !config.urls.some(isTurnUrl)) return null;
  return (auth.ttlSeconds * 1000) / 2;
}

/** The list for one join; `user` names the peer inside time-limited TURN usernames. */
export function iceServersFor(config: IceConfig, user: string, nowMs: number): IceServer[] {
  const stun = config.urls.filter((url) => !isTurnUrl(url));
  const turn = config.urls.filter(isTurnUrl);
  const servers: IceServer[] = [];
  if (stun.length > 0) servers.push({ urls: stun });
  if (turn.length > 0) {
    const auth = config.turnAuth;
    if (auth.kind === 'static') servers.push({ urls: turn, username: auth.username, credential: auth.credential });
    else if (auth.kind === 'secret') servers.push({ urls: turn, ...turnRestCredentials(auth.secret, user, auth.ttlSeconds, nowMs) });
    else servers.push({ urls: turn });
  }
  return servers;
}
