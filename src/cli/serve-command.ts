// `voxroom serve`: flags → SignallingServerOptions, then run until SIGINT/SIGTERM.
import { Command, Option } from 'commander';
import { LIMITS } from '../protocol.js';
import { DEFAULT_AUTO_MEDIA, type MediaSetting } from '../server/room-media-policy.js';
import { createLogger, type Logger } from '../log.js';
import { validateIceUrl, type TurnAuth } from '../server/ice-config.js';
import { RoomMap } from '../server/room-map.js';
import { DEFAULT_RESUME_GRACE_MS, startSignallingServer, type RunningServer } from '../server/signalling-server.js';
import { kickedMembersPath } from '../server/kicked-members-file.js';
import { defaultSecretPath, loadOrCreateSecret, readSecretFile } from '../server/server-secret.js';
// Janus's client (janode) and Redis's are loaded only when asked for: together they were about
// 400 ms of start-up CPU for every server (see runServe).
import type { JanusConnector } from '../server/janus-connector.js';
import type { ClusterNode } from '../server/cluster-node.js';
import { collect, parseIntegerInRange, parsePositiveSeconds } from './options.js';
import { UsageError, onShutdownSignal } from './process.js';
import { readFileFor, readSecret, tokenVerifierFrom } from './secrets.js';
import { DEFAULT_CONNECTION_LIMITS, normalOrigin } from '../server/connection-gate.js';

