// Verdicts as JUnit XML, the report format CI systems (GitHub Actions reporters, GitLab,
// Jenkins) display: one test case per expectation, a failure element with its reason. Pure.
import type { Verdict } from './verdict.js';

export interface JunitSuite {
  /** e.g. the scenario's name, or "voxroom join lobby as carol". */
  name: string;
  verdicts: readonly Verdict[];
  durationSeconds: number;
  startedAt: Date;
  /** What went wrong besides the expectations (a bot that could not join, an interrupted run): one error case each. */
  errors?: readonly string[];
}

/** Characters XML 1.0 cannot hold at all are dropped; the five special ones escaped. */
export function escapeXml(text: string): string {
  return text
    .replace(/[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function junitXml(suites: readonly JunitSuite[]): string {
  const count = (suite: JunitSuite) => ({ tests: suite.verdicts.length + (suite.errors?.length ?? 0), failures: suite.verdicts.filter((v) => !v.passed).length, errors: suite.errors?.length ?? 0 });
  const totals = suites.reduce((sum, suite) => ({ tests: sum.tests + count(suite).tests, failures: sum.failures + count(suite).failures, errors: sum.errors + count(suite).errors, time: sum.time + suite.durationSeconds }), { tests: 0, failures: 0, errors: 0, time: 0 });
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="voxroom" tests="${totals.tests}" failures="${totals.failures}" errors="${totals.errors}" time="${totals.time.toFixed(3)}">`];
  for (const suite of suites) {
    const { tests, failures, errors } = count(suite);
    lines.push(`  <testsuite name="${escapeXml(suite.name)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="0" time="${suite.durationSeconds.toFixed(3)}" timestamp="${suite.startedAt.toISOString().replace(/\.\d+Z$/, '')}">`);
    (suite.errors ?? []).forEach((error, index) => {
      const message = escapeXml(error);
      lines.push(`    <testcase classname="${escapeXml(`voxroom.${suite.name}`)}" name="run problem ${index + 1}" time="0">`, `      <error type="run" message="${message}">${message}</error>`, '    </testcase>');
    });
    for (const verdict of suite.verdicts) {
      const name = escapeXml(verdict.expectation.text);
      const reason = escapeXml(verdict.reason);
      lines.push(`    <testcase classname="${escapeXml(`voxroom.${suite.name}`)}" name="${name}" time="0">`);
      if (verdict.passed) lines.push(`      <system-out>${reason}</system-out>`);
      else lines.push(`      <failure type="expectation" message="${reason}">${reason}</failure>`);
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}
