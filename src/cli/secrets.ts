// Secrets and keys for the commands, from files or the environment: never from a flag's value,
// which `ps` shows to every user of the machine.
import { readFile } from 'node:fs/promises';
import { RoomTokenSigner, RoomTokenVerifier } from '../server/room-tokens.js';
import { UsageError } from './process.js';

/** A file a flag names (a key, a certificate), or a usage error that says which and why not. */
export async function readFileFor(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * A secret from the file a flag names, or else from an environment variable; undefined when
 * neither is given. Surrounding whitespace (a file's final newline) is not part of it.
 */
export async function readSecret(flag: string, path: string | undefined, variable: string): Promise<string | undefined> {
  if (path !== undefined) {
    const secret = (await readFileFor(flag, path)).toString('utf8').trim();
    if (secret === '') throw new UsageError(`${flag}: ${path} is empty; put the secret in it, e.g. "openssl rand -base64 32 > ${path}"`);
    return secret;
  }
  const fromEnvironment = process.env[variable]?.trim();
  return fromEnvironment === undefined || fromEnvironment === '' ? undefined : fromEnvironment;
}

/** Builds a token key from what the user gave, turning a key it cannot use into a usage error. */
export function tokenKeyFrom<T>(source: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    throw new UsageError(`${source}: ${(error as Error).message}`);
  }
}

/** The server's token verifier: a public key file, or the shared secret (file or $VOXROOM_TOKEN_SECRET); null for an open server. */
export async function tokenVerifierFrom(flags: { tokenSecretFile?: string; tokenPublicKey?: string }): Promise<RoomTokenVerifier | null> {
  if (flags.tokenSecretFile !== undefined && flags.tokenPublicKey !== undefined) throw new UsageError('use either --token-secret-file or --token-public-key, not both');
  if (flags.tokenPublicKey !== undefined) {
    const pem = (await readFileFor('--token-public-key', flags.tokenPublicKey)).toString('utf8');
    return tokenKeyFrom(`--token-public-key ${flags.tokenPublicKey}`, () => RoomTokenVerifier.fromPublicKeyPem(pem));
  }
  const secret = await readSecret('--token-secret-file', flags.tokenSecretFile, 'VOXROOM_TOKEN_SECRET');
  if (secret === undefined) return null;
  return tokenKeyFrom(flags.tokenSecretFile !== undefined ? `--token-secret-file ${flags.tokenSecretFile}` : '$VOXROOM_TOKEN_SECRET', () => RoomTokenVerifier.fromSecret(secret));
}

/** The minting key of `voxroom token`: a private key file, or the shared secret (file or $VOXROOM_TOKEN_SECRET). */
export async function tokenSignerFrom(flags: { tokenSecretFile?: string; privateKey?: string }): Promise<RoomTokenSigner> {
  if (flags.tokenSecretFile !== undefined && flags.privateKey !== undefined) throw new UsageError('use either --token-secret-file or --private-key, not both');
  if (flags.privateKey !== undefined) {
    const pem = (await readFileFor('--private-key', flags.privateKey)).toString('utf8');
    return tokenKeyFrom(`--private-key ${flags.privateKey}`, () => RoomTokenSigner.fromPrivateKeyPem(pem));
  }
  const secret = await readSecret('--token-secret-file', flags.tokenSecretFile, 'VOXROOM_TOKEN_SECRET');
  if (secret === undefined) throw new UsageError('no key to sign with: give --token-secret-file FILE (the server\'s), --private-key FILE, or set $VOXROOM_TOKEN_SECRET');
  return tokenKeyFrom(flags.tokenSecretFile !== undefined ? `--token-secret-file ${flags.tokenSecretFile}` : '$VOXROOM_TOKEN_SECRET', () => RoomTokenSigner.fromSecret(secret));
}
