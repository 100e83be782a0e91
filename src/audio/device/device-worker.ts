// The device worker: a child process that owns one PortAudio stream (naudiodon) and exchanges
// 48 kHz mono 10 ms frames with the peer over IPC. Runs as `node device-worker.js`.
//
// Output is paced by the device: naudiodon's write completes only when its one-slot queue has
// room, i.e. when PortAudio's callback took the previous chunk. Each completed write asks the
// peer for one more frame, so the device clock drives the mix and the queue never grows.
// Input is read in chunks of one callback and cut into frames. naudiodon prints to stdout from
// C (printf); the parent discards or logs it, which is one more reason this is a process.
import { createRequire } from 'node:module';
import { Writable, Readable } from 'node:stream';
import { FRAME_SAMPLES, SAMPLE_RATE, clampToInt16 } from '../format.js';
import { FrameAssembler } from '../frame-assembler.js';
import { createResampler, type StreamResampler } from '../resampler.js';
import type { DeviceInfo, Direction, ParentMessage, StreamSettings, WorkerMessage, WorkerStats } from './worker-protocol.js';

interface NaudiodonDevice {
  id: number;
  name: string;
  hostAPIName: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
}
interface StreamOptions {
  deviceId: number;
  sampleRate: number;
  channelCount: number;
  sampleFormat: 16;
  framesPerBuffer: number;
  maxQueue: number;
  highwaterMark: number;
  closeOnError: boolean;
}
type IoStream = (Readable | Writable) & { start(): void; quit(callback?: () => void): Promise<void> };
interface Naudiodon {
  getDevices(): NaudiodonDevice[];
  getHostAPIs(): { defaultHostAPI: number; HostAPIs: Array<{ id: number; name: string; defaultInput: number; defaultOutput: number }> };
  AudioIO(options: { inOptions?: StreamOptions; outOptions?: StreamOptions }): IoStream;
}

const send = (message: WorkerMessage): void => {
  process.send?.(message);
};

function loadNaudiodon(): Naudiodon {
  try {
    return createRequire(import.meta.url)('naudiodon') as Naudiodon;
  } catch (error) {
    throw new Error(`PortAudio (the optional naudiodon module) could not be loaded: ${(error as Error).message.split('\n')[0]}; reinstall with build tools present (npm install), or use file/tone inputs and file/null outputs`);
  }
}

function listDevices(portAudio: Naudiodon): DeviceInfo[] {
  const hostApis = portAudio.getHostAPIs();
  const defaultApi = hostApis.HostAPIs[hostApis.defaultHostAPI];
  return portAudio.getDevices().map((device) => ({
    index: device.id,
    name: device.name,
    hostApi: device.hostAPIName,
    maxInputChannels: device.maxInputChannels,
    maxOutputChannels: device.maxOutputChannels,
    defaultSampleRate: device.defaultSampleRate,
    defaultInput: defaultApi?.defaultInput === device.id,
    defaultOutput: defaultApi?.defaultOutput === device.id,
  }));
}

/** Opens the first format the device accepts: 48 kHz saves a conversion, mono saves bandwidth. */
function openStream(portAudio: Naudiodon, direction: Direction, settings: StreamSettings): { stream: IoStream; sampleRate: number; channels: number; deviceName: string } {
  const devices = portAudio.getDevices();
  const device = settings.deviceIndex >= 0 ? devices.find((d) => d.id === settings.deviceIndex) : undefined;
  const maxChannels = device ? (direction === 'input' ? device.maxInputChannels : device.maxOutputChannels) : 2;
  const rates = [...new Set([SAMPLE_RATE, device?.defaultSampleRate ?? SAMPLE_RATE])];
  const channelChoices = [...new Set([1, Math.min(2, Math.max(1, maxChannels))])];
  let lastError: Error | null = null;
  for (const sampleRate of rates) {
    for (const channels of channelChoices) {
      const framesPerBuffer = Math.round((settings.framesPerBuffer * sampleRate) / SAMPLE_RATE);
      const options: StreamOptions = {
        deviceId: settings.deviceIndex,
        sampleRate,
        channelCount: channels,
        sampleFormat: 16,
        framesPerBuffer,
        // One queued chunk each way: deeper native queues are where naive pipes lose 170+ ms.
        maxQueue: direction === 'output' ? 1 : 2,
        highwaterMark: framesPerBuffer * channels * 2,
        closeOnError: false,
      };
      try {
        const stream = portAudio.AudioIO(direction === 'input' ? { inOptions: options } : { outOptions: options });
        return { stream, sampleRate, channels, deviceName: device?.name ?? 'default' };
      } catch (error) {
        lastError = error as Error;
      }
    }
  }
  throw new Error(`the ${direction} device refused every format tried (48 kHz and its own rate, mono and stereo): ${lastError?.message ?? 'unknown error'}`);
}

