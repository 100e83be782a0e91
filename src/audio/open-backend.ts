// Opens the source and sink the CLI asked for. Device backends load PortAudio lazily, so files,
// tones and the server work on machines where the native module cannot load.
import { NullSink, SilenceSource, type AudioSink, type AudioSource } from './backend.js';
import type { SinkSpec, SourceSpec } from './backend-spec.js';
import { ToneSource } from './tone-source.js';
import { WavFileSource } from './wav-file-source.js';
import { WavFileSink } from './wav-writer.js';
import type { DeviceOptions } from './device/device-client.js';

export async function openSource(spec: SourceSpec, options: { loop?: boolean; device?: DeviceOptions } = {}): Promise<AudioSource> {
  switch (spec.kind) {
    case 'tone':
      return new ToneSource(spec.frequency);
    case 'silence':
      return new SilenceSource();
    case 'file':
      return WavFileSource.open(spec.path, { loop: options.loop });
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
