// Echo cancellation (and optionally noise suppression and gain control) for a person at a
// microphone and speakers: the sound server's module-echo-cancel with WebRTC's audio
// processing, loaded for the devices this peer uses and unloaded when it leaves. The peer's
// device workers then open the canceller's own source and sink (PULSE_SOURCE / PULSE_SINK),
// so what the speakers play is known to the canceller and taken out of the microphone.
//
// Why this canceller: it is WebRTC's (the browser's), through the sound server PulseAudio and
// PipeWire both offer, so nothing native has to be built on install; a Node addon around
// libwebrtc-audio-processing or speexdsp would need a compiler and headers first. Measured in
// test/integration/echo.test.ts and BENCHMARKS.md.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Logger } from '../../log.js';

const run = promisify(execFile);

export interface AudioProcessing {
  /** WebRTC's noise suppression on the microphone (--denoise). */
  noiseSuppression: boolean;
  /** WebRTC's digital gain control on the microphone (--agc). */
  gainControl: boolean;
}

export interface EchoCancellerPlan {
  /** The sound server's devices the canceller sits on: the microphone and the speakers. */
  sourceMaster: string;
  sinkMaster: string;
  /** Names of the canceller's own devices, unique to this process. */
  sourceName: string;
  sinkName: string;
  processing: AudioProcessing;
}

/** What the peer's flags ask of the sound server's processing. */
export type ProcessingPlan =
  | { load: false; warning?: string }
  // The microphone always goes through the canceller; the speakers too when echo is cancelled.
  | { load: true; processing: AudioProcessing; routeOutput: boolean };

/** A device the sound server provides: the default one, or PortAudio's ALSA device named after the server. */
function throughSoundServer(device: string | null): boolean {
  return device === null || /^(default|pulse|pipewire)$/i.test(device);
}

/**
 * Whether to load the canceller, and for which devices. Echo cancellation is on when the
 * input and the output are both devices (unless `echoCancel` is false); --denoise and --agc
 * process a microphone, with or without speakers. Pure; throws for flags that cannot apply.
 */
export function planProcessing(request: { input: { kind: string; device?: string | null }; output: { kind: string; device?: string | null }; listenOnly: boolean; echoCancel: boolean; denoise: boolean; agc: boolean }): ProcessingPlan {
  const { input, output, listenOnly, echoCancel, denoise, agc } = request;
  const microphone = !listenOnly && input.kind === 'device';
  if ((denoise || agc) && !microphone) throw new Error(`${denoise ? '--denoise' : '--agc'} processes a microphone: give a device input (the default), not ${listenOnly ? '--listen-only' : `a ${input.kind} input`}`);
  const speakers = output.kind === 'device';
  const cancelEcho = echoCancel && microphone && speakers;
  if (!cancelEcho && !denoise && !agc) return { load: false };
  const direct = [input, ...(cancelEcho ? [output] : [])].find((device) => !throughSoundServer(device.device ?? null));
  if (direct) {
    const what = [cancelEcho && 'echo cancellation', denoise && 'noise suppression', agc && 'gain control'].filter(Boolean).join(', ');
    return { load: false, warning: `${what} runs in the sound server (PulseAudio or PipeWire), but device "${direct.device}" is opened directly: running without it; use the default device or "pulse"` };
  }
  return { load: true, processing: { noiseSuppression: denoise, gainControl: agc }, routeOutput: cancelEcho };
}

/** Every canceller voxroom loads is named with this prefix and its process id. */
export const CANCELLER_PREFIX = 'voxroom_ec';

/**
 * The canceller's device names for a process: its pid (to find cancellers whose process is
 * gone) and a nonce (a container restarted with the same pid gets names of its own).
 */
export function cancellerNames(pid: number, nonce: string): { sourceName: string; sinkName: string } {
  return { sourceName: `${CANCELLER_PREFIX}${pid}_${nonce}_mic`, sinkName: `${CANCELLER_PREFIX}${pid}_${nonce}_speakers` };
}

/** pactl load-module arguments for a plan. Pure. */
export function moduleArguments(plan: EchoCancellerPlan): string[] {
  const flag = (on: boolean): string => (on ? '1' : '0');
  const aecArgs = [
    `noise_suppression=${flag(plan.processing.noiseSuppression)}`,
    'analog_gain_control=0',
    `digital_gain_control=${flag(plan.processing.gainControl)}`,
    'high_pass_filter=1',
    'extended_filter=1',
  ].join(' ');
  return [
    'load-module',
    'module-echo-cancel',
    `source_master=${plan.sourceMaster}`,
    `sink_master=${plan.sinkMaster}`,
    `source_name=${plan.sourceName}`,
    `sink_name=${plan.sinkName}`,
    'aec_method=webrtc',
    `aec_args="${aecArgs}"`,
    // The peer's frames are 48 kHz mono; so are the canceller's own devices.
    'rate=48000',
    'channels=1',
  ];
}

