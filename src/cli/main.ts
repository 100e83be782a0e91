// The voxroom CLI: one program, one subcommand per job.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { serveCommand } from './serve-command.js';
import { joinCommand } from './join-command.js';
import { devicesCommand } from './devices-command.js';
import { demoCommand } from './demo-command.js';
import { loadCommand } from './load-command.js';
import { tokenCommand } from './token-command.js';
import { EXIT_CODES, ExitError, exitCodeForError, exitCodeName, type ExitCode } from './exit-codes.js';
import { scenarioCommand } from './scenario-command.js';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('voxroom')
    .description('Scripted, headless voice rooms: a signalling server and WebRTC mesh peers that mix audio in Node.')
    .version(packageJson.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride();
  program.addCommand(serveCommand().exitOverride().showHelpAfterError('(run "voxroom serve --help" for usage)'));
  program.addCommand(joinCommand().exitOverride().showHelpAfterError('(run "voxroom join --help" for usage)'));
  program.addCommand(devicesCommand().exitOverride());
  program.addCommand(demoCommand().exitOverride());
  program.addCommand(loadCommand().exitOverride().showHelpAfterError('(run "voxroom load --help" for usage)'));
  program.addCommand(scenarioCommand().exitOverride().showHelpAfterError('(run "voxroom scenario --help" for usage)'));
  program.addCommand(tokenCommand().exitOverride().showHelpAfterError('(run "voxroom token --help" for usage)'));
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
