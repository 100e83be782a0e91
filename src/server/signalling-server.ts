// The room signalling server: socket.io for rooms and signal relay, plain HTTP for health,
// metrics and the web client. Every incoming payload is validated against src/protocol.ts.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { X509Certificate, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import type { ZodError, z } from 'zod';
import {
  CLIENT_EVENTS,
  JoinRequestSchema,
  KickRequestSchema,
  LIMITS,
  MemberStatePatchSchema,
  OPEN_SERVER_GRANTS,
  MoveRequestSchema,
  PROTOCOL_VERSION,
  ServerMuteRequestSchema,
  SfuCandidateSchema,
  SfuPublishSchema,
  SfuSdpSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  SignalRequestSchema,
  describeIssues,
  NodeMemberLeftSchema,
  NodeMemberMovedSchema,
  NodeMemberStateSchema,
  NodeRoomPlacedSchema,
  mayBeHeard,
  mayHear,
  type AdminAck,
  type ClientToServerEvents,
  type InterNodeEvents,
  type ErrorCode,
  type Grant,
  type JoinAck,
  type JoinAckV1,
  type JoinRequest,
  type MemberLeftReason,
  type MoveAck,
  type Position,
  type ProtocolError,
  type ServerToClientEvents,
  type SignalRequest,
} from '../protocol.js';
import { silentLogger, type Logger } from '../log.js';
import { DEFAULT_STATIC_DIRS, createRequestHandler } from './http-routes.js';
import { credentialRefreshMs, iceServersFor, type IceConfig } from './ice-config.js';
import { ServerMetrics } from './metrics.js';
import { DelayInjector } from './delay-injector.js';
import type { JanusDriver } from './janus-driver.js';
import type { AutoMediaOptions, MediaSetting } from './room-media-policy.js';
import { SfuRooms, type JanusSource } from './sfu-rooms.js';
import { RoomMap } from './room-map.js';
import { ResumeTokens } from './resume-tokens.js';
import { RoomRegistry, copyState, toMemberView, toPeerInfo, type Member } from './room-registry.js';
import { KickedMembersFile } from './kicked-members-file.js';
import { LocalRoomStore, StoreUnavailableError, type RoomStore } from './room-store.js';
import type { ClusterNode } from './cluster-node.js';
import { TokenBucket } from './rate-limiter.js';
import { errorCodeFor, type TokenVerifier } from './room-tokens.js';
import { MemberMotion, entryPosition } from './room-positions.js';
import { ThrottledAnnouncer } from './throttled-announcer.js';
import { ConnectionGate, DEFAULT_CONNECTION_LIMITS, certificateNames, checkOrigin, clientAddress, normalOrigin, type ConnectionLimits } from './connection-gate.js';

export interface SignallingServerOptions {
  port: number;
  host?: string;
  map?: RoomMap;
  ice?: IceConfig;
  maxPeersPerRoom?: number;
  tls?: { cert: Buffer; key: Buffer };
  logger?: Logger;
  staticDirs?: string[];
  /** How rooms carry audio (default mesh); `sfu` and `auto` need `janus`. A map may set it per room. */
  media?: MediaSetting;
  /** `auto`: when rooms move between the mesh and the SFU. */
  autoMedia?: Partial<AutoMediaOptions>;
  /** A connected Janus driver for SFU rooms. */
  janus?: JanusDriver;
  /** Connects a fresh driver after Janus was lost (rooms fall back to the mesh meanwhile). */
  reconnectJanus?: () => Promise<JanusDriver>;
  /** Several Janus instances: each room that moves to the SFU goes to the least loaded. */
  januses?: JanusSource[];
  /**
   * Room tokens: with a verifier every join needs a token it accepts, and the member's name is the
   * token's. Without one the server is open: anyone can join any room under any name.
   */
  tokens?: TokenVerifier;
  /** Fault injection for tests (`--inject-delay`): never set in production. */
  faults?: InjectedFaults;
  /**
   * The key that signs resume tokens. Give the same key to a restarted server (or every node)
   * and members resume their places across it; default: the cluster's (kept in Redis), or
   * random for this process.
   */
  resumeKey?: Buffer;
  /** How long a member whose socket closed keeps its place, away, before it leaves (default 15 s). */
  resumeGraceMs?: number;
  /**
   * A single node: keep the members an admin kicked in this file, so that a restarted server
   * still refuses their resume tokens (kickedMembersPath); default: in this process only.
   */
  kickedMembersFile?: string;
  /**
   * A cluster node (cluster-node.ts): rooms live in Redis, shared with the other nodes, and the
   * resume key is the cluster's. Without it the rooms live in this process, as on one machine.
   */
  cluster?: ClusterNode;
  /** Web origins besides the server's own whose pages may connect (`*`: any); default none. */
  allowOrigins?: string[];
  /** Open connections per client address and in total (default DEFAULT_CONNECTION_LIMITS). */
  connectionLimits?: Partial<ConnectionLimits>;
  /** Behind a load balancer: the client address is the one it appends to X-Forwarded-For. */
  trustProxy?: boolean;
  /** GET /metrics: require this bearer token, and/or serve it on this loopback port instead of the main one. */
  metrics?: { token?: string; port?: number };
}

export const DEFAULT_RESUME_GRACE_MS = 15_000;

export interface InjectedFaults {
  /** Hold each incoming message up to this long, in order per socket. */
  maxDelayMs?: number;
  /** Lose this many offers (acknowledged, never relayed), as a flaky network path would. */
  dropOffers?: number;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** Where /metrics is served when it has its own loopback port (`metrics.port`); null otherwise. */
  readonly metricsUrl: string | null;
  /** Tells connected peers, stops accepting, closes every socket. Idempotent. */
  close(): Promise<void>;
}

type VoxSocket = Socket<ClientToServerEvents, ServerToClientEvents>;
type Ack<T> = (result: T) => void;

/** Every member's socket is in its room's socket.io room, and in one per protocol version. */
const socketRoom = (room: string): string => `room:${room}`;
const versionRoom = (room: string, version: number): string => `room:${room}:v${version}`;
const versionMismatch = (sent: unknown): string =>
  `this server speaks protocol v${PROTOCOL_VERSION} (and v${SUPPORTED_PROTOCOL_VERSIONS.filter((v) => v !== PROTOCOL_VERSION).join(', v')}), the client sent v${String(sent)}; update voxroom`;

