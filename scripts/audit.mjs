#!/usr/bin/env node
// `npm run audit`: fails on high or critical advisories in production dependencies that have a
// fix, unless audit-allowlist.json names the advisory with a reason. An unreachable registry (or
// one without the audit service, as some mirrors and proxies are) is reported and not a failure:
// the audit could not run, which says nothing about the dependencies.
//   VOXROOM_AUDIT_REPORT=file  judge this `npm audit --json` output instead of running npm (tests)
//   VOXROOM_AUDIT_ALLOWLIST=file  another allowlist (tests)
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FAILING = new Set(['high', 'critical']);

async function main() {
  const allowlist = await readAllowlist(process.env.VOXROOM_AUDIT_ALLOWLIST ?? `${ROOT}/audit-allowlist.json`);
  const report = process.env.VOXROOM_AUDIT_REPORT ? JSON.parse(await readFile(process.env.VOXROOM_AUDIT_REPORT, 'utf8')) : await runNpmAudit();
  if (!report.vulnerabilities) {
    const why = report.error?.summary || report.message || report.error?.code || 'no vulnerability report in its answer';
    console.log(`audit: skipped, the registry's audit service could not be used (${why}); run "npm run audit" again where registry.npmjs.org is reachable`);
    return 0;
  }
  const { failing, allowed, unfixable } = judge(report, allowlist);
  for (const item of allowed) console.log(`audit: allowed ${item.id} (${item.severity}) in ${item.package}: ${item.reason}`);
  for (const item of unfixable) console.log(`audit: warning: ${item.id} (${item.severity}) in ${item.package} has no fix yet: ${item.title}`);
  for (const item of failing) console.error(`audit: ${item.severity} advisory ${item.id} in ${item.package} (${item.title}), fixable: run "npm audit fix --omit=dev", or add it to audit-allowlist.json with a reason`);
  if (failing.length > 0) return 1;
  console.log(`audit: no fixable high or critical advisories in production dependencies${allowed.length ? ` (${allowed.length} allowed by audit-allowlist.json)` : ''}`);
  return 0;
}

/**
 * Sorts the high and critical advisories of an `npm audit --json` report: failing (fixable, not
 * allowed), allowed (in the allowlist) and unfixable (no fix published: a warning).
 */
export function judge(report, allowlist) {
  const byId = new Map(allowlist.map((entry) => [entry.id, entry]));
  const failing = [];
  const allowed = [];
  const unfixable = [];
  const seen = new Set();
  for (const [name, vulnerability] of Object.entries(report.vulnerabilities ?? {})) {
    for (const via of vulnerability.via ?? []) {
      // A string names another vulnerable package (the advisory is listed under that one).
      if (typeof via !== 'object' || !FAILING.has(via.severity)) continue;
      const id = advisoryId(via);
      if (seen.has(`${id}/${name}`)) continue;
      seen.add(`${id}/${name}`);
      const item = { id, package: name, severity: via.severity, title: via.title ?? '' };
      const entry = byId.get(id);
      if (entry) allowed.push({ ...item, reason: entry.reason });
      else if (vulnerability.fixAvailable === false) unfixable.push(item);
      else failing.push(item);
    }
  }
  return { failing, allowed, unfixable };
}

/** GHSA-xxxx-xxxx-xxxx from the advisory's URL, or npm's numeric id. */
function advisoryId(via) {
  const ghsa = /GHSA-[\w-]+/.exec(via.url ?? '');
  return ghsa ? ghsa[0] : String(via.source ?? via.name ?? 'unknown');
}

/** The allowlist: { "advisories": [{ "id": "GHSA-…", "reason": "why this does not affect voxroom" }] }. */
async function readAllowlist(path) {
  let parsed;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw new Error(`${path}: ${error.message}`);
  }
  const entries = parsed.advisories;
  if (!Array.isArray(entries)) throw new Error(`${path}: expected { "advisories": [{ "id": "GHSA-…", "reason": "…" }] }`);
  entries.forEach((entry, index) => {
    if (typeof entry?.id !== 'string' || entry.id === '') throw new Error(`${path}: advisories[${index}] needs an "id" (GHSA-… or npm's advisory number)`);
    if (typeof entry.reason !== 'string' || entry.reason.trim().length < 10) throw new Error(`${path}: advisories[${index}] (${entry.id}) needs a "reason": why it does not affect voxroom, in a sentence`);
  });
  return entries;
}

function runNpmAudit() {
  return new Promise((resolve) => {
    // npm audit exits non-zero when it finds anything: the JSON on stdout is what counts.
    execFile('npm', ['audit', '--omit=dev', '--json'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (error, stdout) => {
      try {
        resolve(JSON.parse(stdout));
      } catch {
        resolve({ message: error ? error.message.split('\n')[0] : 'npm audit printed no JSON' });
      }
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(`audit: ${error.message}`);
      process.exit(1);
    },
  );
}