/**
 * Cancellers whose process is gone (killed before it could unload its own): the module ids
 * to unload, from `pactl list short modules`. One named with our own pid is stale too: it was
 * left by an earlier process that had this pid (a container restarted), as we have loaded
 * none yet. Pure.
 */
export function staleCancellers(moduleList: string, isAlive: (pid: number) => boolean, ownPid: number): string[] {
  const stale: string[] = [];
  const pattern = new RegExp(`source_name=${CANCELLER_PREFIX}(\\d+)_(?:[0-9a-f]+_)?mic`);
  for (const line of moduleList.split('\n')) {
    const [id, name, args = ''] = line.split('\t');
    if (name !== 'module-echo-cancel' || id === undefined) continue;
    const pid = pattern.exec(args)?.[1];
    if (pid !== undefined && (Number(pid) === ownPid || !isAlive(Number(pid)))) stale.push(id);
  }
  return stale;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class EchoCancellerUnavailable extends Error {}

async function pactl(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('pactl', args, { timeout: 5000 });
    return stdout.trim();
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') throw new EchoCancellerUnavailable('pactl is not installed (it comes with PulseAudio or PipeWire: pulseaudio-utils)');
    throw new EchoCancellerUnavailable(`the sound server refused "pactl ${args[0]}": ${(failure.stderr ?? failure.message).trim()}`);
  }
}

/** A loaded canceller: the devices to open, and how to take it away again. */
export class EchoCanceller {
  private unloaded = false;
  /** Unloads at process exit if nothing else did: a forced exit (a second Ctrl-C, an internal fault) runs no async cleanup. */
  private readonly atExit = (): void => {
    if (this.unloaded) return;
    this.unloaded = true;
    try {
      execFileSync('pactl', ['unload-module', this.moduleId], { stdio: 'ignore', timeout: 2000 });
    } catch {
      // The next start removes it (staleCancellers).
    }
  };

  private constructor(
    private readonly moduleId: string,
    readonly plan: EchoCancellerPlan,
    private readonly logger: Logger,
  ) {
    process.once('exit', this.atExit);
  }

  /** The microphone with the echo taken out (PULSE_SOURCE for the capture worker). */
  get source(): string {
    return this.plan.sourceName;
  }

  /** The speakers, through the canceller (PULSE_SINK for the playback worker). */
  get sink(): string {
    return this.plan.sinkName;
  }

  /**
   * Loads a canceller between the sound server's current microphone and speakers (PULSE_SOURCE
   * and PULSE_SINK when set, else the server's defaults). Throws EchoCancellerUnavailable with
   * the reason when there is no sound server to ask.
   */
  static async start(processing: AudioProcessing, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<EchoCanceller> {
    await pactl(['info']);
    const modules = await pactl(['list', 'short', 'modules']);
    for (const id of staleCancellers(modules, processAlive, process.pid)) {
      logger.info('unloading an echo canceller left by a process that is gone', { module: id });
      await pactl(['unload-module', id]).catch(() => undefined);
    }
    const sourceMaster = env.PULSE_SOURCE || (await pactl(['get-default-source']));
    const sinkMaster = env.PULSE_SINK || (await pactl(['get-default-sink']));
    const plan: EchoCancellerPlan = { sourceMaster, sinkMaster, ...cancellerNames(process.pid, randomBytes(3).toString('hex')), processing };
    const moduleId = await pactl(moduleArguments(plan));
    logger.info('echo cancellation on', { microphone: sourceMaster, speakers: sinkMaster, module: moduleId, ...processing });
    return new EchoCanceller(moduleId, plan, logger);
  }

  /** Unloads the canceller; the sound server moves nothing else. Idempotent. */
  async stop(): Promise<void> {
    if (this.unloaded) return;
    this.unloaded = true;
    process.off('exit', this.atExit);
    await pactl(['unload-module', this.moduleId]).catch((error: Error) => this.logger.warn('could not unload the echo canceller', { module: this.moduleId, error: error.message }));
  }
}
