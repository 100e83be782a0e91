// The exit codes a script can rely on; README.md ("Exit codes") lists the same.
import { DeviceError } from '../audio/device/device-error.js';
import { UsageError } from './process.js';

export const EXIT_CODES = {
  /** Everything asked for happened (and every expectation held). */
  ok: 0,
  /** Something else failed at run time: an output file or a disk, an interrupted scenario, a server that could not start. */
  failure: 1,
  /** The command line or a scenario file is wrong: nothing was started. */
  usage: 2,
  /** The run went through, but an expectation (--expect, a scenario's expect) did not hold. */
  expectationsFailed: 3,
  /**
   * A fault in voxroom itself (an exception in the audio tick, an unhandled rejection): reported
   * as a problem, recordings finalised, then this code. Worth a bug report.
   */
  internalFault: 4,
  /** No voxroom server answered: not at the start, or not again within --reconnect-timeout after it was lost. */
  unreachable: 5,
  /** The server refused us: a token missing, forged, expired or for another room, a full room, a kick, our name taken by another session, our return refused. */
  refused: 6,
  /** An audio device failed to open or stopped (PortAudio, the sound server). */
  device: 7,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The names a --json `error` event gives its exit code, for scripts that branch on words. */
const EXIT_CODE_NAMES: Record<ExitCode, string> = { 0: 'ok', 1: 'failure', 2: 'usage', 3: 'expectations-failed', 4: 'internal-fault', 5: 'unreachable', 6: 'refused', 7: 'device' };

export function exitCodeName(code: ExitCode): string {
  return EXIT_CODE_NAMES[code];
}

/** A failure that ends a command with a chosen exit code. */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** The server's code for a refusal (room-full, token-expired, …), for --json's `reason`. */
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** A join that failed, or a membership that ended, by the server's code (or the client's `unreachable`/`timeout`). */
export function exitCodeForServerFailure(code: string | undefined): ExitCode {
  // No answer, a server shutting down, or a cluster that cannot serve right now: try again later.
  if (code === 'unreachable' || code === 'timeout' || code === 'unavailable' || code === 'shutting-down') return EXIT_CODES.unreachable;
  // What we asked for cannot be right: a place the room does not have, a malformed request.
  if (code === 'bad-request' || code === 'payload-too-large' || code === 'not-spatial' || code === 'unknown-spot' || code === 'outside-room') return EXIT_CODES.usage;
  return EXIT_CODES.refused;
}

/** The exit code for whatever ended a command with an exception. */
export function exitCodeForError(error: unknown): ExitCode {
  if (error instanceof ExitError) return error.exitCode;
  if (error instanceof UsageError) return EXIT_CODES.usage;
  if (error instanceof DeviceError) return EXIT_CODES.device;
  return EXIT_CODES.failure;
}
