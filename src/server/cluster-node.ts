// One node of a cluster: connects to Redis (refusing to start without it), announces itself with
// a heartbeat that expires within seconds of its death, sweeps the cluster (dead nodes' members
// become away, expired away members leave), shares one resume-token key with every node, and
// writes its members back when Redis returns after an outage.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createClient } from 'redis';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Logger } from '../log.js';
import { RedisRoomStore, type RedisClient } from './redis-room-store.js';
import { NodeInbox, inboxKey } from './node-inbox.js';

/** A node's heartbeat lives this long: a node killed with -9 is noticed within it (plus a sweep). */
export const NODE_TTL_MS = 5_000;
const HEARTBEAT_MS = 1_000;
const SWEEP_MS = 1_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** The node inboxes delete what they have read with XTRIM MINID, which came with Redis 6.2. */
export const MIN_REDIS_VERSION = { major: 6, minor: 2 } as const;
/**
 * Every node reads every message of the adapter's one stream. With the adapter's defaults (kept
 * 10 000 entries, read 100 at a time) a burst of relays outran the readers and the stream was
 * trimmed under them: the benchmark's 40 000-signal burst between two nodes delivered about
 * 26 000, at 900 signals/s. Reading 1000 at a time keeps up (about 16 000 signals/s there), and
 * 100 000 entries (tens of MB in Redis for signals) leave a lagging reader room.
 */
export const ADAPTER_STREAM = { maxLen: 100_000, readCount: 1000 } as const;

export interface ClusterNode {
  readonly nodeId: string;
  readonly store: RedisRoomStore;
  /** The resume-token key every node shares (the first node to start creates it). */
  readonly resumeKey: Buffer;
  /** socket.io's adapter: rooms and emits across nodes. */
  readonly adapter: ReturnType<typeof createAdapter>;
  /** Signals other nodes relay to this node's sockets (the store's relaySignal writes them). */
  readonly inbox: NodeInbox;
  /** Starts heartbeats and sweeps; `graceMs` is the away members' grace. */
  start(graceMs: number): void;
  close(): Promise<void>;
}

