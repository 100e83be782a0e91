// A cluster node's inbox: the signals other nodes relay to the sockets this node carries. The
// relay script (cluster-scripts.ts) appends them to a Redis stream named after this node; this
// module reads that stream with a blocking XREAD on a connection of its own and hands each signal
// to its socket. A stream, not pub/sub: what arrives while this node's connection to Redis is
// down is read when it is back.
import type { Logger } from '../log.js';
import { parseJson, RelayedSignalSchema, type RelayedSignal } from '../protocol.js';
import { INBOX_MAX_ENTRIES } from './cluster-scripts.js';
import type { RedisClient } from './redis-room-store.js';

/** How long one XREAD waits for entries before asking again (it returns at once when one comes). */
const BLOCK_MS = 5_000;
/** Entries taken per read: a burst is handed on in a few reads. */
const READ_COUNT = 1_000;
/** After a failed read (Redis away), the next one waits this long instead of spinning. */
const RETRY_MS = 200;

export function inboxKey(prefix: string, nodeId: string): string {
  return `${prefix}node:${nodeId}:inbox`;
}

export class NodeInbox {
  private stopped = false;
  private trimWarned = false;

  /** `client` is this inbox's own connection: a blocking read holds it. */
  constructor(
    private readonly client: RedisClient,
    private readonly key: string,
    private readonly logger: Logger,
  ) {}

  /** Reads until close(); `deliver` gets each signal and the socket it is for. */
  start(deliver: (socketId: string, signal: RelayedSignal) => void): void {
    void this.read(deliver);
  }

  close(): void {
    this.stopped = true;
    this.client.destroy();
  }

  /** Once: a failing trim leaves read signals in Redis (up to INBOX_MAX_ENTRIES), nothing worse. */
  private warnTrim(error: Error): void {
    if (this.stopped || this.trimWarned) return;
    this.trimWarned = true;
    this.logger.warn(`could not delete read signals from the node inbox; Redis keeps up to ${INBOX_MAX_ENTRIES} of them`, { key: this.key, error: error.message });
  }

  private async read(deliver: (socketId: string, signal: RelayedSignal) => void): Promise<void> {
    // The stream is this node's alone and new with it (its name holds a fresh node id): reading
    // from the start misses nothing written before the first read.
    let after = '0-0';
    while (!this.stopped) {
      let reply: Awaited<ReturnType<RedisClient['xRead']>>;
      try {
        reply = await this.client.xRead({ key: this.key, id: after }, { BLOCK: BLOCK_MS, COUNT: READ_COUNT });
      } catch (error) {
        if (this.stopped) return;
        this.logger.debug('reading the node inbox failed; retrying', { error: (error as Error).message });
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        continue;
      }
      for (const entry of entriesOf(reply)) {
        after = entry.id;
        const parsed = RelayedSignalSchema.safeParse(parseJson(entry.message['signal']));
        const socketId = entry.message['socket'];
        if (!parsed.success || typeof socketId !== 'string') {
          this.logger.warn('ignored a malformed entry in the node inbox', { key: this.key, id: entry.id });
          continue;
        }
        try {
          deliver(socketId, parsed.data);
        } catch (error) {
          this.logger.error('could not hand a relayed signal to its socket', { error: (error as Error).message });
        }
      }
      // What is read goes: the stream holds only what this node has yet to read. Sent on this
      // connection before its next read, so in order, and not waited for.
      if (reply !== null) void this.client.xTrim(this.key, 'MINID', after).catch((error: Error) => this.warnTrim(error));
    }
  }
}

interface InboxEntry {
  id: string;
  message: Record<string, string | undefined>;
}

/** node-redis types XREAD's reply loosely (it depends on the RESP version): read it here, checked. */
function entriesOf(reply: unknown): InboxEntry[] {
  if (!Array.isArray(reply)) return [];
  const entries: InboxEntry[] = [];
  for (const stream of reply as Array<{ messages?: unknown }>) {
    if (!Array.isArray(stream?.messages)) continue;
    for (const entry of stream.messages as Array<Partial<InboxEntry>>) {
      if (typeof entry?.id === 'string' && entry.message && typeof entry.message === 'object') entries.push({ id: entry.id, message: entry.message });
    }
  }
  return entries;
}
