// `voxroom join <room>`: a headless peer from the command line, controlled by flags, by lines on
// standard input, and stopped by --duration, `quit`, the end of its input file, or a signal.
import { parsePtimeSetting } from '../peer/ptime-policy.js';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ROOM_ID_PATTERN, type Member, type MemberLeftReason, type MemberState, type Place, type Position } from '../protocol.js';
import { createLogger, type Logger } from '../log.js';
import { SOURCE_FORMS, parseSinkSpec, parseSourceSpec, type SinkSpec, type SourceSpec } from '../audio/backend-spec.js';
import { openSink, openSource } from '../audio/open-backend.js';
import { SilenceSource, type AudioSink, type AudioSource } from '../audio/backend.js';
import { LATENCY_PRESETS, parseLatency, type LatencySettings } from '../audio/device/latency.js';
import { DeviceError } from '../audio/device/device-error.js';
import { EchoCanceller, EchoCancellerUnavailable, planProcessing, type ProcessingPlan } from '../audio/device/echo-canceller.js';
import { CONTROL_HELP, parseControlLine } from '../peer/control-commands.js';
import { DEVICE_FAILURE, INTERNAL_FAULT, VoicePeer } from '../peer/voice-peer.js';
import { DEFAULT_RECONNECT_TIMEOUT_MS, JoinError, MoveError } from '../peer/signalling-client.js';
import { raiseMixingPriority } from '../audio/mixing-priority.js';
import { collect, noHighPriorityOption, parsePositiveSeconds } from './options.js';
import { UsageError, onShutdownSignal } from './process.js';
import { Output } from './output.js';
import { EXIT_CODES, ExitError, exitCodeForServerFailure, type ExitCode } from './exit-codes.js';
import { FAULT_EXIT_DEADLINE_MS, watchForInternalFaults } from './fault-guard.js';
import { MessageLog } from './message-log.js';
import { exitCodeFor, printVerdicts, writeJunitReport } from './verdict-output.js';
import { ExpectationSyntaxError, parseExpectFlag, parseExpectSilenceFlag } from '../scenario/expectation.js';
import { ExpectationSet } from '../scenario/expectation-set.js';

interface JoinFlags {
  highPriority: boolean;
  server: string;
  name?: string;
  input: SourceSpec;
  output: SinkSpec;
  volume: string[];
  recordDir?: string;
  duration?: number;
  loop?: boolean;
  latency: LatencySettings;
  ptime: string;
  dtx?: boolean;
  listenOnly?: boolean;
  insecure?: boolean;
  token?: string;
  json?: boolean;
  verbose?: boolean;
  expect: string[];
  expectSilence: string[];
  expectWithin?: number;
  report?: string;
  reconnectTimeout: number;
  at?: string;
  position?: { x: number; y: number };
  /** commander's --no-spatial: false when given. */
  spatial: boolean;
  /** commander's --no-echo-cancel: false when given. */
  echoCancel: boolean;
  denoise?: boolean;
  agc?: boolean;
  /** commander's --no-live: false when given. */
  live: boolean;
}

function parsePosition(value: string): { x: number; y: number } {
  const parts = value.split(',').map((part) => Number(part.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite)) throw new InvalidArgumentError(`"${value}" is not a position; use X,Y in metres from the map's top-left corner, e.g. --position 4.5,2`);
  return { x: parts[0]!, y: parts[1]! };
}

