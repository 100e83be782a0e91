// `voxroom devices`: the PortAudio devices, as a table or JSON.
import { Command } from 'commander';
import { listAudioDevices } from '../audio/device/device-client.js';
import { createLogger } from '../log.js';
import { Output } from './output.js';

export function devicesCommand(): Command {
  return new Command('devices')
    .description('list audio input and output devices (PortAudio)')
    .option('--json', 'print the list as JSON')
    .option('-v, --verbose', 'show what PortAudio says while probing')
    .action(async (flags: { json?: boolean; verbose?: boolean }) => {
      const devices = await listAudioDevices(createLogger({ level: flags.verbose ? 'debug' : 'warn', json: false }));
      if (flags.json) {
        process.stdout.write(JSON.stringify(devices) + '\n');
        return;
      }
      if (devices.length === 0) {
        process.stdout.write('no audio devices found (on a server, start PulseAudio with a null sink: see README "Audio devices")\n');
        return;
      }
      new Output(false).table(
        ['INDEX', 'NAME', 'HOST API', 'IN', 'OUT', 'RATE', 'DEFAULT'],
        devices.map((d) => [String(d.index), d.name, d.hostApi, String(d.maxInputChannels), String(d.maxOutputChannels), String(d.defaultSampleRate), [d.defaultInput ? 'input' : '', d.defaultOutput ? 'output' : ''].filter(Boolean).join(',')]),
      );
    });
}
