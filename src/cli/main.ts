// The voxroom CLI: one program, one subcommand per job.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_CODES, ExitError, exitCodeForError, exitCodeName, type ExitCode } from './exit-codes.js';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * Each subcommand's module, loaded only when it runs (or for help): `serve` then starts without
 * wrtc, the audio code and their WASM, which took it from 0.87–0.95 s of CPU to 0.47–0.59 s before it
 * listened — time a restarted server's peers spend waiting, on a machine that may carry them.
 */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve-command.js')).serveCommand().showHelpAfterError('(run "voxroom serve --help" for usage)'),
  join: async () => (await import('./join-command.js')).joinCommand().showHelpAfterError('(run "voxroom join --help" for usage)'),
  devices: async () => (await import('./devices-command.js')).devicesCommand(),
  demo: async () => (await import('./demo-command.js')).demoCommand(),
  load: async () => (await import('./load-command.js')).loadCommand().showHelpAfterError('(run "voxroom load --help" for usage)'),
  scenario: async () => (await import('./scenario-command.js')).scenarioCommand().showHelpAfterError('(run "voxroom scenario --help" for usage)'),
  token: async () => (await import('./token-command.js')).tokenCommand().showHelpAfterError('(run "voxroom token --help" for usage)'),
};

/** The program with the subcommand `argv` names, or with all of them (help, a typo, none). */
export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command('voxroom')
    .description('Scripted, headless voice rooms: a signalling server and WebRTC mesh peers that mix audio in Node.')
    .version(packageJson.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride();
  const named = argv[2];
  const wanted = named !== undefined && Object.hasOwn(SUBCOMMANDS, named) ? [named] : Object.keys(SUBCOMMANDS);
  for (const name of wanted) program.addCommand((await SUBCOMMANDS[name]!()).exitOverride());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    process.exit(process.exitCode ?? EXIT_CODES.ok);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its message (help, version, or the error itself).
      if (error.exitCode === 0) process.exit(EXIT_CODES.ok);
      return fail(error.message.replace(/^error: /, ''), EXIT_CODES.usage, argv, false);
    }
    fail(error instanceof Error ? error.message : String(error), exitCodeForError(error), argv, true, error instanceof ExitError ? error.reason : undefined);
  }
}

/** Ends the program for a failure that stopped a command: a sentence on stderr, with --json also an `error` event on stdout. */
function fail(message: string, exitCode: ExitCode, argv: string[], printMessage: boolean, reason?: string): never {
  if (printMessage) process.stderr.write(`voxroom: ${message}\n`);
  if (wantsJson(argv)) process.stdout.write(JSON.stringify({ event: 'error', time: new Date().toISOString(), message, code: exitCodeName(exitCode), exitCode, ...(reason !== undefined ? { reason } : {}), fatal: true }) + '\n');
  process.exit(exitCode);
}

/** Whether the command line asked for --json (before a `--`), even if commander could not parse it. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
