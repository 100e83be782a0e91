// The exit codes a script can rely on; README.md ("Exit codes") lists the same.
export const EXIT_CODES = {
  /** Everything asked for happened (and every expectation held). */
  ok: 0,
  /** Something failed at run time: a server that refused or could not be reached, a device, a disk or a file that failed. */
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
} as const;
