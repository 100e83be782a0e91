// The library entry point: `import { VoicePeer, startSignallingServer, … } from 'voxroom'`.
// Everything a program needs to run a server and headless peers and to feed and read their
// audio, and nothing else: the CLI, device workers and benchmarks stay internal, so their
// modules can change without breaking users.

// Peers
export { VoicePeer, type VoicePeerOptions, type VoicePeerEvents, type PeerStatus } from './peer/voice-peer.js';
export { AdminError, JoinError, MoveError, type JoinedRoom } from './peer/signalling-client.js';
export type { RTCPeerConnectionState } from './peer/wrtc.js';

// Audio: one format (48 kHz mono Int16, 10 ms frames), sources and sinks of it
export { SAMPLE_RATE, FRAME_MS, FRAME_SAMPLES, FRAMES_PER_SECOND, type Frame, type MixFrame, type ChannelCount } from './audio/format.js';
// Spatial rooms: how a listener hears a speaker from where both stand (the same laws as the web client)
export { hear, hearingRules, equalPowerPan, inverseDistanceGain, edgeFade, SPATIAL_DEFAULTS, type Hearing, type HearingRules, type Pose, type Point, type Zone } from './audio/spatial.js';
export { SilenceSource, NullSink, type AudioSource, type AudioSink, type BackendFailureHandler } from './audio/backend.js';
export { ToneSource } from './audio/tone-source.js';
export { WavFileSource } from './audio/wav-file-source.js';
export { WavFileSink } from './audio/wav-writer.js';
export { MemorySink, type MemorySinkOptions } from './audio/memory-sink.js';
// Measuring what a sink heard (Goertzel tone level, RMS, dBFS).
export { toneLevel, toneAmplitude, rms, dbfs } from './audio/analysis.js';

// Listening along with a peer's audio (VoicePeerOptions.observer)
export type { MixObserver, ObservedInput } from './audio/mix-observer.js';

// Scenarios and expectations: bots that check themselves (README, "Use in CI")
export { loadScenario, parseScenario, ScenarioError, type Scenario, type BotPlan } from './scenario/scenario-file.js';
export { runScenario, type ScenarioResult, type ScenarioProgress, type ScenarioRunOptions } from './scenario/scenario-runner.js';
export { parseStatement, type Expectation } from './scenario/expectation.js';
export { ExpectationSet } from './scenario/expectation-set.js';
export type { Verdict } from './scenario/verdict.js';
export { junitXml } from './scenario/junit-report.js';

// Server
export { startSignallingServer, type SignallingServerOptions, type RunningServer } from './server/signalling-server.js';
export { RoomMap } from './server/room-map.js';
export type { IceConfig, TurnAuth } from './server/ice-config.js';
// Room tokens: a server given a verifier (`tokens`) admits only members with a token it accepts.
export { RoomTokenSigner, RoomTokenVerifier, TOKEN_AUDIENCE, TOKEN_CLOCK_LEEWAY_SECONDS, type TokenVerifier, type TokenCheck, type TokenFailureReason, type RoomScope, type RoomTokenClaims } from './server/room-tokens.js';

// Wire protocol (PROTOCOL.md), for programs that talk to a server themselves
export { PROTOCOL_VERSION, GRANTS, type Grant, type Member, type MemberState, type PeerInfo, type RoomLayout, type Position, type Place, type MoveRequest, type IceServer, type ErrorCode, type ProtocolError, type JoinAck, type SignalData, type ClientToServerEvents, type ServerToClientEvents } from './protocol.js';

// Logging: VoicePeer and the server are silent unless given a logger.
export { createLogger, type Logger, type LoggerOptions, type LogLevel } from './log.js';
