// A single node's kicked members, kept on disk in the user's state directory. Resume tokens
// outlive a restart on purpose (server-secret.ts); a kick must too, or a kicked member would take
// its place back with its old token once the server restarted. One file per key: the list goes
// with the tokens it guards. (A cluster keeps its kicks in Redis.)
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { KickedMembers } from './kicked-members.js';
import { defaultSecretPath } from './server-secret.js';

/** $XDG_STATE_HOME/voxroom/kicked-<the key's fingerprint>.json (see defaultSecretPath). */
export function kickedMembersPath(resumeKey: Buffer, env: NodeJS.ProcessEnv = process.env): string {
  const fingerprint = createHash('sha256').update(resumeKey).digest('hex').slice(0, 16);
  return join(dirname(defaultSecretPath(env)), `kicked-${fingerprint}.json`);
}

/** The file's entries, or null when it is not a list of [member id, expiry in ms]. */
export function parseKickedMembers(text: string): Array<[string, number]> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const kicked = (parsed as { kicked?: unknown } | null)?.kicked;
  if (!Array.isArray(kicked)) return null;
  const entries: Array<[string, number]> = [];
  for (const entry of kicked) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'number' || !Number.isFinite(entry[1])) return null;
    entries.push([entry[0], entry[1]]);
  }
  return entries;
}

export class KickedMembersFile {
  /** Writes run one after another, each with the list as it was when asked. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** The kicks kept by an earlier run of this server (none if there is no file yet). */
  async load(nowMs: number): Promise<KickedMembers> {
    const kicked = new KickedMembers();
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn('cannot read the kicked members kept from an earlier run; kicks made before this start are not enforced', { path: this.path, error: (error as Error).message });
      return kicked;
    }
    const entries = parseKickedMembers(text);
    if (entries === null) this.logger.warn('the file of kicked members is not one voxroom wrote; ignoring it (kicks made before this start are not enforced)', { path: this.path });
    else kicked.restore(entries, nowMs);
    return kicked;
  }

  /** Keeps the list (written whole to a temporary file, then renamed: never half a file); resolves once written, or reported. */
  save(kicked: KickedMembers, nowMs: number): Promise<void> {
    const text = JSON.stringify({ kicked: kicked.entries(nowMs) }) + '\n';
    this.writing = this.writing.then(async () => {
      try {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        const partial = `${this.path}.${process.pid}.tmp`;
        await writeFile(partial, text, { mode: 0o600 });
        await rename(partial, this.path);
      } catch (error) {
        this.logger.error('cannot keep the kicked members on disk: a restart of this server would let them resume', { path: this.path, error: (error as Error).message });
      }
    });
    return this.writing;
  }

  /** Resolves once every write asked for so far is done. */
  flushed(): Promise<void> {
    return this.writing;
  }
}
