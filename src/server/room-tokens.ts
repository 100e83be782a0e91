// Signed room tokens (JWT, with jose): who may join which room, under which name, allowed to do
// what. Minted by `voxroom token` (or by any JWT library elsewhere), checked by the server on
// every join. No I/O here: callers read key files and pass their text in.
//
// Claims (PROTOCOL.md, "Access"):
//   sub          the member's name; the server gives the member exactly this name
//   room         the one room the token admits to, or
//   room_prefix  every room whose id starts with this
//   grants       what the member may do: speak, listen, admin
//   exp          expiry (seconds since 1970); the server allows TOKEN_CLOCK_LEEWAY_SECONDS of skew
//   aud          always TOKEN_AUDIENCE, so a token minted for another service is never taken as ours
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { GrantSchema, PeerNameSchema, RoomIdSchema, describeIssues, type ErrorCode, type Grant } from '../protocol.js';

/** The `aud` every voxroom token carries and every voxroom server requires. */
export const TOKEN_AUDIENCE = 'voxroom';
/** Clocks of the minting machine and the server may differ by this much. */
export const TOKEN_CLOCK_LEEWAY_SECONDS = 30;
/** HS256 is only as strong as its secret: 32 bytes is the key size of the hash. */
export const MIN_SECRET_BYTES = 32;

/** The signature algorithms voxroom uses: one shared secret, or a key pair minted elsewhere. */
export type TokenAlgorithm = 'HS256' | 'EdDSA' | 'ES256';

/** Which rooms a token admits to. */
export type RoomScope = { room: string } | { roomPrefix: string };

export interface RoomTokenClaims {
  /** The member's name in the room (`sub`). */
  name: string;
  scope: RoomScope;
  grants: Grant[];
  /** Expiry, seconds since 1970 (`exp`). */
  expiresAt: number;
}

/** Why a token was refused; each maps to one wire error code (`errorCodeFor`). */
export type TokenFailureReason = 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'not-yet-valid' | 'wrong-audience' | 'bad-claims' | 'wrong-room';

export type TokenCheck = { ok: true; claims: RoomTokenClaims } | { ok: false; reason: TokenFailureReason; message: string };

/** What the server needs of a verifier (a test can wrap a real one to move its clock). */
export interface TokenVerifier {
  verify(token: string | undefined, room: string, nowMs?: number): Promise<TokenCheck>;
}

const ROOM_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The voxroom claims of a token whose signature, `exp` and `aud` jose has already checked. */
const ClaimsSchema = z
  .object({
    sub: PeerNameSchema,
    room: RoomIdSchema.optional(),
    room_prefix: z.string().regex(ROOM_PREFIX_PATTERN, 'room_prefix is 1–64 characters of A–Z, a–z, 0–9, _ and -').optional(),
    grants: z.array(GrantSchema).max(16),
    exp: z.number(),
  })
  .refine((claims) => (claims.room === undefined) !== (claims.room_prefix === undefined), 'a token names either "room" or "room_prefix", exactly one of them');

/** Checks room tokens against one key: the server's shared secret or the minting service's public key. */
export class RoomTokenVerifier implements TokenVerifier {
  private constructor(
    private readonly key: KeyObject,
    readonly algorithm: TokenAlgorithm,
  ) {}

  /** HS256 with a shared secret (the same bytes `voxroom token` signs with). */
  static fromSecret(secret: string): RoomTokenVerifier {
    return new RoomTokenVerifier(secretKey(secret), 'HS256');
  }

  /** EdDSA (Ed25519) or ES256 (P-256) from a PEM public key (SPKI, "BEGIN PUBLIC KEY"). */
  static fromPublicKeyPem(pem: string): RoomTokenVerifier {
    const key = asymmetricKey(pem, 'public');
    return new RoomTokenVerifier(key, asymmetricAlgorithm(key));
  }

