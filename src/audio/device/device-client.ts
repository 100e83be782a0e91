// The peer's side of the device workers: lists devices, and opens a device as an AudioSource
// (capture) or a paced AudioSink (playback whose clock drives the mix).
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '../../log.js';
import type { AudioSink, AudioSource, BackendFailureHandler } from '../backend.js';
import { samplesToMs, silentFrame, type ChannelCount, type Frame, type MixFrame } from '../format.js';
import { DeviceError } from './device-error.js';
import { selectDevice } from './device-select.js';
import { LATENCY_PRESETS, outputBufferMs, type LatencySettings } from './latency.js';
import type { DeviceInfo, Direction, OpenedStream, ParentMessage, WorkerMessage, WorkerStats } from './worker-protocol.js';

// Resolves to dist/ from both src/ (tests) and dist/ (the CLI): the worker always runs compiled.
const WORKER_PATH = fileURLToPath(new URL('../../../dist/audio/device/device-worker.js', import.meta.url));
const OPEN_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 3_000;

export interface DeviceOptions {
  latency?: LatencySettings;
  logger?: Logger;
  /**
   * Output: open the device with this many channels if it takes them (default 1). 2 lets a
   * spatial room's stereo mix through; a mono mix then plays on both sides.
   */
  outputChannels?: ChannelCount;
  /**
   * A sound-server device (PulseAudio or PipeWire) for the worker's default device, as
   * PULSE_SOURCE (input) or PULSE_SINK (output): how an echo canceller's devices are opened.
   */
  soundServerDevice?: string;
}

interface WorkerEvents {
  message: [message: WorkerMessage];
  exit: [detail: string];
}

/** One child process owning one PortAudio stream. */
class DeviceWorker extends EventEmitter<WorkerEvents> {
  private readonly child: ChildProcess;
  private readonly recentOutput: string[] = [];
  private exited = false;
  /** PortAudio's input-overflow reports (naudiodon prints them; there is no other channel). */
  inputOverflows = 0;

