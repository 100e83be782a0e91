// How verdicts leave a run: a line per expectation (or an `expectation` event with --json), a
// summary, and optionally a JUnit XML report; the exit code says whether all held.
import { writeFile } from 'node:fs/promises';
import { junitXml, type JunitSuite } from '../scenario/junit-report.js';
import type { Verdict } from '../scenario/verdict.js';
import { EXIT_CODES, type ExitCode } from './exit-codes.js';
import type { Output } from './output.js';

/** A table for people (result, expectation, what was measured), an `expectation` event each with --json. */
export function printVerdicts(out: Output, verdicts: readonly Verdict[]): void {
  if (out.json) {
    for (const verdict of verdicts) out.event('expectation', { expectation: verdict.expectation.text, passed: verdict.passed, reason: verdict.reason, ...(verdict.measured !== undefined ? { measured: verdict.measured } : {}) }, '');
  } else if (verdicts.length > 0) {
    out.table(['RESULT', 'EXPECTATION', 'MEASURED'], verdicts.map((v) => [v.passed ? 'PASS' : 'FAIL', v.expectation.text, v.reason]));
  }
  const failed = verdicts.filter((v) => !v.passed).length;
  out.event('verdict', { expectations: verdicts.length, failed }, failed === 0 ? `all ${verdicts.length} expectation${verdicts.length === 1 ? '' : 's'} held` : `${failed} of ${verdicts.length} expectation${verdicts.length === 1 ? '' : 's'} failed`);
}

/** Writes the JUnit report; a report that cannot be written is said, not hidden. */
export async function writeJunitReport(path: string, suites: readonly JunitSuite[], out: Output): Promise<boolean> {
  try {
    await writeFile(path, junitXml(suites));
    return true;
  } catch (error) {
    out.problem(`could not write the report ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check that its folder exists and is writable`);
    return false;
  }
}

export function exitCodeFor(verdicts: readonly Verdict[]): ExitCode {
  return verdicts.every((v) => v.passed) ? EXIT_CODES.ok : EXIT_CODES.expectationsFailed;
}