  /** Whether `token` admits its bearer to `room` now; a refusal says what was wrong and what to do. */
  async verify(token: string | undefined, room: string, nowMs = Date.now()): Promise<TokenCheck> {
    if (token === undefined) {
      return refusal('missing', `room "${room}" needs a room token: this server admits only members with a token signed for it; ask its operator for one (voxroom token) and pass it with --token, $VOXROOM_TOKEN or #token=… in the page address`);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: this.algorithm === 'EdDSA' ? ['EdDSA', 'Ed25519'] : [this.algorithm],
        audience: TOKEN_AUDIENCE,
        clockTolerance: TOKEN_CLOCK_LEEWAY_SECONDS,
        requiredClaims: ['sub', 'exp', 'aud'],
        currentDate: new Date(nowMs),
      }));
    } catch (error) {
      return this.explain(error, token, nowMs);
    }
    const parsed = ClaimsSchema.safeParse(payload);
    if (!parsed.success) return refusal('bad-claims', `the room token's claims are wrong (${describeIssues(parsed.error)}); mint it again, e.g. with voxroom token`);
    const { sub, room: exactRoom, room_prefix: prefix, grants, exp } = parsed.data;
    const claims: RoomTokenClaims = { name: sub, scope: exactRoom !== undefined ? { room: exactRoom } : { roomPrefix: prefix! }, grants: [...new Set(grants)], expiresAt: exp };
    if (!admitsTo(claims.scope, room)) {
      return refusal('wrong-room', `the room token is for ${describeScope(claims.scope)}, not room "${room}"; join that room, or ask for a token for this one`);
    }
    return { ok: true, claims };
  }

  private explain(error: unknown, token: string, nowMs: number): TokenCheck {
    if (error instanceof errors.JWTExpired) {
      const exp = error.payload.exp ?? 0;
      return refusal('expired', `the room token expired at ${new Date(exp * 1000).toISOString()} (${Math.round(nowMs / 1000 - exp)} s ago, beyond the ${TOKEN_CLOCK_LEEWAY_SECONDS} s clock leeway); ask for a new one`);
    }
    if (error instanceof errors.JWTClaimValidationFailed) {
      if (error.claim === 'aud') return refusal('wrong-audience', `the room token is for audience ${JSON.stringify(error.payload.aud ?? null)}, not "${TOKEN_AUDIENCE}"; mint it with aud "${TOKEN_AUDIENCE}"`);
      if (error.claim === 'nbf' && error.reason === 'check_failed') return refusal('not-yet-valid', `the room token is not valid before ${new Date((error.payload.nbf ?? 0) * 1000).toISOString()}; check the clock of the machine that minted it`);
      return refusal('bad-claims', `the room token's claims are wrong (${error.message}); mint it again, e.g. with voxroom token`);
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return refusal('bad-signature', `the room token's signature does not match this server's ${this.algorithm === 'HS256' ? 'secret' : 'public key'}: it was not minted for this server, or was changed; ask its operator for a new one`);
    }
    if (error instanceof errors.JOSEAlgNotAllowed) {
      return refusal('bad-signature', `the room token is signed with ${JSON.stringify(headerAlgorithm(token))}, and this server accepts ${this.algorithm} only; ask its operator for a token minted with its key`);
    }
    return refusal('malformed', `the room token is not a well-formed signed token (${error instanceof Error ? error.message : String(error)}); check that it was copied whole`);
  }
}

/** Mints room tokens: with the shared secret (HS256) or a private key (EdDSA, ES256). */
export class RoomTokenSigner {
  private constructor(
    private readonly key: KeyObject,
    readonly algorithm: TokenAlgorithm,
  ) {}

  static fromSecret(secret: string): RoomTokenSigner {
    return new RoomTokenSigner(secretKey(secret), 'HS256');
  }

  /** EdDSA (Ed25519) or ES256 (P-256) from a PEM private key (PKCS#8, "BEGIN PRIVATE KEY"; SEC1 works too). */
  static fromPrivateKeyPem(pem: string): RoomTokenSigner {
    const key = asymmetricKey(pem, 'private');
    return new RoomTokenSigner(key, asymmetricAlgorithm(key));
  }

  /** A token for `name` in `scope`, valid `ttlSeconds` from `nowMs`. */
  async mint(request: { name: string; scope: RoomScope; grants: readonly Grant[]; ttlSeconds: number }, nowMs = Date.now()): Promise<string> {
    const now = Math.floor(nowMs / 1000);
    const scope = 'room' in request.scope ? { room: request.scope.room } : { room_prefix: request.scope.roomPrefix };
    return new SignJWT({ ...scope, grants: [...request.grants] })
      .setProtectedHeader({ alg: this.algorithm, typ: 'JWT' })
      .setSubject(request.name)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + request.ttlSeconds)
      .sign(this.key);
  }
}

/** The wire error code for a refused token: a script can tell these apart. */
export function errorCodeFor(reason: TokenFailureReason): ErrorCode {
  switch (reason) {
    case 'missing':
      return 'token-required';
    case 'expired':
      return 'token-expired';
    case 'wrong-room':
      return 'token-wrong-room';
    default:
      return 'token-invalid';
  }
}

export function admitsTo(scope: RoomScope, room: string): boolean {
  return 'room' in scope ? scope.room === room : room.startsWith(scope.roomPrefix);
}

export function describeScope(scope: RoomScope): string {
  return 'room' in scope ? `room "${scope.room}"` : `rooms starting with "${scope.roomPrefix}"`;
}

/** A shared secret as key bytes: the text's UTF-8 bytes, surrounding whitespace (a file's final newline) left out. */
function secretKey(secret: string): KeyObject {
  const bytes = Buffer.from(secret.trim(), 'utf8');
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new Error(`the token secret is ${bytes.length} bytes; HS256 needs at least ${MIN_SECRET_BYTES} random bytes, e.g. "openssl rand -base64 32 > token.secret"`);
  }
  // A secret KeyObject, not a Uint8Array: jose then refuses it for anything but HMAC.
  return createSecretKey(bytes);
}

function asymmetricKey(pem: string, kind: 'public' | 'private'): KeyObject {
  try {
    return kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem);
  } catch (error) {
    throw new Error(`not a PEM ${kind} key (${(error as Error).message}); give an Ed25519 or P-256 key as "-----BEGIN ${kind.toUpperCase()} KEY-----"`);
  }
}

function asymmetricAlgorithm(key: KeyObject): TokenAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  const kind = key.asymmetricKeyType === 'ec' ? `an EC key on ${key.asymmetricKeyDetails?.namedCurve ?? 'an unknown curve'}` : `a ${key.asymmetricKeyType ?? 'symmetric'} key`;
  throw new Error(`${kind} is not supported; use Ed25519 (EdDSA) or P-256 (ES256), e.g. "openssl genpkey -algorithm ed25519 -out token.key"`);
}

function headerAlgorithm(token: string): unknown {
  try {
    return decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
}

function refusal(reason: TokenFailureReason, message: string): TokenCheck {
  return { ok: false, reason, message };
}