const asOption = <T>(parse: (value: string) => T) => (value: string): T => {
  try {
    return parse(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

export function joinCommand(): Command {
  return new Command('join')
    .description('join a room as a headless WebRTC peer: send your audio, hear and mix everyone else')
    .argument('<room>', 'room id (letters, digits, _ and -)')
    .option('-s, --server <url>', 'signalling server; several, comma-separated (URL1,URL2), are tried in turn', process.env.VOXROOM_SERVER ?? 'http://127.0.0.1:8080')
    .option('-n, --name <name>', 'your name in the room (default: bot-<random>)')
    .option('-i, --input <source>', `what you send: ${SOURCE_FORMS}`, asOption(parseSourceSpec), parseSourceSpec('default'))
    .option('-o, --output <sink>', 'where the mix goes: file:<path.wav>, null, default, device:<index or name>', asOption(parseSinkSpec), parseSinkSpec('default'))
    .option('--volume <name=pct>', 'volume for a peer, 0–200 % (repeatable)', collect, [])
    .option('--record-dir <dir>', 'also record each peer to <dir>/<name>.wav, on one timeline with the mix')
    .option('-d, --duration <seconds>', 'leave after this many seconds', parsePositiveSeconds)
    .option('--loop', 'loop a file input instead of leaving when it ends')
    .option('--latency <preset>', 'device buffering: low, normal, high, or milliseconds', asOption(parseLatency), LATENCY_PRESETS.normal)
    .addOption(new Option('--ptime <ms>', 'Opus packet duration we send: 10 is faster, 20 sends half the packets; auto uses 10 in a mesh of up to 4 members and 20 above (see BENCHMARKS.md)').choices(['auto', '10', '20']).default('auto'))
    .option('--dtx', 'Opus DTX: while silent, send a packet every 400 ms instead of 50 a second (saves bandwidth, not CPU)')
    .option('--listen-only', 'send nothing, only listen (a broadcast\'s audience): no encoder runs')
    .option('--reconnect-timeout <seconds>', 'after losing the server, keep trying this long (audio carries on meanwhile), then exit 5 (unreachable)', parsePositiveSeconds, DEFAULT_RECONNECT_TIMEOUT_MS / 1000)
    .option('--insecure', 'accept a self-signed TLS certificate from the server')
    .option('--expect <name[:hz][>=dbfs]>', 'expect to hear this peer (at a tone frequency, at least this loud; default -50 dBFS); exit 3 if not (repeatable)', collect, [])
    .option('--expect-silence <name>', 'expect this peer in the room but never heard (below -60 dBFS), e.g. at volume 0 or muted (repeatable)', collect, [])
    .option('--expect-within <seconds>', 'the --expect peers must be heard this soon after joining; without --duration the run lasts this long', parsePositiveSeconds)
    .option('--report <file.xml>', 'write the expectations\' verdicts as a JUnit XML report')
    .addOption(new Option('--token <token>', 'room token from the server\'s operator (voxroom token); your name is then the token\'s. Prefer $VOXROOM_TOKEN: `ps` shows flags').env('VOXROOM_TOKEN'))
    .option('--at <spot>', 'rooms with a map: enter at this named spot (default: the map\'s entry)')
    .option('--position <x,y>', 'rooms with a map: enter at this point, in metres from the top-left corner', parsePosition)
    .option('--no-spatial', 'mix as in a room without a map: no distance, no stereo pan (you still stand on the map for the others)')
    .option('--no-echo-cancel', 'do not cancel echo (on by default when input and output are both devices: WebRTC\'s canceller in PulseAudio/PipeWire)')
    .option('--denoise', 'suppress steady noise in your microphone (WebRTC\'s noise suppression, in the sound server)')
    .option('--agc', 'raise a quiet microphone (WebRTC\'s gain control, in the sound server)')
    .option('--json', 'print events as JSON lines on stdout (for scripts)')
    .option('--no-live', 'at a terminal, read line commands instead of showing the live mixer')
    .option('-v, --verbose', 'log connection and audio details on stderr')
    .addOption(noHighPriorityOption())
    .action(async (room: string, flags: JoinFlags) => runJoin(room, flags));
}

/**
 * Loads the sound server's echo canceller (and noise suppression, gain control) when the flags
 * ask for it; where there is no sound server, says so and goes on without.
 */
async function startProcessing(flags: JoinFlags, logger: Logger): Promise<{ canceller: EchoCanceller; routeOutput: boolean } | null> {
  let plan: ProcessingPlan;
  try {
    plan = planProcessing({ input: flags.input, output: flags.output, listenOnly: Boolean(flags.listenOnly), echoCancel: flags.echoCancel, denoise: Boolean(flags.denoise), agc: Boolean(flags.agc) });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!plan.load) {
    if (plan.warning) logger.warn(plan.warning);
    return null;
  }
  try {
    return { canceller: await EchoCanceller.start(plan.processing, logger), routeOutput: plan.routeOutput };
  } catch (error) {
    if (!(error instanceof EchoCancellerUnavailable)) throw error;
    if (flags.denoise || flags.agc) throw new DeviceError(`${flags.denoise ? '--denoise' : '--agc'} needs the sound server's audio processing, which is not available: ${error.message}`);
    logger.warn(`echo cancellation is off: ${error.message}; use headphones, or --no-echo-cancel to say you know`);
    return null;
  }
}

function parseVolumes(entries: string[]): Record<string, number> {
  const volumes: Record<string, number> = {};
  for (const entry of entries) {
    const at = entry.lastIndexOf('=');
    const percent = Number(entry.slice(at + 1).replace(/%$/, ''));
    if (at <= 0 || !Number.isFinite(percent) || percent < 0 || percent > 200) throw new UsageError(`--volume "${entry}": use NAME=PCT with PCT from 0 to 200, e.g. --volume alice=50`);
    volumes[entry.slice(0, at)] = percent;
  }
  return volumes;
}

/** The expectations of --expect and --expect-silence, or null when there are none. */
function parseExpectations(flags: JoinFlags, name: string): ExpectationSet | null {
  if (flags.expectWithin !== undefined && flags.expect.length === 0) throw new UsageError('--expect-within needs at least one --expect NAME');
  if (flags.report !== undefined && flags.expect.length + flags.expectSilence.length === 0) throw new UsageError('--report writes the verdicts of --expect / --expect-silence; give at least one');
  try {
    const withinMs = flags.expectWithin === undefined ? undefined : flags.expectWithin * 1000;
    const expectations = [...flags.expect.map((value) => parseExpectFlag(value, name, withinMs)), ...flags.expectSilence.map((value) => parseExpectSilenceFlag(value, name))];
    return expectations.length > 0 ? new ExpectationSet(expectations) : null;
  } catch (error) {
    if (error instanceof ExpectationSyntaxError) throw new UsageError(error.message);
    throw error;
  }
}

async function runJoin(room: string, flags: JoinFlags): Promise<void> {
  if (!ROOM_ID_PATTERN.test(room)) throw new UsageError(`"${room}" is not a room id; use 1–64 letters, digits, _ and -`);
  if (flags.server.split(',').every((url) => url.trim() === '')) throw new UsageError('no server given; pass --server URL (or several: URL1,URL2)');
  const volumes = parseVolumes(flags.volume);
  // At a terminal (both ways, no --json) a person gets the live mixer; its last lines show what
  // would have been printed. Piped, or with --json, the line protocol is unchanged.
  const messages = flags.live && !flags.json && process.stdin.isTTY && process.stdout.isTTY && !underCi() ? new MessageLog() : null;
  const logger = createLogger({ level: flags.verbose ? 'debug' : 'warn', json: Boolean(flags.json), ...(messages ? { write: (line: string) => messages.write(line, 'stderr') } : {}) });
  // Before any child process or wrtc thread starts: they inherit it (a device worker should).
  if (flags.highPriority) logger.debug('mixing thread priority', { ...raiseMixingPriority() });
  const out = new Output(Boolean(flags.json), messages ? (text, stream) => messages.write(text, stream) : undefined);
  // Loaded only for a person at a terminal: bots never pay for React and ink.
  const liveMixer = messages ? await import('./live-mixer.js') : null;
  const name = flags.name ?? `bot-${Math.random().toString(36).slice(2, 6)}`;
  const expectations = parseExpectations(flags, name);
  const durationSeconds = flags.duration ?? flags.expectWithin;
  if (flags.at !== undefined && flags.position !== undefined) throw new UsageError('give --at SPOT or --position X,Y, not both');
  const at: Place | undefined = flags.at !== undefined ? { spot: flags.at } : flags.position;
  // A stereo-capable output device opens in stereo unless spatial hearing is off: whether the
  // room has a map is only known after the join, and a mono mix plays on both sides alike.
  const deviceOptions = { latency: flags.latency, logger, outputChannels: flags.spatial ? (2 as const) : (1 as const) };
  // Installed before anything is loaded or opened: a Ctrl-C while the devices open still ends
  // the run through the cleanup below (Node's default would kill the process on the spot).
  const shutdown = onShutdownSignal();
  const processing = await startProcessing(flags, logger);
  const canceller = processing?.canceller ?? null;
  // Whatever ends the run, the echo canceller goes with it (a forced exit: see EchoCanceller).
  const exitCode = await (async (): Promise<number> => {
    // A listener opens no microphone: it sends nothing.
    // An input file that cannot be played is the command line's mistake (exit 2); a device is not.
    const source: AudioSource = flags.listenOnly
      ? new SilenceSource()
      : await openSource(flags.input, { loop: flags.loop, device: { ...deviceOptions, ...(canceller ? { soundServerDevice: canceller.source } : {}) } }).catch((error: Error) => Promise.reject(flags.input.kind === 'device' ? error : new UsageError(error.message)));
    let sink: AudioSink | null = null;
    let peer: VoicePeer;
    try {
      sink = await openSink(flags.output, { device: { ...deviceOptions, ...(canceller && processing?.routeOutput ? { soundServerDevice: canceller.sink } : {}) } });
      peer = new VoicePeer({ serverUrl: flags.server, room, name, source, sink, recordDir: flags.recordDir, volumes, ptimeMs: parsePtimeSetting(flags.ptime), dtx: flags.dtx, listenOnly: flags.listenOnly, logger, insecureTls: flags.insecure, observer: expectations?.observerFor(name), token: flags.token || undefined, reconnectTimeoutMs: flags.reconnectTimeout * 1000, spatial: flags.spatial, ...(at ? { at } : {}) });
    } catch (error) {
      await Promise.all([source.close(), sink?.close()]);
      throw error;
    }
    wireEvents(peer, out);

    let exitCode: ExitCode = EXIT_CODES.ok;
    let stopWatchingFaults = (): void => undefined;
    let hideLiveMixer = (): void => undefined;
    /** What ended the run, if something failed: said again once the live mixer is gone. */
    let fatalMessage: string | null = null;
    let endRun: (reason: string) => void = () => undefined;
    const ended = new Promise<string>((resolve) => {
      endRun = resolve;
      const internalFault = (message: string): void => {
        fatalMessage = `internal fault: ${message}; leaving (recordings are finalised). Please report this as a bug.`;
        out.fatal(fatalMessage, EXIT_CODES.internalFault);
        exitCode = EXIT_CODES.internalFault;
        resolve('internal fault');
        // Leaving must not hang on whatever broke.
        setTimeout(() => process.exit(EXIT_CODES.internalFault), FAULT_EXIT_DEADLINE_MS).unref();
      };
      stopWatchingFaults = watchForInternalFaults((error, origin) => internalFault(`${origin}: ${error.stack ?? error.message}`));
      peer.once('source-ended', () => resolve('input ended'));
      peer.once('fatal', ({ message, code }) => {
        if (code === INTERNAL_FAULT) return internalFault(message);
        exitCode = code === undefined ? EXIT_CODES.failure : code === DEVICE_FAILURE ? EXIT_CODES.device : exitCodeForServerFailure(code);
        fatalMessage = message;
        out.fatal(message, exitCode, code);
        resolve(code === undefined ? 'audio input or output failed' : code === DEVICE_FAILURE ? 'an audio device failed' : exitCode === EXIT_CODES.unreachable ? 'the server is gone' : 'the server refused our return');
      });
      peer.once('refused', ({ code, message }) => {
        exitCode = exitCodeForServerFailure(code);
        fatalMessage = `${message} (${code})`;
        out.fatal(fatalMessage, exitCode, code);
        resolve(code === 'session-replaced' ? 'another session took this name' : code === 'kicked' ? 'an admin kicked this member' : code.startsWith('token-') ? 'the server refused the token' : `the server refused our return (${code})`);
      });
      void shutdown.then((signal) => resolve(signal));
      if (messages && liveMixer) hideLiveMixer = liveMixer.showLiveMixer({ peer, room, messages, runCommand: (line) => runControlLine(line, peer, out, () => resolve('quit')), quit: () => resolve('quit') });
      else readControlLines(peer, out, () => resolve('quit'));
    });

    const startedAt = new Date();
    try {
      await peer.start();
    } catch (error) {
      await peer.stop();
      hideLiveMixer();
      // The code lets a script tell refusals apart (token-expired, room-full, …).
      if (error instanceof JoinError) throw new ExitError(`${error.message} (${error.code})`, exitCodeForServerFailure(error.code), error.code);
      throw error;
    }
    // Expectation times, and --duration, count from the join.
    const joinedAt = performance.now();
    expectations?.startAt(joinedAt);
    if (durationSeconds !== undefined) setTimeout(() => endRun('duration reached'), durationSeconds * 1000).unref();
    const reason = await ended;
    hideLiveMixer();
    if (messages && fatalMessage !== null) process.stderr.write(`voxroom: ${fatalMessage}\n`);
    expectations?.stopAt(performance.now());
    logger.info('leaving', { reason });
    await peer.stop();
    stopWatchingFaults();
    out.event('ended', { reason, ...(flags.recordDir ? { recordDir: flags.recordDir } : {}) }, `left the room (${reason})`);
    if (expectations) {
      const verdicts = expectations.judge();
      printVerdicts(out, verdicts);
      const suite = { name: `${room} as ${name}`, verdicts, durationSeconds: (performance.now() - joinedAt) / 1000, startedAt };
      const wrote = flags.report ? await writeJunitReport(flags.report, [suite], out) : true;
      if (exitCode === 0) exitCode = wrote ? exitCodeFor(verdicts) : EXIT_CODES.failure;
    }
    return exitCode;
  })().finally(() => canceller?.stop());
  if (exitCode !== 0) process.exit(exitCode);
}

function wireEvents(peer: VoicePeer, out: Output): void {
  peer.on('joined', ({ self, peers, renamed, resumed }) =>
    out.event(
      resumed ? 'rejoined' : 'joined',
      { self, peers, renamed, spatial: peer.spatial },
      `${resumed ? 'rejoined' : 'joined'} as ${self.name}${renamed ? ' (name was taken)' : ''}${self.state.position ? ` at ${formatPosition(self.state.position)}` : ''}; ${peers.length} other${peers.length === 1 ? '' : 's'} here${peers.length ? ': ' + peers.map((p) => p.name).join(', ') : ''}`,
    ),
  );
  peer.on('peer-joined', (p) => out.event('peer-joined', { name: p.name, id: p.id, state: p.state }, `${p.name} joined${p.state.muted ? ' (muted)' : ''}${p.state.position ? ` at ${formatPosition(p.state.position)}` : ''}`));
  peer.on('moved', (position) => out.event('moved', { position }, `you stand at ${formatPosition(position)}`));
  peer.on('peer-left', (p, reason) => out.event('peer-left', { name: p.name, id: p.id, reason }, `${p.name} ${LEFT_HOW[reason]}`));
  const before = new Map<string, Pick<MemberState, 'muted' | 'away' | 'serverMuted'>>();
  peer.on('peer-joined', (p) => before.set(p.id, p.state));
  peer.on('peer-updated', (p) => {
    // Speaking changes several times a minute: in --json they are events, for people the
    // `peers` table shows them. A change of mute, an admin's mute, or a roommate losing the
    // server, is worth a line.
    const was = before.get(p.id) ?? { muted: false, away: false, serverMuted: false };
    before.set(p.id, p.state);
    const human =
      p.state.away !== was.away
        ? `${p.name} ${p.state.away ? 'lost the server (away; its audio may carry on)' : 'is back'}`
        : p.state.serverMuted !== was.serverMuted
          ? `${p.name} ${p.state.serverMuted ? 'was muted by an admin (nobody hears it)' : 'may be heard again (an admin lifted the mute)'}`
          : p.state.muted !== was.muted
            ? `${p.name} ${p.state.muted ? 'muted' : 'unmuted'}`
            : null;
    if (out.json || human) out.event('peer-updated', { name: p.name, id: p.id, state: p.state }, human ?? '');
  });
  let wasServerMuted = false;
  const noteSelf = (self: Member): void => {
    if (self.state.serverMuted === wasServerMuted) return;
    wasServerMuted = self.state.serverMuted;
    out.event('self-updated', { name: self.name, id: self.id, state: self.state }, self.state.serverMuted ? 'an admin muted you on the server: nobody in the room hears you' : 'an admin lifted your server mute: the room hears you again');
  };
  peer.on('joined', ({ self, peers }) => {
    for (const p of peers) before.set(p.id, p.state);
    noteSelf(self);
  });
  peer.on('self-updated', noteSelf);
  peer.on('connection-state', ({ peer: name, state }) => out.event('connection-state', { peer: name, state }, `connection to ${name}: ${state}`));
  peer.on('media-changed', ({ media, reason }) => out.event('media-changed', { media, reason }, `the room now carries audio ${media === 'sfu' ? 'through the media server' : 'peer to peer'}: ${reason}`));
  peer.on('retry', (info) => {
    if (out.json) out.event('retry', info, '');
  });
  peer.on('problem', ({ message, peer: name }) => out.problem(message, name));
  peer.on('disconnected', ({ reason }) => out.event('disconnected', { reason }, `lost the server (${reason}); reconnecting…`));
  peer.on('server-shutdown', ({ message }) => out.event('server-shutdown', { message }, `server: ${message}; will reconnect when it is back`));
}

/** How a roommate's departure reads, by the server's reason. */
const LEFT_HOW: Record<MemberLeftReason, string> = {
  left: 'left',
  disconnected: 'left (lost the server and did not come back)',
  replaced: 'left (a new session took its name)',
  kicked: 'was kicked by an admin',
};

function formatPosition({ x, y, facing }: Position): string {
  return `(${x.toFixed(1)}, ${y.toFixed(1)}) facing ${Math.round(facing)}°`;
}

function readControlLines(peer: VoicePeer, out: Output, quit: () => void): void {
  if (process.stdin.destroyed) return;
  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on('line', (line) => runControlLine(line, peer, out, quit));
  // End of input (a closed or finished stdin) is not a request to leave: bots often have none.
  lines.on('error', () => undefined);
}

/**
 * A CI job, even in a pseudo-terminal: no live mixer there (ink, as is-in-ci decides, would draw
 * only its last frame), the line protocol instead.
 */
function underCi(): boolean {
  const ci = process.env.CI ?? process.env.CONTINUOUS_INTEGRATION;
  return ci !== undefined && ci !== '0' && ci !== 'false';
}

/** One line command (standard input, or typed after ':' in the live mixer). */
function runControlLine(line: string, peer: VoicePeer, out: Output, quit: () => void): void {
  const parsed = parseControlLine(line);
  if (!parsed.ok) return out.problem(parsed.error);
  const command = parsed.command;
  if (!command) return;
  switch (command.kind) {
    case 'volume':
      peer.setVolume(command.name, command.percent);
      out.event('volume', { name: command.name, percent: command.percent }, `volume of ${command.name}: ${command.percent} %${peer.peers().some((p) => p.name === command.name) ? '' : ' (not in the room now; applies when they join)'}`);
      break;
    case 'mute':
    case 'unmute':
      peer.muted = command.kind === 'mute';
      out.event(command.kind === 'mute' ? 'muted' : 'unmuted', {}, command.kind === 'mute' ? 'microphone muted' : 'microphone on');
      break;
    case 'peers':
      void peer.peersWithPackets().then((list) => out.peers(list));
      break;
    case 'status':
      out.event('status', peer.status(), JSON.stringify(peer.status(), null, 2));
      break;
    case 'help':
      out.text(CONTROL_HELP);
      break;
    case 'move':
    case 'goto':
    case 'face': {
      // The 'moved' event reports where we end up (as the server announces it).
      const moving = command.kind === 'move' ? peer.moveTo(command.x, command.y) : command.kind === 'goto' ? peer.goto(command.spot) : peer.face(command.degrees);
      moving.catch((error: Error) => out.problem(error instanceof MoveError ? `${command.kind}: ${error.message} (${error.code})` : `${command.kind}: ${error.message}`));
      break;
    }
    case 'quit':
      quit();
      break;
  }
}