  constructor(
    private readonly logger: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
    this.child = fork(WORKER_PATH, [], { cwd: tmpdir(), env, serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => {
        for (const line of text.split('\n').filter((l) => l.trim())) {
          if (line.includes('input overflow')) this.inputOverflows++;
          this.recentOutput.push(line);
          if (this.recentOutput.length > 5) this.recentOutput.shift();
          this.logger.debug('device worker', { line });
        }
      });
    }
    this.child.on('message', (message: WorkerMessage) => this.emit('message', message));
    this.child.on('error', (error) => this.logger.warn('device worker error', { error: error.message }));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const detail = signal ? `killed by ${signal}` : `exit code ${code}`;
      this.emit('exit', `${detail}${this.recentOutput.length ? `; last output: ${this.recentOutput.join(' | ')}` : ''}`);
    });
  }

  send(message: ParentMessage): void {
    if (!this.exited && this.child.connected) this.child.send(message);
  }

  /** Waits for the first message matching `type`; rejects on an error message or exit. */
  expect<T extends WorkerMessage['type']>(type: T, what: string): Promise<Extract<WorkerMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`the audio device did not ${what} within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS);
      const onMessage = (message: WorkerMessage): void => {
        if (message.type === type) finish(null, message as Extract<WorkerMessage, { type: T }>);
        else if (message.type === 'error') finish(new Error(message.message));
      };
      const onExit = (detail: string): void => finish(new Error(`the audio device process ended before it could ${what} (${detail})`));
      const finish = (error: Error | null, message?: Extract<WorkerMessage, { type: T }>): void => {
        clearTimeout(timer);
        this.off('message', onMessage);
        this.off('exit', onExit);
        if (error) reject(error);
        else resolve(message!);
      };
      this.on('message', onMessage);
      this.once('exit', onExit);
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

export async function listAudioDevices(logger: Logger = silentLogger): Promise<DeviceInfo[]> {
  const worker = new DeviceWorker(logger);
  try {
    const reply = worker.expect('devices', 'list its devices');
    worker.send({ type: 'list' });
    return (await reply).devices;
  } catch (error) {
    throw new DeviceError((error as Error).message);
  } finally {
    await worker.close();
  }
}

function pickDevice(devices: DeviceInfo[], wanted: string | null, direction: Direction): DeviceInfo {
  try {
    return selectDevice(devices, wanted, direction);
  } catch (error) {
    throw new DeviceError((error as Error).message);
  }
}

/** Shared by source and sink: pick the device, start a worker, open the stream. */
async function openWorkerStream(direction: Direction, wanted: string | null, options: DeviceOptions): Promise<{ worker: DeviceWorker; stream: OpenedStream; latency: LatencySettings }> {
  const logger = options.logger ?? silentLogger;
  const latency = options.latency ?? LATENCY_PRESETS.normal;
  const device = pickDevice(await listAudioDevices(logger), wanted, direction);
  const routed = options.soundServerDevice === undefined ? {} : { [direction === 'input' ? 'PULSE_SOURCE' : 'PULSE_SINK']: options.soundServerDevice };
  const worker = new DeviceWorker(logger, { ...process.env, ...routed });
  try {
    const opened = worker.expect('opened', `open ${direction} device "${device.name}"`);
    const channels = direction === 'output' ? (options.outputChannels ?? 1) : 1;
    worker.send({ type: 'open', direction, settings: { deviceIndex: device.index, framesPerBuffer: latency.framesPerBuffer, reserveMs: latency.outputReserveMs, channels } });
    const { stream } = await opened;
    logger.info(`${direction} device open`, { device: stream.deviceName, rate: stream.sampleRate, channels: stream.channels, framesPerBuffer: stream.framesPerBuffer, latency: latency.name });
    return { worker, stream, latency };
  } catch (error) {
    await worker.close();
    throw new DeviceError(`cannot open ${direction} device "${device.name}": ${(error as Error).message}`);
  }
}

/** Reports an unexpected worker death or error once, to whoever registered. */
function watchFailures(worker: DeviceWorker, direction: Direction, isClosing: () => boolean): (handler: BackendFailureHandler) => void {
  let handler: BackendFailureHandler | null = null;
  let reported = false;
  const report = (message: string): void => {
    if (reported || isClosing()) return;
    reported = true;
    handler?.(new DeviceError(`the ${direction} device stopped: ${message}`));
  };
  worker.on('message', (message) => {
    if (message.type === 'error') report(message.message);
  });
  worker.on('exit', (detail) => report(`its audio process ended (${detail})`));
  return (h) => {
    handler = h;
  };
}

/** What a capture and a playback stream share: one worker, its failures, an orderly close. */
abstract class DeviceStream {
  readonly label: string;
  readonly onFailure: (handler: BackendFailureHandler) => void;
  private closing = false;

  constructor(
    protected readonly worker: DeviceWorker,
    readonly stream: OpenedStream,
    readonly latency: LatencySettings,
  ) {
    this.label = `device:${stream.deviceName}`;
    this.onFailure = watchFailures(worker, stream.direction, () => this.closing);
  }

  /** One PortAudio callback, in milliseconds. */
  protected get callbackMs(): number {
    return samplesToMs(this.stream.framesPerBuffer);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.close();
  }
}

/**
 * A live source: each frame goes on as soon as the device captured it (no buffer, no waiting
 * for the mix clock); the network's jitter buffers absorb the input device's clock.
 */
export class DeviceSource extends DeviceStream implements AudioSource {
  private deliver: ((frame: Frame) => void) | null = null;
  private capturedFrames = 0;

  constructor(worker: DeviceWorker, stream: OpenedStream, latency: LatencySettings) {
    super(worker, stream, latency);
    worker.on('message', (message) => {
      if (message.type !== 'frame' || !this.deliver) return;
      this.capturedFrames++;
      this.deliver(message.samples);
    });
  }

  /** Only reached if nobody subscribed: a live source has no frame to hand out on a tick. */
  read(): Frame {
    return silentFrame();
  }

  startPushing(deliver: (frame: Frame) => void): void {
    this.deliver = deliver;
  }

  stats() {
    return {
      device: this.stream.deviceName,
      rate: this.stream.sampleRate,
      configuredLatencyMs: this.callbackMs,
      capturedFrames: this.capturedFrames,
      overflows: this.worker.inputOverflows,
    };
  }

  override async close(): Promise<void> {
    this.deliver = null;
    await super.close();
  }
}

export class DeviceSink extends DeviceStream implements AudioSink {
  private pacer: (() => void) | null = null;
  private workerStats: WorkerStats = { underruns: 0, overflows: 0, queued: 0 };

  constructor(worker: DeviceWorker, stream: OpenedStream, latency: LatencySettings) {
    super(worker, stream, latency);
    worker.on('message', (message) => {
      if (message.type === 'demand') for (let i = 0; i < message.frames && this.pacer; i++) this.pacer();
      else if (message.type === 'stats') this.workerStats = message.stats;
    });
  }

  /** The device's clock drives the mix: `tick` runs once for every frame the device wants. */
  setPacer(tick: () => void): void {
    this.pacer = tick;
    this.worker.send({ type: 'start' });
  }

  /** The worker converts whatever the mix has to the channels the device was opened with. */
  setChannelCount(channels: ChannelCount): void {
    this.worker.send({ type: 'mix-channels', channels });
  }

  write(frame: MixFrame): void {
    this.worker.send({ type: 'frame', samples: frame });
  }

  stats() {
    return {
      device: this.stream.deviceName,
      rate: this.stream.sampleRate,
      configuredLatencyMs: outputBufferMs(this.latency),
      queuedMs: Math.round(samplesToMs(this.workerStats.queued)),
      underruns: this.workerStats.underruns,
      overflows: this.workerStats.overflows,
    };
  }

  override async close(): Promise<void> {
    this.pacer = null;
    await super.close();
  }
}

export async function openDeviceSource(wanted: string | null, options: DeviceOptions = {}): Promise<DeviceSource> {
  const { worker, stream, latency } = await openWorkerStream('input', wanted, options);
  return new DeviceSource(worker, stream, latency);
}

export async function openDeviceSink(wanted: string | null, options: DeviceOptions = {}): Promise<DeviceSink> {
  const { worker, stream, latency } = await openWorkerStream('output', wanted, options);
  return new DeviceSink(worker, stream, latency);
}
