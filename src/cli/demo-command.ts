// `voxroom demo`: the whole product in one command. Starts a server, puts three bots with
// distinct tones in a room, lets them talk, then shows what each one heard (measured, not
// assumed) and where the recordings are.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { toneLevel } from '../audio/analysis.js';
import { FRAME_SAMPLES } from '../audio/format.js';
import { MemorySink } from '../audio/memory-sink.js';
import { ToneSource } from '../audio/tone-source.js';
import { WavFileSink } from '../audio/wav-writer.js';
import type { AudioSink } from '../audio/backend.js';
import type { Frame } from '../audio/format.js';
import { startSignallingServer } from '../server/signalling-server.js';
import { VoicePeer } from '../peer/voice-peer.js';
import { parsePositiveSeconds } from './options.js';
import { Output } from './output.js';

const BOTS = [
  { name: 'alice', hz: 440 },
  { name: 'bob', hz: 620 },
  { name: 'carol', hz: 970 },
];

/** Writes the mix to a file and keeps the last second in memory for the report. */
class TeeSink implements AudioSink {
  readonly label: string;
  readonly recent = new MemorySink({ maxSeconds: 1 });
  constructor(private readonly file: WavFileSink) {
    this.label = file.label;
  }
  write(frame: Frame): void {
    this.file.write(frame);
    this.recent.write(frame);
  }
  close(): Promise<void> {
    return this.file.close();
  }
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('start a server and three bots with tones in one room; report what each heard')
    .option('-d, --duration <seconds>', 'how long the bots talk', parsePositiveSeconds, 6)
    .option('--out <dir>', 'where the mixes and recordings go', 'voxroom-demo')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { duration: number; out: string; json?: boolean }) => {
      const out = new Output(Boolean(flags.json));
      const dir = resolve(flags.out);
      mkdirSync(dir, { recursive: true });
      const server = await startSignallingServer({ port: 0 });
      out.event('server', { url: server.url }, `server listening on ${server.url} (room "demo")`);
      const bots = BOTS.map(({ name, hz }) => {
        const sink = new TeeSink(new WavFileSink(join(dir, `${name}-mix.wav`)));
        const peer = new VoicePeer({ serverUrl: server.url, room: 'demo', name, source: new ToneSource(hz), sink, recordDir: join(dir, `${name}-heard`) });
        peer.on('peer-joined', (p) => out.event('peer-joined', { bot: name, peer: p.name }, `${name}: ${p.name} joined`));
        return { name, hz, peer, sink };
      });
      try {
        for (const bot of bots) await bot.peer.start();
        // The report is about the call, not its set-up: talk once every pair is connected.
        const deadline = Date.now() + 15_000;
        const allConnected = (): boolean => bots.every((b) => b.peer.peers().length === BOTS.length - 1 && b.peer.peers().every((p) => p.connection === 'connected' && (p.audio?.receivedFrames ?? 0) > 10));
        while (!allConnected() && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50));
        if (!allConnected()) out.problem('not every pair of bots connected within 15 s; the report shows what was heard anyway');
        out.event('talking', { seconds: flags.duration }, `three bots connected; talking for ${flags.duration} s…`);
        await new Promise((done) => setTimeout(done, flags.duration * 1000));
        const report = bots.map((listener) => ({
          listener: listener.name,
          heard: Object.fromEntries(BOTS.map(({ name, hz }) => [`${name} (${hz} Hz)`, levelDbfs(listener.sink.recent.samples(), hz)])),
          connections: listener.peer.peers().map((p) => `${p.name}:${p.connection}`),
        }));
        if (flags.json) out.event('report', { report, dir }, '');
        else {
          out.text('\nWhat each bot heard (tone level in its mix over the last second; −20 dBFS = as sent):');
          out.table(['LISTENER', ...BOTS.map((b) => `${b.name} ${b.hz} Hz`)], report.map((r) => [r.listener, ...Object.values(r.heard).map((db) => (db < -60 ? 'silent' : `${db.toFixed(1)} dBFS`))]));
          out.text(`\nMixes and per-peer recordings: ${dir}`);
        }
      } finally {
        await Promise.all(bots.map((b) => b.peer.stop()));
        await server.close();
      }
    });
}

function levelDbfs(samples: Int16Array, hz: number): number {
  if (samples.length < FRAME_SAMPLES) return -Infinity;
  return 20 * Math.log10(Math.max(1e-9, toneLevel(samples, hz)) / 32768);
}