export async function joinCluster(url: string, logger: Logger, prefix = 'voxroom:'): Promise<ClusterNode> {
  let started = false;
  const redis: RedisClient = createClient({
    url,
    // While Redis is away, commands fail at once (joins get `unavailable`) instead of queueing.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      // At start, one failure is final (a clear message, a non-zero exit); later, keep trying.
      reconnectStrategy: (retries: number, cause: Error) => (started ? Math.min(200 * 2 ** retries, 2_000) : cause),
    },
  });
  let lastError = '';
  redis.on('error', (error: Error) => {
    if (started && error.message !== lastError) logger.warn('lost Redis; joins are refused (unavailable) until it returns', { error: error.message });
    lastError = error.message;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    if (redis.isOpen) redis.destroy();
    throw new Error(`cannot reach Redis at ${redactedUrl(url)} (${(error as Error).message}); start redis-server there, or check --redis / $VOXROOM_REDIS`);
  }
  const tooOld = tooOldRedis(await redis.info('server'));
  if (tooOld) {
    redis.destroy();
    throw new Error(`Redis at ${redactedUrl(url)} is version ${tooOld}; a cluster needs Redis ${MIN_REDIS_VERSION.major}.${MIN_REDIS_VERSION.minor} or later (Debian 12's redis-server is 7)`);
  }
  started = true;
  const nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const store = new RedisRoomStore(redis, nodeId, prefix);
  // SET NX: the first node creates the key, every later one reads that same key.
  const resumeKeyName = `${prefix}resume-key`;
  await redis.set(resumeKeyName, randomBytes(32).toString('hex'), { condition: 'NX' });
  const resumeKeyText = (await redis.get(resumeKeyName)) ?? '';
  const resumeKey = Buffer.from(resumeKeyText, 'utf8');
  // Redis back without its data (no persistence): the key goes back too, or a node started now
  // would make a new one and refuse every token issued before (members would come back as new).
  const writeResumeKeyBack = async (): Promise<void> => {
    await redis.set(resumeKeyName, resumeKeyText, { condition: 'NX' });
    if ((await redis.get(resumeKeyName)) !== resumeKeyText) {
      logger.error('the resume key in Redis is not the one this node uses: a node started while Redis was empty made a new one, and each side refuses the other\'s resume tokens', { fix: 'restart the nodes started since Redis came back empty, or give every node the same --secret-file' });
    }
  };
  // Connections of their own for the adapter and the inbox, which queue while Redis is away: their
  // reading loops retry at once on a failed read, so a client that failed fast would spin and
  // starve the event loop; queued publishes also reach the other nodes once Redis is back. (The
  // main client's errors are the ones reported.)
  const queueingConnection = async (): Promise<RedisClient> => {
    const client: RedisClient = redis.duplicate({ disableOfflineQueue: false });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const adapterRedis = await queueingConnection();
  const adapter = createAdapter(adapterRedis, { streamName: `${prefix}socket.io`, ...ADAPTER_STREAM });
  // The inbox's blocking read holds its connection.
  const inbox = new NodeInbox(await queueingConnection(), inboxKey(prefix, nodeId), logger);

  const aliveKey = (node: string): string => `${prefix}node:${node}:alive`;
  let beating = false;
  /**
   * Members to write back: Redis returned (maybe empty), or another node took this one for dead
   * (a stall longer than the heartbeat's life) and made them away while they are here,
   * connected. Kept until a write-back succeeds: each heartbeat tries again.
   */
  let writeBackPending = false;
  let writingBack = false;
  const writeBack = async (): Promise<void> => {
    if (writingBack) return;
    writingBack = true;
    try {
      await writeResumeKeyBack();
      const restored = await store.restoreLocalMembers();
      writeBackPending = false;
      logger.info('members written back', { restored });
    } catch (error) {
      logger.error('could not write members back to Redis; trying again at the next heartbeat', { error: (error as Error).message });
    } finally {
      writingBack = false;
    }
  };
  const heartbeat = async (): Promise<void> => {
    if (!redis.isReady) return;
    const [, added] = await redis.multi().set(aliveKey(nodeId), String(Date.now()), { expiration: { type: 'PX', value: NODE_TTL_MS } }).sAdd(`${prefix}nodes`, nodeId).exec();
    if (beating && Number(added) === 1 && !writeBackPending) {
      logger.warn('this node was taken for dead (its heartbeat lapsed); writing its members back');
      writeBackPending = true;
    }
    beating = true;
    if (writeBackPending) await writeBack();
  };
  let timers: NodeJS.Timeout[] = [];
  let outage = false;
  redis.on('end', () => (outage = true));
  redis.on('reconnecting', () => (outage = true));
  redis.on('ready', () => {
    if (!outage) return;
    outage = false;
    logger.warn('Redis is back; writing this node\'s members back');
    writeBackPending = true;
    void heartbeat().catch((error: Error) => logger.error('could not write members back to Redis', { error: error.message }));
  });
  await heartbeat();

  return {
    nodeId,
    store,
    resumeKey,
    adapter,
    inbox,
    start(graceMs: number) {
      const quietly = (what: string) => (error: Error) => logger.debug(`${what} failed`, { error: error.message });
      timers = [
        setInterval(() => void heartbeat().catch(quietly('heartbeat')), HEARTBEAT_MS),
        setInterval(
          () =>
            void store
              .sweep(graceMs, async (nodes) => (nodes.length === 0 ? [] : (await redis.mGet(nodes.map(aliveKey))).map((value) => value !== null)))
              .catch(quietly('sweep')),
          SWEEP_MS,
        ),
      ];
      for (const timer of timers) timer.unref();
    },
    async close() {
      for (const timer of timers) clearInterval(timer);
      // A node that stops on purpose says so at once: the others sweep its members without waiting.
      if (redis.isReady) await redis.del(aliveKey(nodeId)).catch(() => undefined);
      await store.close();
      redis.destroy();
      adapterRedis.destroy();
      inbox.close();
    },
  };
}

/** The version INFO server names, if it is older than MIN_REDIS_VERSION; null if not (or unnamed). */
export function tooOldRedis(info: string): string | null {
  const version = /^redis_version:(\d+)\.(\d+)/m.exec(info);
  if (!version) return null;
  const [major, minor] = [Number(version[1]), Number(version[2])];
  const old = major < MIN_REDIS_VERSION.major || (major === MIN_REDIS_VERSION.major && minor < MIN_REDIS_VERSION.minor);
  return old ? `${major}.${minor}` : null;
}

/** A Redis URL without its password, for messages and logs. */
export function redactedUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