class OutputPump {
  private readonly queue: Int16Array[] = [];
  private readonly stats: WorkerStats = { underruns: 0, overflows: 0, queued: 0 };
  private stopped = false;
  private started = false;
  private resampler: StreamResampler | null = null;

  constructor(
    private readonly stream: Writable,
    private readonly sampleRate: number,
    private readonly channels: number,
    private readonly queueFrames: number,
  ) {}

  async prepare(): Promise<void> {
    if (this.sampleRate !== SAMPLE_RATE) this.resampler = await createResampler(SAMPLE_RATE, this.sampleRate);
  }

  requestInitialFrames(): void {
    send({ type: 'demand', frames: this.queueFrames });
  }

  push(frame: Int16Array): void {
    // Frames beyond the target depth (mixed while the device was not asking) are dropped
    // oldest-first, so latency never builds up: one demand per frame played keeps the queue
    // at exactly its target afterwards.
    if (this.queue.length >= this.queueFrames) {
      this.queue.shift();
      this.stats.overflows++;
    }
    this.queue.push(frame);
    // Start playing once the first frames are queued, so the device does not begin on an underrun.
    if (!this.started && this.queue.length >= this.queueFrames) {
      this.started = true;
      (this.stream as unknown as { start(): void }).start();
      this.pump();
    }
  }

  stop(): void {
    this.stopped = true;
    this.resampler?.destroy();
  }

  report(): WorkerStats {
    return { ...this.stats, queued: this.queue.length };
  }

  private pump(): void {
    if (this.stopped) return;
    let frame = this.queue.shift();
    if (!frame) {
      this.stats.underruns++;
      frame = new Int16Array(FRAME_SAMPLES);
    }
    this.stream.write(this.toDevice(frame), (error) => {
      if (error) return fail(`the output device failed: ${error.message}`);
      // The device took a chunk: ask for the frame that replaces it, then write the next.
      send({ type: 'demand', frames: 1 });
      this.pump();
    });
  }

  private toDevice(frame: Int16Array): Buffer {
    let mono: Int16Array = frame;
    if (this.resampler) {
      const converted = this.resampler.process(Float32Array.from(frame, (sample) => sample / 32768));
      mono = Int16Array.from(converted, (sample) => clampToInt16(sample * 32768));
    }
    if (this.channels === 1) return Buffer.from(mono.buffer, mono.byteOffset, mono.byteLength);
    const interleaved = new Int16Array(mono.length * this.channels);
    for (let i = 0; i < mono.length; i++) for (let c = 0; c < this.channels; c++) interleaved[i * this.channels + c] = mono[i]!;
    return Buffer.from(interleaved.buffer);
  }
}

let closeStream: (() => Promise<void>) | null = null;
let statsTimer: NodeJS.Timeout | null = null;

function fail(message: string): void {
  send({ type: 'error', message });
  void shutdown(1);
}

async function shutdown(code: number): Promise<void> {
  if (statsTimer) clearInterval(statsTimer);
  const close = closeStream;
  closeStream = null;
  try {
    await close?.();
  } finally {
    send({ type: 'closed' });
    // Let the IPC message flush before the process goes.
    setTimeout(() => process.exit(code), 20);
  }
}

async function open(direction: Direction, settings: StreamSettings): Promise<void> {
  const portAudio = loadNaudiodon();
  const { stream, sampleRate, channels, deviceName } = openStream(portAudio, direction, settings);
  stream.on('error', (error: Error) => fail(`the ${direction} device failed: ${error.message}`));
  if (direction === 'output') {
    const pump = new OutputPump(stream as Writable, sampleRate, channels, settings.queueFrames);
    await pump.prepare();
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'frame') pump.push(message.samples);
      else if (message.type === 'start') pump.requestInitialFrames();
    });
    statsTimer = setInterval(() => send({ type: 'stats', stats: pump.report() }), 500);
    closeStream = async () => {
      pump.stop();
      await stream.quit();
    };
  } else {
    const assembler = new FrameAssembler((frame) => send({ type: 'frame', samples: frame }));
    stream.on('data', (chunk: Buffer) => {
      const samples = new Int16Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
      assembler.push({ samples, sampleRate, channelCount: channels });
    });
    stream.start();
    closeStream = async () => {
      assembler.close();
      stream.removeAllListeners('data');
      await stream.quit();
    };
  }
  send({ type: 'opened', stream: { direction, deviceName, sampleRate, channels, framesPerBuffer: settings.framesPerBuffer } });
}

process.on('message', (message: ParentMessage) => {
  try {
    if (message.type === 'list') {
      send({ type: 'devices', devices: listDevices(loadNaudiodon()) });
      void shutdown(0);
    } else if (message.type === 'open') {
      open(message.direction, message.settings).catch((error: Error) => fail(error.message));
    } else if (message.type === 'close') {
      void shutdown(0);
    }
  } catch (error) {
    fail((error as Error).message);
  }
});
// The parent went away: never outlive it.
process.on('disconnect', () => void shutdown(0));
