// The echo canceller's plan and the sound server's arguments, without a sound server.
import { describe, expect, it } from 'vitest';
import { cancellerNames, moduleArguments, planProcessing, staleCancellers } from '../../src/audio/device/echo-canceller.js';

const device = (name: string | null = null) => ({ kind: 'device', device: name });
const base = { input: device(), output: device(), listenOnly: false, echoCancel: true, denoise: false, agc: false };

describe('planProcessing', () => {
  it('cancels echo when the input and the output are both devices, unless told not to', () => {
    expect(planProcessing(base)).toEqual({ load: true, processing: { noiseSuppression: false, gainControl: false }, routeOutput: true });
    expect(planProcessing({ ...base, echoCancel: false })).toEqual({ load: false });
    expect(planProcessing({ ...base, output: { kind: 'file' } })).toEqual({ load: false });
    expect(planProcessing({ ...base, input: { kind: 'tone' } })).toEqual({ load: false });
    expect(planProcessing({ ...base, listenOnly: true })).toEqual({ load: false });
  });

  it('denoises or raises a microphone without speakers, and refuses to for anything else', () => {
    expect(planProcessing({ ...base, output: { kind: 'null' }, denoise: true })).toMatchObject({ load: true, processing: { noiseSuppression: true, gainControl: false }, routeOutput: false });
    expect(planProcessing({ ...base, echoCancel: false, agc: true })).toMatchObject({ load: true, processing: { gainControl: true }, routeOutput: false });
    expect(() => planProcessing({ ...base, input: { kind: 'file' }, denoise: true })).toThrow(/--denoise processes a microphone: give a device input \(the default\), not a file input/);
    expect(() => planProcessing({ ...base, listenOnly: true, agc: true })).toThrow(/--agc processes a microphone: .* not --listen-only/);
  });

  it('says why it is off for a device opened directly, not through the sound server', () => {
    expect(planProcessing({ ...base, input: device('pulse'), output: device('default') })).toMatchObject({ load: true });
    const direct = planProcessing({ ...base, output: device('hw:1,0') });
    expect(direct).toEqual({ load: false, warning: expect.stringMatching(/^echo cancellation runs in the sound server .* device "hw:1,0" is opened directly: running without it/) });
  });
});

describe('the sound server module', () => {
  it('loads WebRTC\'s canceller between the devices, with names of this process', () => {
    const args = moduleArguments({ sourceMaster: 'mic.monitor', sinkMaster: 'speakers', ...cancellerNames(4242, 'a1b2c3'), processing: { noiseSuppression: true, gainControl: false } });
    expect(args.slice(0, 2)).toEqual(['load-module', 'module-echo-cancel']);
    expect(args).toEqual(expect.arrayContaining(['source_master=mic.monitor', 'sink_master=speakers', 'source_name=voxroom_ec4242_a1b2c3_mic', 'sink_name=voxroom_ec4242_a1b2c3_speakers', 'aec_method=webrtc', 'rate=48000', 'channels=1']));
    expect(args.find((a) => a.startsWith('aec_args='))).toMatch(/^aec_args="noise_suppression=1 analog_gain_control=0 digital_gain_control=0 /);
  });

  it('finds the cancellers of processes that are gone, and one left under our own pid, and only those', () => {
    const list = [
      '1\tmodule-null-sink\tsink_name=x',
      '7\tmodule-echo-cancel\tsource_master=a sink_master=b source_name=voxroom_ec111_0a0b0c_mic sink_name=voxroom_ec111_0a0b0c_speakers',
      '8\tmodule-echo-cancel\tsource_master=a sink_master=b source_name=voxroom_ec222_0d0e0f_mic sink_name=voxroom_ec222_0d0e0f_speakers',
      '9\tmodule-echo-cancel\tsource_name=someone_elses',
      '10\tmodule-echo-cancel\tsource_name=voxroom_ec333_abcdef_mic',
    ].join('\n');
    // 222 and 333 are alive; 333 is this process, which has loaded no canceller yet.
    expect(staleCancellers(list, (pid) => pid === 222 || pid === 333, 333)).toEqual(['7', '10']);
  });
});
