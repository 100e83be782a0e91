// `voxroom serve --janus auto`: a Janus child process with a minimal generated configuration —
// the VideoRoom plugin and the WebSocket transport only, on loopback, an RTP port range, a fresh
// admin secret — in a temporary folder (`janus -F DIR`). Stopped with the server.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { freePort } from './free-port.js';

export interface JanusProcess {
  /** The WebSocket API, e.g. ws://127.0.0.1:8188 */
  readonly url: string;
  /** The Admin API over WebSocket, and its secret. */
  readonly adminUrl: string;
  readonly adminSecret: string;
  readonly pid: number;
  /** Resolves when the process has exited (for any reason). */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface JanusProcessOptions {
  /** The janus executable (default: `janus` on the PATH). */
  executable?: string;
  /** UDP ports Janus may use for media. */
  rtpPortRange?: [number, number];
  /**
   * How long Janus keeps a session whose WebSocket closed (default 0: it goes at once). A
   * cluster's Janus needs some: the handles of a node that died keep forwarding until their
   * members have published again through another node.
   */
  reclaimSessionTimeoutS?: number;
  /** Janus's event loops, the threads that carry its handles' media (default: one per core this process may use). */
  eventLoops?: number;
  /** Its WebSocket port (default: a free one). */
  wsPort?: number;
  logger: Logger;
}

/** Where Debian and source builds put Janus's plugins and transports. */
const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu/janus', '/usr/lib/aarch64-linux-gnu/janus', '/usr/lib/janus', '/usr/local/lib/janus', '/opt/janus/lib/janus'];

export class JanusMissing extends Error {
  constructor(what: string) {
    super(`${what}; install Janus (Debian/Ubuntu: sudo apt-get install janus) or point --janus at a running one (ws://HOST:PORT)`);
    this.name = 'JanusMissing';
  }
}

/** Finds the folder holding plugins/ and transports/, from the packaged config or the usual places. */
export function findJanusLibraryDir(): string {
  try {
    const packaged = readFileSync('/etc/janus/janus.jcfg', 'utf8');
    const plugins = /plugins_folder\s*=\s*"([^"]+)\/plugins"/.exec(packaged)?.[1];
    if (plugins && existsSync(join(plugins, 'plugins', 'libjanus_videoroom.so'))) return plugins;
  } catch {
    // No packaged configuration: look in the usual places.
  }
  const found = LIBRARY_DIRS.find((dir) => existsSync(join(dir, 'plugins', 'libjanus_videoroom.so')));
  if (!found) throw new JanusMissing(`Janus's VideoRoom plugin was not found in ${LIBRARY_DIRS.join(', ')}`);
  return found;
}

/**
 * The generated configuration: a pure function of its inputs (unit-tested). `event_loops`: by
 * default Janus runs a thread of its own for every handle; a fixed pool of loops forwarded the
 * same 4 + 36 room on about 30 % less CPU here (CHANGELOG.md, 2026-11-27).
 */
export function janusConfig(options: { libraryDir: string; wsPort: number; adminPort: number; adminSecret: string; rtpPortRange: [number, number]; configDir: string; reclaimSessionTimeoutS?: number; eventLoops: number }): Record<string, string> {
  const { libraryDir, wsPort, adminPort, adminSecret, rtpPortRange, configDir, reclaimSessionTimeoutS = 0, eventLoops } = options;
  return {
    'janus.jcfg': `general: {
  configs_folder = "${configDir}"
  plugins_folder = "${libraryDir}/plugins"
  transports_folder = "${libraryDir}/transports"
  events_folder = "${libraryDir}/events"
  loggers_folder = "${libraryDir}/loggers"
  debug_level = 3
  event_loops = ${eventLoops}
  admin_secret = "${adminSecret}"
  session_timeout = 60
  reclaim_session_timeout = ${reclaimSessionTimeoutS}
}
media: {
  rtp_port_range = "${rtpPortRange[0]}-${rtpPortRange[1]}"
}
nat: {
  nice_debug = false
}
plugins: {
  disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
}
transports: {
  disable = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}
events: {
  broadcast = false
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
`,
    'janus.transport.websockets.jcfg': `general: {
  json = "plain"
  ws = true
  ws_port = ${wsPort}
  ws_ip = "127.0.0.1"
  wss = false
}
admin: {
  admin_ws = true
  admin_ws_port = ${adminPort}
  admin_ws_ip = "127.0.0.1"
  admin_wss = false
}
`,
    'janus.plugin.videoroom.jcfg': `general: {
}
`,
  };
}

/** Starts Janus and resolves once its WebSocket API accepts connections. */
export async function startJanusProcess(options: JanusProcessOptions): Promise<JanusProcess> {
  const libraryDir = findJanusLibraryDir();
  const configDir = mkdtempSync(join(tmpdir(), 'voxroom-janus-'));
  const [wsPort, adminPort] = [options.wsPort ?? (await freePort()), await freePort()];
  const adminSecret = randomBytes(18).toString('base64url');
  const rtpPortRange = options.rtpPortRange ?? [20000, 40000];
  for (const [file, text] of Object.entries(janusConfig({ libraryDir, wsPort, adminPort, adminSecret, rtpPortRange, configDir, eventLoops: options.eventLoops ?? availableParallelism(), ...(options.reclaimSessionTimeoutS !== undefined ? { reclaimSessionTimeoutS: options.reclaimSessionTimeoutS } : {}) }))) writeFileSync(join(configDir, file), text);

  const executable = options.executable ?? 'janus';
  const child: ChildProcess = spawn(executable, ['-F', configDir, '--disable-colors'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      rmSync(configDir, { recursive: true, force: true });
      resolve(code);
    });
    child.once('error', () => resolve(null));
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new JanusMissing(`"${executable}" was not found`) : error)),
  );
  const url = `ws://127.0.0.1:${wsPort}`;
  const ready = (async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Janus exited with code ${child.exitCode} while starting: ${output.trim().split('\n').slice(-5).join(' | ')}`);
      if (/WebSockets server started/.test(output) || (await portOpen(wsPort))) return;
      if (Date.now() > deadline) throw new Error(`Janus did not open its WebSocket API on port ${wsPort} within 15 s: ${output.trim().split('\n').slice(-5).join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  options.logger.info('Janus started', { pid: child.pid, url, configDir });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return { url, adminUrl: `ws://127.0.0.1:${adminPort}`, adminSecret, pid: child.pid!, exited, stop };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
