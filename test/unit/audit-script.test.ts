// scripts/audit.mjs judged on fixed `npm audit --json` reports (VOXROOM_AUDIT_REPORT), no registry.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'voxroom-audit-'));
const advisory = (severity: string, fixAvailable: boolean) => ({
  vulnerabilities: {
    'some-lib': { name: 'some-lib', severity, isDirect: false, fixAvailable, via: [{ source: 1099, name: 'some-lib', title: 'Prototype pollution', url: 'https://github.com/advisories/GHSA-abcd-efgh-ijkl', severity }] },
    'uses-it': { name: 'uses-it', severity, isDirect: true, fixAvailable, via: ['some-lib'] },
  },
});

function audit(report: unknown, allowlist: unknown = { advisories: [] }): Promise<{ code: number; out: string }> {
  const name = Math.random().toString(36).slice(2);
  writeFileSync(join(dir, `${name}.report.json`), JSON.stringify(report));
  writeFileSync(join(dir, `${name}.allow.json`), JSON.stringify(allowlist));
  return new Promise((resolve) => {
    execFile(process.execPath, ['scripts/audit.mjs'], { env: { ...process.env, VOXROOM_AUDIT_REPORT: join(dir, `${name}.report.json`), VOXROOM_AUDIT_ALLOWLIST: join(dir, `${name}.allow.json`) } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout + stderr });
    });
  });
}

describe('npm run audit', () => {
  it('fails on a fixable high advisory in production dependencies, naming it and the way out', async () => {
    const result = await audit(advisory('high', true));
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/high advisory GHSA-abcd-efgh-ijkl in some-lib \(Prototype pollution\), fixable: run "npm audit fix --omit=dev", or add it to audit-allowlist.json with a reason/);
  });

  it('passes moderate ones, warns about unfixable ones, and honours the allowlist with its reason', async () => {
    expect((await audit(advisory('moderate', true))).code).toBe(0);
    const unfixable = await audit(advisory('critical', false));
    expect(unfixable).toEqual({ code: 0, out: expect.stringMatching(/warning: GHSA-abcd-efgh-ijkl \(critical\) in some-lib has no fix yet/) });
    const allowed = await audit(advisory('critical', true), { advisories: [{ id: 'GHSA-abcd-efgh-ijkl', reason: 'only reachable from the CLI\'s dev tooling, never with remote input' }] });
    expect(allowed).toEqual({ code: 0, out: expect.stringMatching(/allowed GHSA-abcd-efgh-ijkl \(critical\) in some-lib: only reachable/) });
  });

  it('refuses an allowlist entry without a reason', async () => {
    const result = await audit(advisory('high', true), { advisories: [{ id: 'GHSA-abcd-efgh-ijkl' }] });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/advisories\[0\] \(GHSA-abcd-efgh-ijkl\) needs a "reason"/);
  });

  it('says so and does not fail when the registry cannot be asked', async () => {
    const result = await audit({ message: 'request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org', error: { code: 'EAI_AGAIN' } });
    expect(result).toEqual({ code: 0, out: expect.stringMatching(/audit: skipped, the registry's audit service could not be used \(request to .* EAI_AGAIN/) });
    expect((await audit({ vulnerabilities: {} })).out).toMatch(/no fixable high or critical advisories/);
  });
});
