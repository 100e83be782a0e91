// Opens the source and sink the CLI asked for. Device backends load PortAudio lazily, so files,
// tones and the server work on machines where the native module cannot load.
import { access, constants } from 'node:fs/promises';
import { NullSink, SilenceSource, type AudioSink, type AudioSource } from './backend.js';
import type { SinkSpec, SourceSpec } from './backend-spec.js';
import { ToneSource } from './tone-source.js';
import { WavFileSource } from './wav-file-source.js';
import { SampleSource } from './sample-source.js';
import { ClickSource } from './click-timing.js';
import { FRAME_MS } from './format.js';
import { MissingProgramError, decodeWithFfmpeg, renderSpeech } from './external-decoders.js';
import { WavFileSink } from './wav-writer.js';
import type { DeviceOptions } from './device/device-client.js';

export async function openSource(spec: SourceSpec, options: { loop?: boolean; device?: DeviceOptions } = {}): Promise<AudioSource> {
  switch (spec.kind) {
    case 'tone':
      return new ToneSource(spec.frequency);
    case 'silence':
      return new SilenceSource();
    case 'file':
      return openFileSource(spec.path, options.loop ?? false);
    case 'speak':
      return new SampleSource(`speak:${spec.text}`, await renderSpeech(spec.text), options.loop ?? false);
    case 'clicks':
      return new ClickSource(spec.periodMs / FRAME_MS, { log: false });
    case 'device': {
      const { openDeviceSource } = await import('./device/device-client.js');
      return openDeviceSource(spec.device, options.device ?? {});
    }
  }
}

export async function openSink(spec: SinkSpec, options: { device?: DeviceOptions } = {}): Promise<AudioSink> {
  switch (spec.kind) {
    case 'null':
      return new NullSink();
    case 'file':
      try {
        return new WavFileSink(spec.path);
      } catch (error) {
        throw new Error(`cannot write output file ${spec.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    case 'device': {
      const { openDeviceSink } = await import('./device/device-client.js');
      return openDeviceSink(spec.device, options.device ?? {});
    }
  }
}

/**
 * WAV is read in Node; anything else (or a WAV wavefile cannot read) goes through ffmpeg when it
 * is installed. Without ffmpeg the WAV reader's own message stands.
 */
async function openFileSource(path: string, loop: boolean): Promise<AudioSource> {
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    throw new Error(`cannot read input file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const isWav = /\.wave?$/i.test(path);
  let wavError: Error | null = null;
  if (isWav) {
    try {
      return await WavFileSource.open(path, { loop });
    } catch (error) {
      if ((error as Error).message.startsWith('cannot read input file')) throw error;
      wavError = error as Error;
    }
  }
  try {
    return new SampleSource(`file:${path}`, await decodeWithFfmpeg(path), loop);
  } catch (error) {
    if (error instanceof MissingProgramError) {
      throw wavError ?? new Error(`${path} is not a WAV file, and playing other formats (MP3, Ogg/Opus, FLAC) needs ffmpeg: install it (sudo apt-get install ffmpeg) or convert the file to WAV`);
    }
    if (wavError) throw wavError;
    throw new Error(`input file ${path} is not a WAV file, and ffmpeg cannot decode it either (${(error as Error).message.replace(/^playing [^:]+: /, '')}); give a WAV, MP3, Ogg/Opus or FLAC file`);
  }
}
