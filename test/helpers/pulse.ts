// Virtual sound devices for tests: PulseAudio null sinks (started by scripts/test-env.sh).
// A peer is pointed at its own "microphone" (a sink's monitor) and "speaker" with PULSE_SOURCE
// and PULSE_SINK; what it plays is recorded from the speaker sink's monitor.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { wavHeader } from '../../src/audio/wav-writer.js';
import { readWav16 } from './wav.js';

export function pactl(...args: string[]): string {
  return execFileSync('pactl', args, { encoding: 'utf8' }).trim();
}

/** Creates a 48 kHz mono null sink; returns a function that removes it. */
export function createNullSink(name: string): () => void {
  const moduleId = pactl('load-module', 'module-null-sink', `sink_name=${name}`, 'rate=48000', 'channels=1');
  return () => {
    try {
      pactl('unload-module', moduleId);
    } catch {
      // already gone
    }
  };
}

export interface VirtualPeerDevices {
  /** Environment that points a process at this peer's microphone and speaker. */
  env: NodeJS.ProcessEnv;
  mic: string;
  speaker: string;
  remove: () => void;
}

export function virtualDevices(prefix: string): VirtualPeerDevices {
  const mic = `${prefix}_mic`;
  const speaker = `${prefix}_spk`;
  const removeMic = createNullSink(mic);
  const removeSpeaker = createNullSink(speaker);
  return {
    env: { PULSE_SOURCE: `${mic}.monitor`, PULSE_SINK: speaker },
    mic,
    speaker,
    remove: () => {
      removeMic();
      removeSpeaker();
    },
  };
}

/** Plays a WAV file into a sink (the "microphone" of a peer) until killed or finished. */
export function playInto(sink: string, wavPath: string): ChildProcess {
  // 100 ms of buffer. With 10 ms, paplay itself underran on a busy machine and the "microphone"
  // carried gaps (recorded from the sink's monitor: 10 gaps of 10-40 ms in 40 s, each passed on
  // to the peer). PulseAudio's default (2 s) is not needed either: the sink renders in blocks set
  // by the lowest latency its monitor's readers ask for, so the peer still reads small blocks.
  return spawn('paplay', ['--latency-msec=100', '-d', sink, wavPath], { stdio: 'ignore' });
}

/** Records what is played on a sink, as 48 kHz mono; stop() returns the samples. */
export function recordSink(sink: string, path: string): { stop: () => Promise<Int16Array> } {
  const recorder = spawn('parecord', ['-d', `${sink}.monitor`, '--rate=48000', '--channels=1', '--format=s16le', '--file-format=wav', '--latency-msec=10', path], { stdio: 'ignore' });
  return {
    stop: async () => {
      // A PulseAudio stream can take a second or more to start: wait until at least half a
      // second of audio has reached the file before stopping, or the recording may be empty.
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && (!existsSync(path) || statSync(path).size < 44 + 48_000)) await new Promise((resolve) => setTimeout(resolve, 50));
      const exited = new Promise((resolve) => recorder.once('exit', resolve));
      recorder.kill('SIGINT');
      await exited;
      return readWav16(path).samples;
    },
  };
}

/** Writes a 48 kHz mono WAV file. */
export function writeWav48k(path: string, samples: Int16Array): void {
  writeFileSync(path, Buffer.concat([wavHeader(samples.byteLength), Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)]));
}

export function sine(hz: number, seconds: number, amplitude: number): Int16Array {
  return Int16Array.from({ length: Math.round(seconds * 48_000) }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / 48_000)));
}
