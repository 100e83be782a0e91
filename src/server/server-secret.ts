// The server's secret key (for resume tokens): from --secret-file, or generated at the first
// start and kept in the user's state directory, so that a restarted server on the same machine
// still verifies the tokens it issued before.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** $XDG_STATE_HOME/voxroom/server-secret, or ~/.local/state/voxroom/server-secret. */
export function defaultSecretPath(env: NodeJS.ProcessEnv = process.env): string {
  const stateHome = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(stateHome, 'voxroom', 'server-secret');
}

/** Reads a secret file (at least 16 bytes after trimming). */
export async function readSecretFile(path: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; create it with e.g. "openssl rand -hex 32 > ${path}"`);
  }
  const secret = Buffer.from(text.trim(), 'utf8');
  if (secret.length < 16) throw new Error(`secret file ${path} holds ${secret.length} bytes; use at least 16 (e.g. "openssl rand -hex 32 > ${path}")`);
  return secret;
}

/** The secret at `path`, created (readable by this user only) when it does not exist yet. */
export async function loadOrCreateSecret(path: string): Promise<Buffer> {
  try {
    return await readSecretFile(path);
  } catch (error) {
    const missing = (error as Error).message.includes('ENOENT');
    if (!missing) throw error;
  }
  const secret = randomBytes(32).toString('hex');
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // wx: two servers starting at once must not overwrite each other's key.
    await writeFile(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readSecretFile(path);
    throw new Error(`cannot keep the server's secret in ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; give one with --secret-file`);
  }
  return Buffer.from(secret, 'utf8');
}
