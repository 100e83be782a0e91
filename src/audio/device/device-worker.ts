// The device worker: a child process that owns one PortAudio stream (naudiodon) and exchanges
// 48 kHz 10 ms frames with the peer over IPC (mono; the output also takes a stereo mix). Runs as `node device-worker.js`.
//
// Output is paced by the device: naudiodon's write completes only when its one-slot queue has
// room, i.e. when PortAudio's callback took the previous chunk, and the pump asks the peer for
// frames just in time, so the device clock drives the mix and no queue grows. Input is read in
// chunks of one callback, cut into frames and sent at once. naudiodon prints to stdout from
// C (printf); the parent discards or logs it, which is one more reason this is a process.
import { createRequire } from 'node:module';
import { Writable, Readable } from 'node:stream';
import { FRAME_SAMPLES, SAMPLE_RATE, clampToInt16, convertChannels, msToSamples, type ChannelCount } from '../format.js';
import { FrameAssembler } from '../frame-assembler.js';
import { SampleFifo } from '../sample-fifo.js';
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

/**
 * Opens the first format the device accepts: 48 kHz saves a conversion; the channel count the
 * peer asked for first (mono saves bandwidth; an output for a spatial room asks for stereo).
 */
function openStream(portAudio: Naudiodon, direction: Direction, settings: StreamSettings): { stream: IoStream; sampleRate: number; channels: ChannelCount; deviceName: string } {
  const devices = portAudio.getDevices();
  const device = settings.deviceIndex >= 0 ? devices.find((d) => d.id === settings.deviceIndex) : undefined;
  const maxChannels = device ? (direction === 'input' ? device.maxInputChannels : device.maxOutputChannels) : 2;
  const rates = [...new Set([SAMPLE_RATE, device?.defaultSampleRate ?? SAMPLE_RATE])];
  const fits = (wanted: ChannelCount): ChannelCount => (wanted === 2 && maxChannels >= 2 ? 2 : 1);
  const channelChoices = [...new Set<ChannelCount>([fits(settings.channels), 1, fits(2)])];
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

/**
 * Feeds the output device one chunk (one callback's worth) at a time. naudiodon's write
 * completes when its one-slot queue takes the chunk, i.e. when PortAudio's callback took the
 * one before: so exactly one chunk plays, one waits in the queue and one write is pending,
 * and each completion is the device's clock asking for more. Mixed frames are asked for just
 * in time (only when the samples on hand would not cover the next chunk plus the reserve), so
 * a frame waits ~one chunk here instead of a queue's worth. A late frame means one chunk of
 * silence, never a stall: naudiodon's callback blocks on an empty queue.
 * The FIFO holds samples in the device's channel layout (interleaved), so every count of
 * samples here is per channel and multiplied by `channels` where the FIFO is concerned.
 */
class OutputPump {
  private readonly fifo = new SampleFifo();
  /** Channels of the frames the mix sends (mono until the peer says otherwise). */
  private mixChannels: ChannelCount = 1;
  private readonly stats: WorkerStats = { underruns: 0, overflows: 0, queued: 0 };
  private awaitingFrames = 0;
  /** Samples of silence played for late audio (at most a frame), skipped when it comes. */
  private owedSamples = 0;
  private stopped = false;
  private started = false;
  /** One per device channel, when the device does not run at 48 kHz. */
  private resamplers: StreamResampler[] = [];
  private readonly chunkSamples: number;
  private readonly wantSamples: number;

  constructor(
    private readonly stream: Writable,
    private readonly sampleRate: number,
    private readonly channels: ChannelCount,
    settings: StreamSettings,
  ) {
    this.chunkSamples = settings.framesPerBuffer;
    this.wantSamples = settings.framesPerBuffer + msToSamples(settings.reserveMs);
  }

  async prepare(): Promise<void> {
    if (this.sampleRate !== SAMPLE_RATE) this.resamplers = await Promise.all(Array.from({ length: this.channels }, () => createResampler(SAMPLE_RATE, this.sampleRate)));
  }

  setMixChannels(channels: ChannelCount): void {
    this.mixChannels = channels;
  }

  requestInitialFrames(): void {
    this.demand();
  }

  push(frame: Int16Array): void {
    this.awaitingFrames = Math.max(0, this.awaitingFrames - 1);
    this.fifo.push(convertChannels(frame, this.mixChannels, this.channels));
    // Silence played in place of a late frame: skip as much of it, or every later frame would
    // be played that much later (the mix clock would slip a chunk per underrun).
    const skip = Math.min(this.owedSamples, this.fifo.length);
    if (skip > 0) {
      this.fifo.discard(skip);
      this.owedSamples -= skip;
    }
    // Frames mixed while the device was not asking (the peer's stand-in timer) would build
    // latency: beyond one frame over what is wanted, the oldest go.
    const excess = this.fifo.length - (this.wantSamples + FRAME_SAMPLES) * this.channels;
    if (excess > 0) {
      this.fifo.discard(excess);
      this.stats.overflows++;
    }
    // Start playing once the first chunk is ready, so the device does not begin on an underrun.
    if (!this.started && this.fifo.length >= this.wantSamples * this.channels) {
      this.started = true;
      (this.stream as unknown as { start(): void }).start();
      this.writeNext();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const resampler of this.resamplers) resampler.destroy();
  }

  report(): WorkerStats {
    return { ...this.stats, queued: this.fifo.length / this.channels };
  }

  /** Asks the mix for frames until what is on hand or on its way covers the next chunk and the reserve. */
  private demand(): void {
    let frames = 0;
    while (this.fifo.length / this.channels + (this.awaitingFrames + frames) * FRAME_SAMPLES < this.wantSamples) frames++;
    if (frames === 0) return;
    this.awaitingFrames += frames;
    send({ type: 'demand', frames });
  }

  private writeNext(): void {
    if (this.stopped) return;
    let chunk = this.fifo.take(this.chunkSamples * this.channels);
    if (!chunk) {
      this.stats.underruns++;
      chunk = new Int16Array(this.chunkSamples * this.channels);
      if (this.started) this.owedSamples = Math.min(this.owedSamples + this.chunkSamples * this.channels, FRAME_SAMPLES * this.channels);
    }
    this.demand();
    this.stream.write(this.toDevice(chunk), (error) => {
      if (error) return fail(`the output device failed: ${error.message}`);
      // The queue took this chunk: the device has room again; the next one waits for it.
      this.writeNext();
    });
  }

  /** The chunk (already in the device's channels) at the device's rate, as bytes. */
  private toDevice(chunk: Int16Array): Buffer {
    let out = chunk;
    if (this.resamplers.length > 0) {
      const channels = this.channels;
      const converted = this.resamplers.map((resampler, c) => resampler.process(Float32Array.from({ length: chunk.length / channels }, (_, i) => chunk[i * channels + c]! / 32768)));
      const length = Math.min(...converted.map((side) => side.length));
      out = new Int16Array(length * channels);
      for (let i = 0; i < length; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = clampToInt16(converted[c]![i]! * 32768);
    }
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
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
    const pump = new OutputPump(stream as Writable, sampleRate, channels, settings);
    await pump.prepare();
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'frame') pump.push(message.samples);
      else if (message.type === 'mix-channels') pump.setMixChannels(message.channels);
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