interface ServeFlags {
  port?: number;
  host: string;
  map?: string;
  iceServer: string[];
  turnUsername?: string;
  turnCredential?: string;
  turnCredentialFile?: string;
  turnSecret?: string;
  turnSecretFile?: string;
  turnTtl: number;
  tokenSecretFile?: string;
  tokenPublicKey?: string;
  maxPeers?: number;
  injectDelay?: number;
  tlsCert?: string;
  tlsKey?: string;
  verbose?: boolean;
  json?: boolean;
  janus: string[];
  media?: MediaSetting;
  meshMax: number;
  maxSpeakers: number;
  secretFile?: string;
  resumeGrace: number;
  redis?: string;
  allowOrigin: string[];
  metricsTokenFile?: string;
  metricsPort?: number;
  maxConnectionsPerIp: number;
  maxConnections: number;
  trustProxy?: boolean;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the room signalling server (socket.io) and the web client')
    .option('-p, --port <n>', 'port to listen on (default: $PORT or 8080)', parseIntegerInRange(0, 65535))
    .option('--host <addr>', 'address to listen on; 0.0.0.0 for every interface', '127.0.0.1')
    .option('--map <file>', 'JSON file with the rooms\' layout, sent to peers on join')
    .option('--ice-server <url>', 'STUN/TURN URL handed to peers (repeatable)', collect, [])
    .option('--turn-username <user>', 'static TURN username')
    .option('--turn-credential-file <file>', 'file with the static TURN password; default: $VOXROOM_TURN_CREDENTIAL')
    .option('--turn-credential <password>', 'deprecated, `ps` shows it: use --turn-credential-file or $VOXROOM_TURN_CREDENTIAL')
    .option('--turn-secret-file <file>', 'file with the shared secret for time-limited TURN credentials (coturn use-auth-secret); default: $VOXROOM_TURN_SECRET')
    .option('--turn-secret <secret>', 'deprecated, `ps` shows it: use --turn-secret-file or $VOXROOM_TURN_SECRET')
    .option('--turn-ttl <seconds>', 'lifetime of time-limited TURN credentials; they are renewed for members at half of it, and a member gone (or kicked) keeps relay access this long at most', parseIntegerInRange(10, 7 * 86400), 3600)
    .option('--token-secret-file <file>', 'require a room token to join, signed with the shared secret in this file (HS256); default: $VOXROOM_TOKEN_SECRET')
    .option('--token-public-key <file>', 'or: require room tokens signed elsewhere, verified with this Ed25519 or P-256 public key (PEM)')
    .option('--max-peers <n>', `peers per room (default ${LIMITS.defaultMaxPeersPerRoom} in mesh rooms, ${LIMITS.defaultMaxPeersPerSfuRoom} through the SFU)`, parseIntegerInRange(2, LIMITS.maxPeersPerRoom))
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS/WSS (browsers need it for the microphone off localhost)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--janus <url>', 'SFU rooms through this Janus (ws://HOST:PORT), or "auto" to start one from the janus on the PATH (repeatable: each room goes to the least loaded)', collect, [])
    .addOption(new Option('--media <mode>', 'how rooms carry audio: mesh (peer to peer), sfu (through Janus), or auto (mesh while small, SFU past --mesh-max; the default with --janus)').choices(['mesh', 'sfu', 'auto']))
    .option('--max-speakers <n>', 'SFU rooms: each listener gets at most this many speakers at once, the ones talking (loudest-speaker routing)', parseIntegerInRange(1, 64), 3)
    .option('--mesh-max <n>', 'with --media auto: a room of more members than this moves to the SFU (back to the mesh after 10 s at 4 or fewer)', parseIntegerInRange(2, 64), DEFAULT_AUTO_MEDIA.meshMax)
    .option('--secret-file <file>', `key that signs resume tokens, so members resume across a restart (default: generated once and kept in ${defaultSecretPath()})`)
    .option('--redis <url>', 'join a cluster: rooms live in this Redis, shared with every node given the same URL (default: $VOXROOM_REDIS; none: this server runs alone)')
    .option('--resume-grace <seconds>', 'how long a member whose connection dropped keeps its place (away) before it leaves', parsePositiveSeconds, DEFAULT_RESUME_GRACE_MS / 1000)
    .option('--allow-origin <origin>', 'web pages from this origin (scheme://host[:port]) may connect, besides the server\'s own; "*" for any (repeatable)', collect, [])
    .option('--metrics-token-file <file>', 'GET /metrics requires "Authorization: Bearer <the token in this file>"; default: $VOXROOM_METRICS_TOKEN')
    .option('--metrics-port <n>', 'serve /metrics on this port of 127.0.0.1 instead of the main one', parseIntegerInRange(0, 65535))
    .option('--max-connections-per-ip <n>', 'open connections from one client address; more are refused', parseIntegerInRange(1, 100_000), DEFAULT_CONNECTION_LIMITS.perAddress)
    .option('--max-connections <n>', 'open connections in all; more are refused', parseIntegerInRange(1, 1_000_000), DEFAULT_CONNECTION_LIMITS.total)
    .option('--trust-proxy', 'behind a load balancer: take the client address from the last X-Forwarded-For entry (for --max-connections-per-ip)')
    .addOption(new Option('--inject-delay <ms>', 'testing: hold each incoming message up to this long, in order per socket').argParser(parseIntegerInRange(1, 5000)).hideHelp())
    .option('-v, --verbose', 'log every join, leave and refused message')
    .addOption(new Option('--json', 'log as JSON lines, and print the listening line as JSON'))
    .action(async (flags: ServeFlags) => runServe(flags));
}

async function runServe(flags: ServeFlags): Promise<void> {
  const logger = createLogger({ level: flags.verbose ? 'debug' : 'warn', json: Boolean(flags.json) });
  const port = flags.port ?? portFromEnvironment();
  const turnAuth = await turnAuthFrom(flags, logger);
  const tokens = await tokenVerifierFrom(flags);
  const metricsToken = await readSecret('--metrics-token-file', flags.metricsTokenFile, 'VOXROOM_METRICS_TOKEN');
  for (const origin of flags.allowOrigin) {
    if (origin !== '*' && normalOrigin(origin) === null) throw new UsageError(`--allow-origin "${origin}": not an origin; write scheme://host[:port], e.g. https://app.example.org`);
  }
  const urls = flags.iceServer.map((url) => {
    try {
      return validateIceUrl(url);
    } catch (error) {
      throw new UsageError(`--ice-server: ${(error as Error).message}`);
    }
  });
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together; give both (see README "TLS")');
  const tls = flags.tlsCert && flags.tlsKey ? { cert: await readFileFor('--tls-cert', flags.tlsCert), key: await readFileFor('--tls-key', flags.tlsKey) } : undefined;
  const map = flags.map ? await RoomMap.load(flags.map) : undefined;

  const redisUrl = flags.redis ?? (process.env.VOXROOM_REDIS || undefined);
  if (redisUrl !== undefined && !/^rediss?:\/\/\S+$/.test(redisUrl)) throw new UsageError(`--redis "${redisUrl}": give redis://HOST:PORT (or rediss:// for TLS)`);
  const inCluster = redisUrl !== undefined;
  // A cluster's rooms have one media setting on every node: auto would need one node's view of a room's size.
  const media: MediaSetting = flags.media ?? (flags.janus.length > 0 ? (inCluster ? 'sfu' : 'auto') : 'mesh');
  if (media !== 'mesh' && flags.janus.length === 0) throw new UsageError(`--media ${media} needs a Janus: --janus ws://HOST:PORT, or --janus auto to start one`);
  if (inCluster && media === 'auto') throw new UsageError('--media auto does not run in a cluster (--redis): it moves rooms by their size on one node; use --media sfu, or mesh, and a room map for rooms that differ');
  for (const where of flags.janus) {
    if (where !== 'auto' && !/^wss?:\/\/\S+$/.test(where)) throw new UsageError(`--janus "${where}": give ws://HOST:PORT of a running Janus, or auto`);
    if (where === 'auto' && inCluster) throw new UsageError('--janus auto starts a Janus for this node alone; in a cluster (--redis) give every node the same --janus ws://HOST:PORT list, each Janus configured with reclaim_session_timeout (README, "SFU rooms in a cluster")');
  }
  const connectors: JanusConnector[] = [];
  const stopJanuses = async (): Promise<void> => {
    await Promise.all(connectors.map((connector) => connector.stop()));
  };
  try {
    if (flags.janus.length > 0) {
      const { JanusConnector } = await import('../server/janus-connector.js');
      for (const where of flags.janus) connectors.push(await JanusConnector.start(where, logger, { maxSpeakers: flags.maxSpeakers, shared: inCluster }));
    }
  } catch (error) {
    await stopJanuses();
    throw error;
  }

  let server: RunningServer;
  let resumeKey: Buffer | undefined;
  let cluster: ClusterNode | undefined;
  let redisShown = '';
  try {
    // A cluster shares the key kept in Redis unless --secret-file names one (then every node needs it).
    if (flags.secretFile !== undefined) resumeKey = await readSecretFile(flags.secretFile);
    else if (redisUrl === undefined) resumeKey = await loadOrCreateSecret(defaultSecretPath());
    if (redisUrl !== undefined) {
      const { joinCluster, redactedUrl } = await import('../server/cluster-node.js');
      redisShown = redactedUrl(redisUrl);
      cluster = await joinCluster(redisUrl, logger);
    }
  } catch (error) {
    await stopJanuses();
    throw error;
  }
  try {
    server = await startSignallingServer({ ...(resumeKey ? { resumeKey } : {}), ...(resumeKey && !cluster ? { kickedMembersFile: kickedMembersPath(resumeKey) } : {}), ...(cluster ? { cluster } : {}), resumeGraceMs: flags.resumeGrace * 1000, port, host: flags.host, map, ice: { urls, turnAuth }, maxPeersPerRoom: flags.maxPeers, tls, logger, media, ...(tokens ? { tokens } : {}), autoMedia: { meshMax: flags.meshMax, meshReturnAt: Math.min(DEFAULT_AUTO_MEDIA.meshReturnAt, flags.meshMax - 1) }, januses: connectors.map((connector) => ({ driver: connector.driver, reconnect: connector.reconnect })), ...(flags.injectDelay ? { faults: { maxDelayMs: flags.injectDelay } } : {}), allowOrigins: flags.allowOrigin, connectionLimits: { perAddress: flags.maxConnectionsPerIp, total: flags.maxConnections }, trustProxy: Boolean(flags.trustProxy), metrics: { ...(metricsToken !== undefined ? { token: metricsToken } : {}), ...(flags.metricsPort !== undefined ? { port: flags.metricsPort } : {}) } });
  } catch (error) {
    await stopJanuses();
    await cluster?.close();
    throw error;
  }
  const janusUrls = connectors.map((connector) => connector.driver?.url ?? connector.location);
  const listening = { url: server.url, ...(server.metricsUrl ? { metrics: server.metricsUrl } : {}), media, ...(cluster ? { node: cluster.nodeId } : {}), ...(janusUrls.length > 0 ? { janus: janusUrls } : {}), ...(tokens ? { tokens: tokens.algorithm } : {}) };
  if (flags.json) process.stdout.write(JSON.stringify({ event: 'listening', ...listening }) + '\n');
  else process.stdout.write(`voxroom server listening on ${server.url}${janusUrls.length > 0 ? ` (rooms through Janus at ${janusUrls.join(', ')})` : ''}${cluster ? ` (cluster node ${cluster.nodeId}, Redis at ${redisShown})` : ''}${tokens ? `; joins need a room token (${tokens.algorithm})` : ''}${server.metricsUrl ? `; metrics on ${server.metricsUrl}` : ''}\n`);

  await onShutdownSignal();
  logger.info('shutting down');
  await server.close();
  await stopJanuses();
}

function portFromEnvironment(): number {
  const fromEnv = process.env.PORT;
  if (fromEnv === undefined || fromEnv === '') return 8080;
  try {
    return parseIntegerInRange(0, 65535)(fromEnv);
  } catch (error) {
    throw new UsageError(`PORT=${fromEnv}: ${(error as Error).message}`);
  }
}

/**
 * TURN credentials: static (a username and a password from a file, $VOXROOM_TURN_CREDENTIAL or
 * the deprecated flag), or minted from a shared secret (file, deprecated flag, or
 * $VOXROOM_TURN_SECRET); flags win over the environment.
 */
async function turnAuthFrom(flags: ServeFlags, logger: Logger): Promise<TurnAuth> {
  if (flags.turnCredential !== undefined && flags.turnCredentialFile !== undefined) throw new UsageError('use either --turn-credential-file or --turn-credential, not both (--turn-credential-file is the one `ps` cannot show)');
  if (flags.turnCredential !== undefined) logger.warn('--turn-credential puts the TURN password on the command line, where `ps` shows it to every user of this machine; use --turn-credential-file FILE or $VOXROOM_TURN_CREDENTIAL instead');
  const credential = flags.turnCredential ?? (flags.turnUsername !== undefined || flags.turnCredentialFile !== undefined ? await readSecret('--turn-credential-file', flags.turnCredentialFile, 'VOXROOM_TURN_CREDENTIAL') : undefined);
  const hasStatic = flags.turnUsername !== undefined || credential !== undefined;
  const secretFlags = [flags.turnSecretFile !== undefined && '--turn-secret-file', flags.turnSecret !== undefined && '--turn-secret'].filter((flag): flag is string => flag !== false);
  if (secretFlags.length > 1) throw new UsageError('use either --turn-secret-file or --turn-secret, not both (--turn-secret-file is the one `ps` cannot show)');
  if (hasStatic && secretFlags.length > 0) throw new UsageError(`use either --turn-username/--turn-credential or ${secretFlags[0]}, not both`);
  if (hasStatic) {
    if (flags.turnUsername === undefined || credential === undefined) throw new UsageError('--turn-username and its password (--turn-credential-file or $VOXROOM_TURN_CREDENTIAL) go together');
    return { kind: 'static', username: flags.turnUsername, credential };
  }
  if (flags.turnSecret !== undefined) {
    logger.warn('--turn-secret puts the secret on the command line, where `ps` shows it to every user of this machine; use --turn-secret-file FILE or $VOXROOM_TURN_SECRET instead');
    return { kind: 'secret', secret: flags.turnSecret, ttlSeconds: flags.turnTtl };
  }
  const secret = await readSecret('--turn-secret-file', flags.turnSecretFile, 'VOXROOM_TURN_SECRET');
  return secret !== undefined ? { kind: 'secret', secret, ttlSeconds: flags.turnTtl } : { kind: 'none' };
}