export async function startSignallingServer(options: SignallingServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? silentLogger;
  const map = options.map ?? RoomMap.empty();
  const ice: IceConfig = options.ice ?? { urls: [], turnAuth: { kind: 'none' } };
  const iceRefreshMs = credentialRefreshMs(ice);
  // A mesh is capped low (every peer connects to every other); through the SFU far higher.
  // --max-peers, when given, caps both.
  const meshLimit = Math.min(options.maxPeersPerRoom ?? LIMITS.defaultMaxPeersPerRoom, LIMITS.maxMeshPeersPerRoom);
  const sfuLimit = options.maxPeersPerRoom ?? LIMITS.defaultMaxPeersPerSfuRoom;
  const maxPeersPerRoom = Math.max(meshLimit, sfuLimit);
  const cluster = options.cluster ?? null;
  const kickedFile = !cluster && options.kickedMembersFile !== undefined ? new KickedMembersFile(options.kickedMembersFile, logger) : null;
  const store: RoomStore = cluster?.store ?? new LocalRoomStore(new RoomRegistry(maxPeersPerRoom), kickedFile ? await kickedFile.load(Date.now()) : undefined, kickedFile ? (kicked) => kickedFile.save(kicked, Date.now()) : undefined);
  const resumeTokens = new ResumeTokens(options.resumeKey ?? cluster?.resumeKey ?? randomBytes(32));
  const resumeGraceMs = options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS;
  /** Away members' grace timers, by member id. */
  const graceTimers = new Map<string, NodeJS.Timeout>();
  const endGrace = (id: string): void => {
    clearTimeout(graceTimers.get(id));
    graceTimers.delete(id);
  };
  /**
   * Sends to a member's socket; an away member has none (what it misses, its resume ack brings).
   * A socket of this node gets it directly: in a cluster that skips Redis, so relays among a
   * node's own members go on while Redis is away; a socket on another node through the adapter.
   */
  const emitTo = <E extends keyof ServerToClientEvents>(member: Member, event: E, ...args: Parameters<ServerToClientEvents[E]>): void => {
    if (member.socketId === null) return;
    const local = io.sockets.sockets.get(member.socketId);
    if (local) local.emit(event, ...args);
    else io.to(member.socketId).emit(event, ...args);
  };
  const delays = options.faults?.maxDelayMs ? new DelayInjector(options.faults.maxDelayMs) : null;
  let offersToDrop = options.faults?.dropOffers ?? 0;
  if (options.faults) logger.warn('injecting signalling faults (a test setting)', { ...options.faults });
  const tokens = options.tokens ?? null;
  if (!tokens) logger.warn('this server is open: anyone who can reach it can join any room under any name; require room tokens with --token-secret-file or --token-public-key (README, "Access control")');
  const januses: JanusSource[] = [...(options.janus ? [{ driver: options.janus, ...(options.reconnectJanus ? { reconnect: options.reconnectJanus } : {}) }] : []), ...(options.januses ?? [])];
  if ((options.media ?? 'mesh') !== 'mesh' && januses.length === 0) throw new Error(`--media ${options.media} needs a Janus (--janus URL or --janus auto)`);
  /** SFU rooms in a cluster: nodes tell each other about members whose Janus handles another node drives. */
  const clusterSfu = cluster !== null && januses.length > 0;
  // In SFU rooms the media server hears every publisher: its talking events are the room's
  // `speaking`, one source for everyone (a member's own claim is then ignored).
  const announceState = (member: Member): void => {
    io.to(versionRoom(member.room, 2)).emit('member-updated', { room: member.room, id: member.id, state: copyState(member.state) });
  };
  // Spatial rooms: each member's moves (rate and walking budget), and its position changes
  // announced at a bounded rate per member (the latest always goes out).
  const motions = new Map<string, MemberMotion>();
  const positions = new ThrottledAnnouncer<string>(LIMITS.positionBroadcastMs, (memberId) => {
    const member = store.localMemberById(memberId);
    if (member) announceState(member);
  });
  const forgetMotion = (member: Member): void => {
    motions.delete(member.id);
    positions.forget(member.id);
  };
  /** Where a notice about media goes: every node's sockets, or (a cluster) this node's. */
  const thisNode = () => (cluster ? io.local : io);
  const sfu = new SfuRooms(
    { setting: options.media ?? 'mesh', settingFor: (room) => map.mediaFor(room), ...(options.autoMedia ? { auto: options.autoMedia } : {}), meshLimit, sfuLimit, ...(cluster ? { placement: cluster.store } : {}) },
    januses,
    {
      offer: (memberId, offer) => {
        const member = store.localMemberById(memberId);
        if (member) emitTo(member, 'sfu-offer', offer);
      },
      streams: (memberId, streams) => {
        const member = store.localMemberById(memberId);
        if (member) emitTo(member, 'sfu-streams', { streams });
      },
      talking: (memberId, talking) => {
        void store.updateStateById(memberId, { speaking: talking }).then(
          (updated) => updated?.changed && announceState(updated.member),
          (error: Error) => logger.warn('could not record who is talking', { error: error.message }),
        );
      },
      // In a cluster each node tells the members it carries (every node sees the same Janus).
      mediaChanged: (room, media, reason) => {
        thisNode().to(versionRoom(room, 2)).emit('media-changed', { room, media, reason });
        if (media === 'sfu') dismissV1(room);
      },
      mediaUnavailable: (room, reason) => {
        thisNode().to(socketRoom(room)).emit('error-message', { code: 'media-unavailable', message: reason });
      },
      membersOf: (room) => store.localMembersIn(room).map((member) => member.id),
      ...(cluster
        ? {
            roomSize: async (room: string) => (await store.membersIn(room)).length,
            replacedPlacement: (room: string, janus: string) => io.serverSideEmit('sfu-room-placed', { room, janus }),
          }
        : {}),
      // Asked only about members this node drives in Janus: the ones it carries.
      mayForward: (memberId) => {
        const member = store.localMemberById(memberId);
        return member !== null && mayBeHeard(member.state);
      },
      mayListen: (memberId) => {
        const member = store.localMemberById(memberId);
        return member !== null && mayHear(member.state);
      },
    },
    logger,
  );
  /** A member left its room: its media-server handles (on whichever node drives them) and its moves go. */
  const forgetMember = (member: Member): void => {
    sfu.memberLeft(member.room, member.id);
    if (clusterSfu) io.serverSideEmit('sfu-member-left', { room: member.room, id: member.id });
    forgetMotion(member);
  };
  // v1 clients cannot use the SFU: when their room moves there, they are told why and let go
  // (in a cluster each node does so for the members it carries).
  const dismissV1 = (room: string): void => {
    for (const member of store.localMembersIn(room).filter((m) => m.protocolVersion < 2)) {
      const socket = member.socketId === null ? undefined : io.sockets.sockets.get(member.socketId);
      socket?.emit('error-message', { code: 'version-mismatch', message: `room "${room}" now carries audio through the SFU, which protocol v1 clients cannot use; update voxroom` });
      if (member.socketId === null) void store.removeAway(member);
      else void store.leave(member.socketId);
      endGrace(member.id);
      forgetMotion(member);
      if (socket) leaveSocketRooms(socket, member);
      announceLeave(member, 'left');
    }
  };
  if (cluster && januses.some((source) => source.driver && !source.driver.shared)) throw new Error('in a cluster, connect Janus with { shared: true } (JanusDriver.connect): every node\'s members of a room must meet in one Janus room');
  const metrics = new ServerMetrics(() => store.counts());

  const health = async (): Promise<{ ok: boolean } & Record<string, unknown>> => {
    const counts = await store.counts();
    return { ok: counts.cluster?.redis !== 'down', ...counts, ...(cluster ? { node: cluster.nodeId } : {}) };
  };
  const metricsPort = options.metrics?.port;
  const metricsAccess = { token: options.metrics?.token ?? null };
  if (metricsPort === undefined && metricsAccess.token === null) logger.info('GET /metrics answers this machine only (loopback, not forwarded by a proxy); for elsewhere give --metrics-token-file');
  const handler = createRequestHandler({ metrics, metricsAccess: metricsPort === undefined ? metricsAccess : 'elsewhere', trustProxy: options.trustProxy ?? false, health, staticDirs: options.staticDirs ?? DEFAULT_STATIC_DIRS });
  const httpServer: HttpServer = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);

  // Who may connect, checked in allowRequest: before socket.io runs any handler, so a refused
  // handshake costs a header lookup and a map read (a 403 with the reason).
  const gate = new ConnectionGate({ ...DEFAULT_CONNECTION_LIMITS, ...options.connectionLimits });
  const trustProxy = options.trustProxy ?? false;
  const allowOrigins = options.allowOrigins ?? [];
  // Pages served under a name this server's certificate is for are its own (connection-gate.ts).
  const ownNames = options.tls ? certificateNames(new X509Certificate(options.tls.cert)) : [];
  /** Origins refused for being served under a DNS name, told to the operator once each. */
  const warnedOrigins = new Set<string>();
  for (const origin of allowOrigins) if (origin !== '*' && normalOrigin(origin) === null) throw new Error(`allowed origin "${origin}" is not an origin; write it as scheme://host[:port], e.g. https://app.example.org`);
  const addressOf = (request: IncomingMessage): string => clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], trustProxy);
  const io = new Server<ClientToServerEvents, ServerToClientEvents, InterNodeEvents>(httpServer, {
    maxHttpBufferSize: LIMITS.maxTransportBytes,
    // Notice dead peers within ~20 s instead of socket.io's default 45 s.
    pingInterval: 10_000,
    pingTimeout: 10_000,
    // Pages from other origins get CORS headers only when allowed (the server's own page needs none).
    cors: { origin: allowOrigins.includes('*') ? true : allowOrigins.map((origin) => normalOrigin(origin) ?? origin) },
    allowRequest: (request, callback) => {
      const origin = checkOrigin(request.headers.origin, request.headers.host, { allowed: allowOrigins, ownNames });
      if (origin !== 'allowed') {
        metrics.refusedConnections.inc({ reason: 'origin' });
        const page = String(request.headers.origin).slice(0, 100);
        if (origin === 'unlisted-name' && !warnedOrigins.has(page) && warnedOrigins.size < 100) {
          warnedOrigins.add(page);
          logger.warn('refused pages served under a name not allowed', { origin: page, fix: `if this server serves its web client there, start it with --allow-origin ${page} (a page under a DNS name must be listed: DNS rebinding)` });
        }
        return callback(`pages from ${page} may not connect to this server; its operator can allow them with --allow-origin`, false);
      }
      const refusal = gate.check(addressOf(request));
      if (refusal) {
        metrics.refusedConnections.inc({ reason: refusal.reason });
        return callback(refusal.message, false);
      }
      callback(null, true);
    },
    // The web client loads socket.io's browser build from /socket.io/socket.io.min.js.
    serveClient: true,
    // A cluster: rooms and emits reach sockets on every node through Redis.
    ...(cluster ? { adapter: cluster.adapter } : {}),
  });
  // Counted when a connection is established: simultaneous handshakes all pass allowRequest's
  // check, and the ones beyond a limit are closed here, before socket.io's connection handler.
  io.engine.on('connection', (raw: { request: IncomingMessage; close(): void; once(event: 'close', listener: () => void): void }) => {
    const address = addressOf(raw.request);
    const refusal = gate.opened(address);
    if (refusal) {
      metrics.refusedConnections.inc({ reason: refusal.reason });
      raw.close();
      return;
    }
    raw.once('close', () => gate.closed(address));
  });

  // Room events: v2 clients get one small event per change, v1 clients the whole list on each
  // join and leave (and nothing on state changes, which v1 does not know).
  const sendListToV1 = (room: string): void => {
    void store.peersIn(room).then(
      (peers) => io.to(versionRoom(room, 1)).emit('room-users-updated', { room, peers }),
      (error: Error) => logger.warn('could not list a room for v1 clients', { room, error: error.message }),
    );
  };
  const announceJoin = (member: Member): void => {
    io.to(versionRoom(member.room, 2))
      .except(member.socketId ?? [])
      .emit('member-joined', { room: member.room, member: toMemberView(member) });
    sendListToV1(member.room);
  };
  const announceLeave = (member: Member, reason: MemberLeftReason): void => {
    io.to(versionRoom(member.room, 2)).emit('member-left', { room: member.room, id: member.id, reason });
    sendListToV1(member.room);
  };
  const leaveSocketRooms = (socket: { leave(room: string): unknown }, member: Member): void => {
    void socket.leave(socketRoom(member.room));
    void socket.leave(versionRoom(member.room, member.protocolVersion));
  };

  // Abuse is a rate of refusals, not a lifetime total: a long session accumulates a few benign
  // ones (a candidate for a peer that has just left), a flood empties its bucket quickly. Every
  // refusal counts, whichever handler makes it, so no event is a free way to keep the server busy.
  const refusalBuckets = new WeakMap<VoxSocket, TokenBucket>();
  const refuse = (socket: VoxSocket, code: ErrorCode, message: string, ack?: Ack<{ ok: false; error: ProtocolError }>): void => {
    metrics.rejected.inc({ code });
    logger.debug('refused message', { socket: socket.id, code, message });
    const error = { code, message };
    if (ack) ack({ ok: false, error });
    else socket.emit('error-message', error);
    const refusals = refusalBuckets.get(socket);
    if (refusals && !refusals.take(Date.now()) && socket.connected) {
      logger.warn('disconnecting a socket that keeps sending refused events', { socket: socket.id, code });
      metrics.floodDisconnects.inc();
      socket.disconnect(true);
    }
  };

  /** An away member's grace ran out (here, or noticed by this node's sweep of the cluster). */
  const memberGone = (gone: Member): void => {
    forgetMember(gone);
    logger.info('peer disconnected', { room: gone.room, name: gone.name, id: gone.id, reason: 'did not resume in time' });
    announceLeave(gone, 'disconnected');
  };
  store.subscribe({
    away: (member) => {
      logger.info('peer away (its node stopped answering)', { room: member.room, name: member.name, id: member.id });
      announceState(member);
    },
    gone: memberGone,
    restored: (member) => announceJoin(member),
    returned: (member) => {
      logger.info('peer back (its node answers again)', { room: member.room, name: member.name, id: member.id });
      announceState(member);
    },
    // Its place went to a newcomer while Redis had lost it: it rejoins like one (renamed, or
    // refused if the room is full), its client reconnecting by itself.
    displaced: (member, socketId) => {
      logger.info('peer displaced (Redis lost it, and its name or seat was taken meanwhile); it rejoins', { room: member.room, name: member.name, id: member.id });
      // Its roommates knew it before Redis forgot it: it leaves (media and all), and comes back as the join makes it.
      const socket = io.sockets.sockets.get(socketId);
      if (socket) leaveSocketRooms(socket, member);
      forgetMember(member);
      announceLeave(member, 'disconnected');
      socket?.disconnect(true);
    },
    capacityOf: (room) => sfu.capacityFor(room, store.localMembersIn(room).length),
  });
  cluster?.start(resumeGraceMs);
  // Signals from other nodes' members to this node's (RoomStore.relaySignal wrote them).
  cluster?.inbox.start((socketId, signal) => {
    const socket = io.sockets.sockets.get(socketId);
    if (socket) socket.emit('signal', signal);
    // Its member resumed on another socket since: a signal to the old one is lost, as any would be.
    else logger.debug('a relayed signal for a socket no longer here', { socket: socketId, from: signal.from });
  });

  /**
   * Runs a handler that waits for the room store; the cluster's Redis being away is refused as
   * `unavailable` (retryable), anything else is logged.
   */
  const settle = (socket: VoxSocket, what: string, ack: Ack<{ ok: false; error: ProtocolError }> | undefined, handler: () => Promise<void>): void => {
    handler().catch((error: Error) => {
      if (error instanceof StoreUnavailableError) return refuse(socket, 'unavailable', `${what}: ${error.message}`, ack);
      logger.error(`${what} failed`, { socket: socket.id, error: error.message });
    });
  };

  // A cluster: other nodes' changes to members whose media this node drives (protocol.ts).
  const fromNode = <T>(schema: z.ZodType<T>, handle: (info: T) => void) => (raw: unknown): void => {
    const parsed = schema.safeParse(raw);
    if (parsed.success) handle(parsed.data);
    else logger.warn('ignored a malformed message from another node', { error: describeIssues(parsed.error) });
  };
  if (clusterSfu) {
    io.on('sfu-member-left', fromNode(NodeMemberLeftSchema, ({ room, id }) => sfu.memberLeftElsewhere(room, id)));
    io.on('sfu-member-moved', fromNode(NodeMemberMovedSchema, ({ id, claimed }) => sfu.memberMoved(id, claimed)));
    io.on('sfu-room-placed', fromNode(NodeRoomPlacedSchema, ({ room, janus }) => sfu.roomPlaced(room, janus)));
    io.on(
      'sfu-member-state',
      fromNode(NodeMemberStateSchema, ({ id, state }) => {
        store.refreshLocalCopy(id, { serverMuted: state.serverMuted });
        sfu.forwardingChanged(id, { forwarded: mayBeHeard(state), listening: mayHear(state) });
      }),
    );
  }

  io.on('connection', (socket: VoxSocket) => {
    const events = new TokenBucket(LIMITS.eventsPerSecond, LIMITS.eventBurst, Date.now());
    const joins = new TokenBucket(LIMITS.joinsPerSecond, LIMITS.joinBurst, Date.now());
    refusalBuckets.set(socket, new TokenBucket(LIMITS.refusalsPerSecond, LIMITS.maxRefusedBeforeDisconnect, Date.now()));
    logger.debug('socket connected', { socket: socket.id, address: socket.handshake.address });
    // Membership changes of one socket (join, leave, its disconnect) run one at a time in the
    // order they came, also while a token is checked or the cluster's Redis answers.
    let membershipChanges: Promise<void> = Promise.resolve();
    // Time-limited TURN credentials expire; a member in the room gets fresh ones before they do.
    let iceRefresh: NodeJS.Timeout | null = null;
    const stopIceRefresh = (): void => {
      if (iceRefresh) clearInterval(iceRefresh);
      iceRefresh = null;
    };
    const startIceRefresh = (): void => {
      stopIceRefresh();
      // Gone while the room store answered: its disconnect has already stopped the refresh.
      if (iceRefreshMs === null || !socket.connected) return;
      iceRefresh = setInterval(() => {
        const member = store.memberOf(socket.id);
        if (!member || !socket.connected) return stopIceRefresh();
        socket.emit('ice-servers', { iceServers: iceServersFor(ice, member.name, Date.now()) });
      }, iceRefreshMs);
      iceRefresh.unref();
    };
    const inOrder = (what: string, change: () => Promise<void>): void => {
      membershipChanges = membershipChanges.then(change).catch((error: Error) => logger.error(`${what} failed`, { socket: socket.id, error: error.message }));
    };

    // Gatekeeper for every incoming packet: known event and rate. Size is bounded twice without
    // re-serializing anything: the transport refuses packets over maxTransportBytes, and every
    // schema is strict with a maximum length on each field (an over-long one is payload-too-large).
    socket.use((packet, next) => {
      const [event, ...args] = packet as unknown[];
      const ack = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as Ack<{ ok: false; error: ProtocolError }>) : undefined;
      const fail = (code: ErrorCode, message: string): void => refuse(socket, code, message, ack);
      if (typeof event !== 'string' || !CLIENT_EVENTS.has(event)) {
        return fail('unknown-event', `unknown event ${JSON.stringify(String(event)).slice(0, 80)}; this server accepts ${[...CLIENT_EVENTS].join(', ')}`);
      }
      if (!events.take(Date.now())) return fail('rate-limited', `too many messages; at most ${LIMITS.eventsPerSecond} per second are accepted`);
      if (event === 'join' && !joins.take(Date.now())) return fail('rate-limited', `too many joins; at most ${LIMITS.joinsPerSecond} per second after a burst of ${LIMITS.joinBurst}`);
      if (delays) setTimeout(() => socket.connected && next(), delays.delayFor(socket.id));
      else next();
    });

    socket.on('join', (...args: unknown[]) => {
      const ack = extractAck<JoinAck>(args);
      const parsed = JoinRequestSchema.safeParse(args[0]);
      if (!parsed.success && tooBig(parsed.error)) return refuse(socket, 'payload-too-large', `join payload too large: ${describeIssues(parsed.error)}`, ack);
      if (!parsed.success) {
        const version = (args[0] as { v?: unknown } | null)?.v;
        if (typeof version === 'number' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return refuse(socket, 'version-mismatch', versionMismatch(version), ack);
        return refuse(socket, 'bad-request', `invalid join: ${describeIssues(parsed.error)}`, ack);
      }
      const request = parsed.data;
      if (!SUPPORTED_PROTOCOL_VERSIONS.includes(request.v)) return refuse(socket, 'version-mismatch', versionMismatch(request.v), ack);
      if (!tokens) return inOrder('a join', () => admit(request, { name: request.name, grants: OPEN_SERVER_GRANTS, ownsName: false }, ack));
      if (request.v < 2) return refuse(socket, 'version-mismatch', 'this server admits only members with a room token, which protocol v1 clients cannot send; update voxroom', ack);
      inOrder('a join', async () => {
        const check = await tokens.verify(request.token, request.room);
        if (!check.ok) {
          logger.info('refused a room token', { socket: socket.id, room: request.room, reason: check.reason });
          return refuse(socket, errorCodeFor(check.reason), check.message, ack);
        }
        await admit(request, { name: check.claims.name, grants: check.claims.grants, ownsName: true }, ack);
      });
    });

    /** Puts the socket in the room under `identity` (checked: a token's, or on an open server the requested one). */
    const admit = async (request: JoinRequest, identity: { name: string; grants: readonly Grant[]; ownsName: boolean }, ack: Ack<JoinAck> | undefined): Promise<void> => {
      // The socket may have gone while its token was checked: then there is no one to admit.
      if (!socket.connected) return;
      if (request.v < 2 && sfu.mediaAfterJoin(request.room, store.localMembersIn(request.room).length + 1) === 'sfu') {
        return refuse(socket, 'version-mismatch', `room "${request.room}" carries audio through the SFU, which protocol v1 clients cannot use; update voxroom`, ack);
      }
      // Spatial rooms (with a map): where the newcomer stands. A resumed session keeps its place.
      const layout = map.layoutFor(request.room);
      let position: Position | undefined;
      if (layout) {
        const entry = entryPosition(layout, request.at);
        if (!entry.ok) return refuse(socket, entry.code, `cannot enter room "${request.room}" there: ${entry.message}`, ack);
        position = entry.position;
      } else if (request.at) {
        return refuse(socket, 'not-spatial', `room "${request.room}" has no map, so there is nowhere to stand; join without a place (--at/--position), or ask the operator for a map (voxroom serve --map)`, ack);
      }
      const previous = store.memberOf(socket.id);
      const capacity = sfu.capacityFor(request.room, store.localMembersIn(request.room).length + 1);
      const verified = request.resume === undefined ? null : resumeTokens.verify(request.resume, Date.now());
      if (verified && !verified.ok) logger.info('resume token not accepted; joining as a new member', { room: request.room, reason: verified.reason });
      const claim = verified?.ok ? verified.claim : null;
      let outcome;
      try {
        outcome = await store.join(socket.id, request.room, identity.name, { resume: claim, protocolVersion: request.v, capacity, grants: identity.grants, ownsName: identity.ownsName, ...(position ? { position } : {}) });
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        logger.warn('refused a join: the room store is unavailable', { room: request.room, error: error.message });
        return refuse(socket, 'unavailable', `${error.message} (room "${request.room}"); this is temporary: join again in a few seconds, or through another server`, ack);
      }
      if (!outcome.ok && outcome.reason === 'kicked') {
        return refuse(socket, 'kicked', `an admin removed you from room "${request.room}", so your place there cannot be taken back; join again without resuming if your token allows it`, ack);
      }
      if (!outcome.ok) {
        const why = januses.length > 0 && capacity === meshLimit && capacity < sfuLimit ? ' while it is a direct mesh (its media server is unavailable)' : '';
        return refuse(socket, 'room-full', `room "${request.room}" is full (${capacity} peers${why}); try another room or ask the operator to raise --max-peers`, ack);
      }
      const { member, renamed, resumed, staleSocketId, replaced } = outcome;
      let others = outcome.others;
      if (previous && previous.id !== member.id) {
        leaveSocketRooms(socket, previous);
        forgetMember(previous);
        endGrace(previous.id);
        announceLeave(previous, 'left');
      }
      if (staleSocketId !== null) {
        // The member came back on a new socket before its old one was noticed closing.
        const staleSocket = io.sockets.sockets.get(staleSocketId);
        if (staleSocket) {
          leaveSocketRooms(staleSocket, member);
          staleSocket.disconnect(true);
        } else if (cluster) {
          // It is on another node: the adapter carries the disconnect there.
          io.in(staleSocketId).disconnectSockets(true);
        }
      }
      if (replaced) {
        endGrace(replaced.id);
        const replacedSocket = replaced.socketId === null ? undefined : io.sockets.sockets.get(replaced.socketId);
        const notice = { room: replaced.room, message: `another session joined room "${replaced.room}" as "${replaced.name}" (the name in its room token), so this one has left the room; a name has one session at a time` };
        if (replacedSocket) {
          leaveSocketRooms(replacedSocket, replaced);
          replacedSocket.emit('session-replaced', notice);
          replacedSocket.disconnect(true);
        } else if (cluster && replaced.socketId !== null) {
          io.to(replaced.socketId).emit('session-replaced', notice);
          io.in(replaced.socketId).disconnectSockets(true);
        }
        forgetMember(replaced);
        announceLeave(replaced, 'replaced');
        logger.info('session replaced by a namesake', { room: member.room, name: member.name, replaced: replaced.id });
      }
      endGrace(member.id);
      // A member back in its place keeps its media path (its SFU handles were kept while away);
      // a new or restored one starts its own, and the room may move to the SFU with it. One back
      // through another node of a cluster keeps its path too when this node can claim its Janus
      // session (the node that drove it died, or lets it go when told); otherwise it publishes
      // afresh, make-before-break (the other node lets its handles go 5 s later, by when the new
      // path normally carries it).
      const roomMedia = sfu.mediaForReturn(member.room, store.localMembersIn(member.room).length);
      let keepsMedia = resumed === 'rebound' && (roomMedia === 'mesh' || sfu.isSfuMember(member.id));
      // Set when the join may wait below (a cluster with Janus: the Janus record, the room's
      // placement, a claim): the room may change meanwhile, unseen by the member, whose socket
      // joins its rooms only after them. (Elsewhere nothing waits: no second Redis read.)
      const waitsBeforeAck = clusterSfu && !keepsMedia;
      const handoff = clusterSfu && resumed === 'rebound' && !keepsMedia ? await cluster.store.janusHandoff(member.room, member.id).catch(() => null) : null;
      if (handoff) sfu.expectAdoption(member.id, handoff);
      let media = keepsMedia ? roomMedia : sfu.memberJoined(member.room, member.id);
      // A cluster's room asks Redis which Janus it is on: the ack waits (a Redis round trip, 2 s
      // at most), so the member is in that Janus room before it publishes.
      if (cluster && !keepsMedia) {
        await sfu.whenPlaced(member.room);
        media = sfu.mediaOf(member.room);
      }
      // (A claim is one Janus round trip, and the ack says whether the peer keeps its connections.)
      const claimed = handoff !== null && (await sfu.adopted(member.id));
      if (claimed) keepsMedia = true;
      const waitsForJanus = cluster !== null && media === 'sfu' && !sfu.isSfuMember(member.id);
      // Its token (and so its speak grant) may differ from the one it had before.
      if (keepsMedia) sfu.forwardingChanged(member.id);
      if (clusterSfu && media === 'sfu') {
        if (resumed === 'rebound') io.serverSideEmit('sfu-member-moved', { id: member.id, claimed });
        // Every node learns whether it may be heard, before its feed reaches their listeners.
        io.serverSideEmit('sfu-member-state', { id: member.id, state: member.state });
      }
      // After waiting (up to 4 s: placement and a claim), the ack lists the room as it is now,
      // read just before the socket joins its rooms: a change made while it waited is in the
      // list or comes as an event (or both: a member known already is only updated).
      if (waitsBeforeAck) {
        others = await store.membersIn(member.room).then(
          (members) => members.filter((other) => other.id !== member.id).map(toMemberView),
          () => others,
        );
      }
      if (layout && !motions.has(member.id)) motions.set(member.id, new MemberMotion(Date.now()));
      void socket.join([socketRoom(member.room), versionRoom(member.room, member.protocolVersion)]);
      metrics.joins.inc();
      logger.info(resumed ? 'peer resumed' : 'peer joined', { room: member.room, name: member.name, id: member.id, v: member.protocolVersion, ...(resumed ? { resumed } : {}) });
      // ICE servers (TURN credentials among them) go to admitted members only: this ack is the one place.
      const accepted = {
        ok: true as const,
        map: map.layoutFor(member.room),
        iceServers: iceServersFor(ice, member.name, Date.now()),
        resume: resumeTokens.issue({ room: member.room, id: member.id, name: member.name }, Date.now()),
        resumed: resumed !== null,
        resumeGraceMs,
        mediaKept: resumed !== null && (media === 'mesh' || keepsMedia),
        renamed,
      };
      // The ack goes out before any room event about the newcomer: clients rely on the order.
      if (member.protocolVersion === 1) (ack as Ack<JoinAckV1> | undefined)?.({ ...accepted, self: toPeerInfo(member), peers: others.map(toPeerInfo) });
      else ack?.({ ...accepted, self: toMemberView(member), peers: others, media });
      startIceRefresh();
      // Its room's Janus is one this node cannot reach now: told after the ack, as its roommates here were.
      if (waitsForJanus) socket.emit('error-message', { code: 'media-unavailable', message: `room "${member.room}": its media server cannot be reached from this server now; wait for it, or join through another server` });
      // Roommates of a member back in its place see it return (away: false), not a newcomer.
      if (resumed === 'rebound') announceState(member);
      else announceJoin(member);
      // Back with a token that no longer lets it be heard: it does not show as speaking either.
      if (resumed !== null && member.state.speaking && !mayBeHeard(member.state)) {
        const cleared = await store.updateStateOf(member, { speaking: false });
        if (cleared?.changed) announceState(cleared.member);
      }
    };

    socket.on('update-state', (...args: unknown[]) => {
      const ack = extractAck<{ ok: true } | { ok: false; error: ProtocolError }>(args);
      const parsed = MemberStatePatchSchema.safeParse(args[0]);
      if (!parsed.success) return refuse(socket, 'bad-request', `invalid update-state: ${describeIssues(parsed.error)}`, ack);
      const current = store.memberOf(socket.id);
      // In SFU rooms Janus says who speaks; a member who may not be heard never shows as speaking.
      const patch = current && sfu.isSfuMember(current.id) ? { ...parsed.data, speaking: undefined } : current && !mayBeHeard(current.state) && parsed.data.speaking ? { ...parsed.data, speaking: false } : parsed.data;
      settle(socket, 'update-state', ack, async () => {
        const updated = await store.updateState(socket.id, patch);
        if (!updated) return refuse(socket, 'not-in-room', 'join a room before changing your state', ack);
        if (updated.changed) announceState(updated.member);
        ack?.({ ok: true });
      });
    });

    /** The sender, if it is in a room and holds the admin grant; otherwise refuses and returns null. */
    const adminOf = (action: string, ack: Ack<AdminAck> | undefined): Member | null => {
      const admin = store.memberOf(socket.id);
      if (!admin) {
        refuse(socket, 'not-in-room', `join a room before you ${action}`, ack);
        return null;
      }
      if (!admin.state.grants.includes('admin')) {
        refuse(socket, 'not-admin', `only admins may ${action}: your room token lacks the admin grant; ask whoever mints tokens for one with --grant speak,listen,admin`, ack);
        return null;
      }
      return admin;
    };

    // Admin actions go through the store: in a cluster the target may be carried by another node
    // (its socket is then reached through the adapter), and the kick's deny-list is in Redis.
    socket.on('kick', (...args: unknown[]) => {
      const ack = extractAck<AdminAck>(args);
      const parsed = KickRequestSchema.safeParse(args[0]);
      if (!parsed.success) return refuse(socket, tooBig(parsed.error) ? 'payload-too-large' : 'bad-request', `invalid kick: ${describeIssues(parsed.error)}; send { id } of a roommate`, ack);
      const admin = adminOf('kick a member', ack);
      if (!admin) return;
      const unknown = (): void => refuse(socket, 'unknown-peer', `no other member "${parsed.data.id}" in room "${admin.room}"`, ack);
      settle(socket, 'kick', ack, async () => {
        const found = await store.roommate(socket.id, parsed.data.id);
        if (!found) return unknown();
        const target = await store.kick(found);
        if (!target) return unknown();
        endGrace(target.id);
        forgetMember(target);
        const notice = { room: target.room, message: `an admin (${admin.name}) removed you from room "${target.room}"; you cannot resume this place` };
        const targetSocket = target.socketId === null ? undefined : io.sockets.sockets.get(target.socketId);
        if (targetSocket) {
          leaveSocketRooms(targetSocket, target);
          targetSocket.emit('kicked', notice);
          targetSocket.disconnect(true);
        } else if (cluster && target.socketId !== null) {
          // Carried by another node: the adapter carries these there, in this order.
          io.in(target.socketId).socketsLeave([socketRoom(target.room), versionRoom(target.room, target.protocolVersion)]);
          io.to(target.socketId).emit('kicked', notice);
          io.in(target.socketId).disconnectSockets(true);
        }
        logger.info('member kicked', { room: target.room, name: target.name, id: target.id, by: admin.name });
        ack?.({ ok: true });
        announceLeave(target, 'kicked');
      });
    });

    socket.on('server-mute', (...args: unknown[]) => {
      const ack = extractAck<AdminAck>(args);
      const parsed = ServerMuteRequestSchema.safeParse(args[0]);
      if (!parsed.success) return refuse(socket, tooBig(parsed.error) ? 'payload-too-large' : 'bad-request', `invalid server-mute: ${describeIssues(parsed.error)}; send { id, muted }`, ack);
      const admin = adminOf(parsed.data.muted ? 'server-mute a member' : 'server-unmute a member', ack);
      if (!admin) return;
      settle(socket, 'server-mute', ack, async () => {
        const target = await store.roommate(socket.id, parsed.data.id);
        if (!target) return refuse(socket, 'unknown-peer', `no other member "${parsed.data.id}" in room "${admin.room}"`, ack);
        // Kept in the member's state in the store (Redis in a cluster): it outlasts a resume.
        const updated = await store.updateStateOf(target, { serverMuted: parsed.data.muted, ...(parsed.data.muted ? { speaking: false } : {}) });
        if (updated?.changed) {
          sfu.forwardingChanged(target.id, { forwarded: mayBeHeard(updated.member.state), listening: mayHear(updated.member.state) });
          // Carried by another node: that node drives its Janus handles.
          if (clusterSfu) io.serverSideEmit('sfu-member-state', { id: target.id, state: updated.member.state });
          announceState(updated.member);
          logger.info(parsed.data.muted ? 'member server-muted' : 'member server-unmuted', { room: target.room, name: target.name, id: target.id, by: admin.name });
        }
        ack?.({ ok: true });
      });
    });

    socket.on('move', (...args: unknown[]) => {
      const ack = extractAck<MoveAck>(args);
      const parsed = MoveRequestSchema.safeParse(args[0]);
      if (!parsed.success) return refuse(socket, 'bad-request', `invalid move: ${describeIssues(parsed.error)}; send { x, y }, { spot } or { facing }`, ack);
      const member = store.memberOf(socket.id);
      if (!member) return refuse(socket, 'not-in-room', 'join a room before moving', ack);
      const layout = map.layoutFor(member.room);
      const motion = motions.get(member.id);
      if (!layout || !member.state.position || !motion) return refuse(socket, 'not-spatial', `room "${member.room}" has no map, so there is nowhere to move`, ack);
      const outcome = motion.move(layout, member.state.position, parsed.data, Date.now());
      if (!outcome.ok) return refuse(socket, outcome.code, outcome.message, ack);
      settle(socket, 'move', ack, async () => {
        if ((await store.updateState(socket.id, { position: outcome.position }))?.changed) positions.changed(member.id);
        ack?.({ ok: true, position: { ...outcome.position }, shortened: outcome.shortened });
      });
    });

    // SFU rooms: the peer's two connections (publisher, subscriber) are negotiated with Janus
    // through these events; the server checks shape and size, and hands the SDP to Janus.
    const onSfuEvent = <S extends z.ZodType, R extends { ok: true }>(event: 'sfu-publish' | 'sfu-answer' | 'sfu-candidate', schema: S, act: (driver: JanusDriver, member: Member, request: z.infer<S>) => Promise<R>): void => {
      socket.on(event, (...args: unknown[]) => {
        const ack = extractAck<R | { ok: false; error: ProtocolError }>(args);
        const parsed = schema.safeParse(args[0]);
        if (!parsed.success) return refuse(socket, tooBig(parsed.error) ? 'payload-too-large' : 'bad-request', `invalid ${event}: ${describeIssues(parsed.error)}`, ack);
        const member = store.memberOf(socket.id);
        if (!member) return refuse(socket, 'not-in-room', 'join a room first', ack);
        if (!sfu.isSfuMember(member.id)) return refuse(socket, 'not-sfu', `room "${member.room}" does not carry audio through the SFU now; negotiate with your roommates through signal`, ack);
        act(sfu.driverFor(member.id), member, parsed.data).then(
          (result) => ack?.(result),
          (error: Error) => refuse(socket, 'media-unavailable', `the media server: ${error.message}`, ack),
        );
      });
    };
    onSfuEvent('sfu-publish', SfuPublishSchema, async (driver, member, { sdp }) => ({ ok: true as const, sdp: await driver.publish(member.id, sdp) }));
    onSfuEvent('sfu-answer', SfuSdpSchema, async (driver, member, { sdp }) => {
      await driver.answer(member.id, sdp);
      return { ok: true as const };
    });
    onSfuEvent('sfu-candidate', SfuCandidateSchema, async (driver, member, { target, candidate }) => {
      await driver.trickle(member.id, target, candidate && { candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null });
      return { ok: true as const };
    });

    socket.on('signal', (...args: unknown[]) => {
      const ack = extractAck<{ ok: true } | { ok: false; error: ProtocolError }>(args);
      const parsed = SignalRequestSchema.safeParse(args[0]);
      if (!parsed.success) {
        const code = tooBig(parsed.error) ? 'payload-too-large' : 'bad-request';
        return refuse(socket, code, `${code === 'payload-too-large' ? 'signal too large' : 'invalid signal'}: ${describeIssues(parsed.error)}`, ack);
      }
      const sender = store.memberOf(socket.id);
      if (!sender) return refuse(socket, 'not-in-room', 'join a room before sending signals', ack);
      settle(socket, 'signal', ack, async () => relay(sender, parsed.data, ack));
    });
    const relay = async (sender: Member, request: SignalRequest, ack: Ack<{ ok: true } | { ok: false; error: ProtocolError }> | undefined): Promise<void> => {
      const { data } = request;
      if (offersToDrop > 0 && 'description' in data && data.description.type === 'offer') {
        // A test setting: only an offer that would have been delivered counts as dropped.
        const target = await store.roommate(socket.id, request.to);
        if (target?.socketId) {
          offersToDrop--;
          logger.warn('dropping an offer (injected fault)', { from: sender.name, to: target.name });
          return ack?.({ ok: true });
        }
      }
      const signal = { from: sender.id, data };
      const { target, forwarded } = await store.relaySignal(socket.id, request.to, signal);
      if (!target) return refuse(socket, 'unknown-peer', `no peer "${request.to}" in room "${sender.room}"`, ack);
      if (target.socketId === null) return refuse(socket, 'peer-away', `${target.name} is away (its connection to the server is lost); send again when it is back (member-updated, away: false)`, ack);
      if (!forwarded) emitTo(target, 'signal', signal);
      metrics.signalsRelayed.inc();
      ack?.({ ok: true });
    };

    socket.on('leave', (...args: unknown[]) => {
      const ack = extractAck<{ ok: true } | { ok: false; error: ProtocolError }>(args);
      inOrder('a leave', async () => {
        const local = store.memberOf(socket.id);
        const member = await store.leave(socket.id).catch((error: Error) => {
          // Redis is away: the socket leaves here at once; Redis forgets the member with its grace.
          if (error instanceof StoreUnavailableError) return local;
          throw error;
        });
        if (!member) return refuse(socket, 'not-in-room', 'not in a room', ack);
        endGrace(member.id);
        stopIceRefresh();
        leaveSocketRooms(socket, member);
        forgetMember(member);
        logger.info('peer left', { room: member.room, name: member.name, id: member.id });
        ack?.({ ok: true });
        announceLeave(member, 'left');
      });
    });

    // A closed socket is not a member leaving: its media may flow on (peer to peer, or through
    // Janus), and it comes back with its resume token. It is away until then, for the grace.
    socket.on('disconnect', (reason) => {
      delays?.forget(socket.id);
      stopIceRefresh();
      logger.debug('socket disconnected', { socket: socket.id, reason });
      inOrder('marking a member away', async () => {
        const member = await store.markAway(socket.id, resumeGraceMs);
        if (!member) return;
        // It walks on with a new one where it resumes, here or (a cluster) on another node,
        // which would leave this one here for good.
        forgetMotion(member);
        logger.info('peer away', { room: member.room, name: member.name, id: member.id, reason, graceMs: resumeGraceMs });
        announceState(member);
        endGrace(member.id);
        const timer = setTimeout(() => {
          graceTimers.delete(member.id);
          void store.removeAway(member).then(
            (gone) => gone && memberGone(gone),
            (error: Error) => logger.warn('could not end an away member (the cluster sweeps it later)', { id: member.id, error: error.message }),
          );
        }, resumeGraceMs);
        timer.unref();
        graceTimers.set(member.id, timer);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      httpServer.off('listening', onListening);
      reject(listenError(error, options));
    };
    const onListening = (): void => {
      httpServer.off('error', onError);
      resolve();
    };
    httpServer.once('error', onError);
    httpServer.once('listening', onListening);
    httpServer.listen(options.port, options.host ?? '127.0.0.1');
  });
  httpServer.on('error', (error) => logger.error('http server error', { error: error.message }));
  // Metrics on their own port listen on loopback only: for a scraper on this machine (or a tunnel).
  const metricsServer = metricsPort === undefined ? null : createHttpServer(createRequestHandler({ metrics, metricsAccess, trustProxy: options.trustProxy ?? false, health, staticDirs: [] }));
  if (metricsServer) {
    await new Promise<void>((resolve, reject) => {
      metricsServer.once('error', (error: NodeJS.ErrnoException) => {
        httpServer.close();
        reject(listenError(error, { port: metricsPort!, host: '127.0.0.1' }, '--metrics-port'));
      });
      metricsServer.listen(metricsPort, '127.0.0.1', () => resolve());
    });
  }
  const metricsUrl = metricsServer ? `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics` : null;

  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${options.tls ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;

  let closing: Promise<void> | null = null;
  return {
    url,
    port: address.port,
    metricsUrl,
    close: () => {
      closing ??= (async () => {
        for (const id of [...graceTimers.keys()]) endGrace(id);
        positions.close();
        await sfu.close();
        // This node's sockets only: in a cluster a plain emit would reach every node's.
        io.local.emit('server-shutdown', { message: 'the server is shutting down' });
        // Let the notice reach clients before their sockets close.
        await new Promise((resolve) => setTimeout(resolve, 50));
        const closed = new Promise<void>((resolve) => io.close(() => resolve()));
        // io.close() ends with httpServer.close(), which waits for every open HTTP connection:
        // a browser tab's keep-alive connection would hold shutdown up. End them now.
        httpServer.closeAllConnections();
        await closed;
        if (metricsServer) {
          metricsServer.closeAllConnections();
          await new Promise((resolve) => metricsServer.close(resolve));
        }
        // Its members' sockets closed above (away, for another node to take back): now the node goes.
        await cluster?.close();
        await kickedFile?.flushed();
      })();
      return closing;
    },
  };
}

/** A field over its maximum length (an SDP over 48 KiB, say), as opposed to a wrong shape. */
function tooBig(error: ZodError): boolean {
  const walk = (issues: readonly unknown[]): boolean =>
    issues.some((issue) => {
      const i = issue as { code?: string; errors?: unknown[][] };
      return i.code === 'too_big' || (i.code === 'invalid_union' && (i.errors ?? []).some((branch) => walk(branch)));
    });
  return walk(error.issues);
}

function extractAck<T>(args: unknown[]): Ack<T> | undefined {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as Ack<T>) : undefined;
}

function listenError(error: NodeJS.ErrnoException, options: { port: number; host?: string }, flag = '--port'): Error {
  const where = `${options.host ?? '127.0.0.1'}:${options.port}`;
  if (error.code === 'EADDRINUSE') return new Error(`port ${options.port} is already in use on ${options.host ?? '127.0.0.1'}; stop the other program or pick another port with ${flag}`);
  if (error.code === 'EACCES') return new Error(`not allowed to listen on ${where}; ports below 1024 need privileges, pick another with ${flag}`);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') return new Error(`cannot listen on ${where}: no such local address; check --host`);
  return new Error(`cannot listen on ${where}: ${error.message}`);
}
