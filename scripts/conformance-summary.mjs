// Summarises one mode of a conformance run from the suite's checks.json files.
//
//   node scripts/conformance-summary.mjs MODE RESULTS_DIR NOT_APPLICABLE_FILE
//
// Reads RESULTS_DIR/MODE/<suite version>/<run>/…/checks.json (one file per scenario) and
// RESULTS_DIR/MODE/<suite version>/<run>.log (the suite's output). A scenario passes when it
// has at least one SUCCESS check and no FAILURE or WARNING check (nor, in the authorization
// mode, a SKIPPED one). Scenarios listed
// for this mode and version in NOT_APPLICABLE_FILE are reported as not applicable and not
// counted; every other scenario counts. Prints one line per scenario, a Markdown table to
// RESULTS_DIR/MODE/summary.md, and finally `MODE: N passed, M failed`. Exits 1 if M > 0, if
// no scenario ran, or if a run's log shows a scenario without a checks.json (a crash).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const [mode, resultsDir, naFile] = process.argv.slice(2);
if (!mode || !resultsDir || !naFile) {
  console.error('usage: conformance-summary.mjs MODE RESULTS_DIR NOT_APPLICABLE_FILE');
  process.exit(2);
}

// "<mode> <version|*> <scenario> <reason…>", '#' comments.
const notApplicable = new Map();
for (const raw of readFileSync(naFile, 'utf8').split('\n')) {
  const line = raw.trim();
  if (!line || line.startsWith('#')) continue;
  const [m, version, scenario, ...reason] = line.split(/\s+/);
  if (m !== mode) continue;
  notApplicable.set(`${version} ${scenario}`, reason.join(' '));
}
const naReason = (version, scenario) =>
  notApplicable.get(`${version} ${scenario}`) ?? notApplicable.get(`* ${scenario}`);

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });

// A SKIPPED check fails the authorization mode (there it means the grant was not tested);
// in the client and server modes it marks a feature the scenario could not exercise (a
// method the client never sends), and the suite itself does not count it.
const FAILING = mode === 'authorization' ? ['FAILURE', 'WARNING', 'SKIPPED'] : ['FAILURE', 'WARNING'];

const TIMESTAMP = /-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/;
const PREFIX = { server: 'server-', authorization: 'authorization-server-' }[mode] ?? '';

const modeDir = join(resultsDir, mode);
const rows = [];
let problems = 0;
const versions = existsSync(modeDir)
  ? readdirSync(modeDir).filter((v) => statSync(join(modeDir, v)).isDirectory()).sort()
  : [];
for (const version of versions) {
  const versionDir = join(modeDir, version);
  for (const run of readdirSync(versionDir).filter((r) => statSync(join(versionDir, r)).isDirectory()).sort()) {
    const runDir = join(versionDir, run);
    const seen = new Set();
    for (const file of walk(runDir).filter((f) => f.endsWith(`${sep}checks.json`)).sort()) {
      let scenario = relative(runDir, file).split(sep).slice(0, -1).join('/').replace(TIMESTAMP, '');
      if (scenario.startsWith(PREFIX)) scenario = scenario.slice(PREFIX.length);
      seen.add(scenario);
      const counts = { SUCCESS: 0, FAILURE: 0, WARNING: 0, SKIPPED: 0, INFO: 0 };
      const bad = [];
      for (const check of JSON.parse(readFileSync(file, 'utf8'))) {
        counts[check.status] = (counts[check.status] ?? 0) + 1;
        if (FAILING.includes(check.status)) {
          bad.push(`${check.status} ${check.id}${check.errorMessage ? `: ${check.errorMessage}` : ''}`);
        }
      }
      const reason = naReason(version, scenario);
      const ok = bad.length === 0 && counts.SUCCESS > 0;
      rows.push({ version, run, scenario, counts, bad, reason, ok, file });
    }
    // Every scenario the suite reported must have left a checks.json.
    const log = join(versionDir, `${run}.log`);
    if (existsSync(log)) {
      const text = readFileSync(log, 'utf8');
      if (!/^Total: /m.test(text)) {
        console.error(`${mode} ${version} ${run}: the suite printed no summary (see ${log})`);
        problems += 1;
      }
      for (const match of text.matchAll(/^[✓✗] (\S+): \d+ passed/gm)) {
        if (!seen.has(match[1]) && !naReason(version, match[1])) {
          console.error(`${mode} ${version} ${run}: ${match[1]} has no checks.json`);
          problems += 1;
        }
      }
    }
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;
const table = ['| suite version | scenario | result | checks (success / failure / warning / skipped) |', '| --- | --- | --- | --- |'];
for (const row of rows) {
  const c = row.counts;
  const checks = `${c.SUCCESS} / ${c.FAILURE} / ${c.WARNING} / ${c.SKIPPED}`;
  if (row.reason !== undefined) {
    skipped += 1;
    console.log(`  n/a   ${row.version} ${row.scenario} (${checks})`);
    table.push(`| ${row.version} | \`${row.scenario}\` | not applicable | ${checks} |`);
    continue;
  }
  if (row.ok) passed += 1;
  else failed += 1;
  console.log(`  ${row.ok ? 'pass' : 'FAIL'}  ${row.version} ${row.scenario} (${checks})`);
  for (const b of row.bad) console.log(`          ${b}`);
  if (!row.ok && row.bad.length === 0) console.log('          no successful check');
  table.push(`| ${row.version} | \`${row.scenario}\` | ${row.ok ? 'pass' : '**FAIL**'} | ${checks} |`);
}
if (passed + failed === 0) {
  console.error(`${mode}: no applicable scenario ran`);
  problems += 1;
}
mkdirSync(modeDir, { recursive: true });
writeFileSync(join(modeDir, 'summary.md'), `${table.join('\n')}\n`);
console.log(`  (${skipped} not applicable, listed with reasons in ${naFile})`);
console.log(`${mode}: ${passed} passed, ${failed + problems} failed`);
process.exit(failed + problems > 0 ? 1 : 0);
