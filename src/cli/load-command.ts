// `voxroom load <room>`: many peers in one process against a server (as LiveKit's `lk load-test`
// does), printing progress every second and a summary; exits 1 when a listener did not hear
// every speaker at the end, so a CI job can use it as a check.
import { getPriority } from 'node:os';
import { Command, Option } from 'commander';
import { ROOM_ID_PATTERN } from '../protocol.js';
import { LoadRun, describeShortfalls, type LoadSample } from '../peer/load-generator.js';
import { MIXING_NICE, raiseMixingPriority } from '../audio/mixing-priority.js';
import { noHighPriorityOption, parseIntegerInRange, parsePositiveSeconds } from './options.js';
import { UsageError, onShutdownSignal } from './process.js';

interface LoadFlags {
  server: string;
  listeners: number;
  speakers: number;
  silent: number;
  duration: number;
  expectSpeakers?: number;
  tag?: string;
  json?: boolean;
  insecure?: boolean;
  highPriority: boolean;
}

export function loadCommand(): Command {
  return new Command('load')
    .description('load-test a room: many speakers and listeners in this one process, with per-second figures and a verdict')
    .argument('<room>', 'room id (letters, digits, _ and -)')
    .option('-s, --server <url>', 'signalling server', process.env.VOXROOM_SERVER ?? 'http://127.0.0.1:8080')
    .addOption(new Option('--listeners <n>', 'listen-only peers').argParser(parseIntegerInRange(0, 2000)).makeOptionMandatory())
    .option('--speakers <n>', 'peers sending a tone each', parseIntegerInRange(0, 64), 1)
    .option('--silent <n>', 'peers that publish silence (present and sending, never heard)', parseIntegerInRange(0, 2000), 0)
    .option('--expect-speakers <n>', 'speakers each listener must hear (default: --speakers; more when other load processes bring speakers)', parseIntegerInRange(0, 64))
    .option('--tag <tag>', 'listener names become listener-<tag>-N (several load processes in one room)')
    .option('-d, --duration <seconds>', 'how long to run after everyone has joined', parsePositiveSeconds, 10)
    .option('--insecure', 'accept a self-signed TLS certificate from the server')
    .option('--json', 'print progress and the summary as JSON lines')
    .addOption(noHighPriorityOption())
    .action(async (room: string, flags: LoadFlags) => runLoad(room, flags));
}

function describe(sample: LoadSample, speakers: number): string {
  // Each listener hears the speakers; a speaker hears the other speakers.
  const short = sample.shortfalls ? `  short: ${describeShortfalls(sample)}` : '';
  return `${sample.seconds.toFixed(0).padStart(4)} s  connected ${sample.connected}/${sample.peers}  speakers heard min ${sample.speakersHeardMin}/${speakers} mean ${sample.speakersHeardMean}  gaps ${sample.gapPercent} %  late ticks ${sample.lateTickPercent} %  CPU ${sample.cpuPercent} %  RSS ${sample.rssMb} MB${short}`;
}

async function runLoad(room: string, flags: LoadFlags): Promise<void> {
  if (!ROOM_ID_PATTERN.test(room)) throw new UsageError(`"${room}" is not a room id; use 1–64 letters, digits, _ and -`);
  if (flags.listeners + flags.speakers + flags.silent === 0) throw new UsageError('nothing to run: give --listeners and/or --speakers above 0');
  const print = (event: string, fields: object, human: string): void => {
    process.stdout.write((flags.json ? JSON.stringify({ event, ...fields }) : human) + '\n');
  };
  const problems: string[] = [];
  if (flags.tag !== undefined && !/^[A-Za-z0-9_]{1,12}$/.test(flags.tag)) throw new UsageError(`--tag "${flags.tag}": use 1–12 letters, digits or _`);
  const expectSpeakers = flags.expectSpeakers ?? flags.speakers;
  // A load test's figures depend on it: the summary gives the level, and a refusal is said.
  const priority = flags.highPriority ? raiseMixingPriority() : { nice: getPriority() };
  if (priority.refusal !== undefined) process.stderr.write(`voxroom: the mixing thread stays at nice ${priority.nice}, not ${MIXING_NICE} (${priority.refusal}); late ticks are likelier on a busy machine. Allow it with CAP_SYS_NICE or an RLIMIT_NICE allowance (ulimit -e 31), or pass --no-high-priority to silence this.\n`);
  const run = new LoadRun({ serverUrl: flags.server, room, listeners: flags.listeners, speakers: flags.speakers, expectSpeakers, silent: flags.silent, tag: flags.tag, joinSpacingMs: 20, insecureTls: flags.insecure });
  const progress = setInterval(() => {
    const sample = run.sample();
    print('progress', sample, describe(sample, expectSpeakers));
  }, 1000);
  let interrupted = false;
  try {
    await run.start((message) => {
      problems.push(message);
      if (problems.length <= 10) process.stderr.write(`voxroom: ${message}\n`);
    });
    await Promise.race([new Promise((resolve) => setTimeout(resolve, flags.duration * 1000)), onShutdownSignal().then(() => (interrupted = true))]);
  } finally {
    clearInterval(progress);
  }
  const final = run.sample();
  await run.stop();
  const everyoneHeard = (flags.listeners === 0 || final.speakersHeardMin >= expectSpeakers) && final.connected === final.peers;
  const verdict = interrupted ? 'interrupted' : everyoneHeard ? 'every listener heard every speaker' : 'some listener did not hear every speaker';
  print('summary', { ...final, problems: problems.length, verdict, mixingThreadNice: priority.nice }, `summary: ${describe(final, expectSpeakers)}; ${problems.length} problem(s); ${verdict}`);
  if (!everyoneHeard && !interrupted) process.exitCode = 1;
}
