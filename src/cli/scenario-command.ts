// `voxroom scenario FILE`: runs a whole test from one file — a server, bots with timelines,
// expectations — and exits 0 when every expectation held (README, "Use in CI").
import { Command } from 'commander';
import { createLogger } from '../log.js';
import { ScenarioError, loadScenario, type Scenario } from '../scenario/scenario-file.js';
import { BotSetupError, runScenario, type ScenarioProgress } from '../scenario/scenario-runner.js';
import { EXIT_CODES } from './exit-codes.js';
import { FAULT_EXIT_DEADLINE_MS, watchForInternalFaults } from './fault-guard.js';
import { raiseMixingPriority } from '../audio/mixing-priority.js';
import { noHighPriorityOption } from './options.js';
import { Output } from './output.js';
import { UsageError, onShutdownSignal } from './process.js';
import { exitCodeFor, printVerdicts, writeJunitReport } from './verdict-output.js';

interface ScenarioFlags {
  highPriority: boolean;
  report?: string;
  json?: boolean;
  verbose?: boolean;
}

export function scenarioCommand(): Command {
  return new Command('scenario')
    .description('run a scenario file (YAML or JSON): a server, bots with timelines, and expectations checked at the end')
    .argument('<file>', 'the scenario, e.g. examples/three-bots.yaml')
    .option('--report <file.xml>', 'write a JUnit XML report (one test case per expectation)')
    .option('--json', 'print progress and verdicts as JSON lines on stdout')
    .option('-v, --verbose', 'log connection details on stderr')
    .addOption(noHighPriorityOption())
    .action(async (file: string, flags: ScenarioFlags) => runScenarioCommand(file, flags));
}

async function runScenarioCommand(file: string, flags: ScenarioFlags): Promise<void> {
  let scenario: Scenario;
  try {
    scenario = await loadScenario(file);
  } catch (error) {
    if (error instanceof ScenarioError) throw new UsageError(error.message);
    throw error;
  }
  const out = new Output(Boolean(flags.json));
  const logger = createLogger({ level: flags.verbose ? 'debug' : 'error', json: Boolean(flags.json) });
  if (flags.highPriority) logger.debug('mixing thread priority', { ...raiseMixingPriority() });
  const abort = new AbortController();
  void onShutdownSignal().then((signal) => abort.abort(signal));
  const progressLine = new ProgressLine(!flags.json && Boolean(process.stderr.isTTY));
  out.event('scenario', { name: scenario.name, bots: scenario.bots.map((b) => b.name), durationSeconds: scenario.durationMs / 1000, expectations: scenario.expectations.length }, `scenario ${scenario.name}: ${scenario.bots.length} bots, ${(scenario.durationMs / 1000).toFixed(1)} s, ${scenario.expectations.length} expectations`);

  // A fault in voxroom itself stops the bots (which finalises their recordings) and ends the run
  // with the internal-fault code, as in `voxroom join`.
  let fault: string | null = null;
  const stopWatchingFaults = watchForInternalFaults((error, origin) => {
    if (fault !== null) return;
    fault = `internal fault: ${origin}: ${error.stack ?? error.message}; the bots were stopped (recordings are finalised). Please report this as a bug.`;
    abort.abort('internal fault');
    setTimeout(() => process.exit(EXIT_CODES.internalFault), FAULT_EXIT_DEADLINE_MS).unref();
  });
  let result;
  try {
    result = await runScenario(scenario, { logger, abort: abort.signal, onProgress: (progress) => report(progress, out, progressLine) });
  } catch (error) {
    progressLine.clear();
    // A bot's input or output that cannot be opened is the file's mistake: nothing was started.
    if (error instanceof BotSetupError) throw new UsageError(error.message);
    throw error;
  } finally {
    stopWatchingFaults();
  }
  progressLine.clear();
  if (fault !== null) out.fatal(fault, EXIT_CODES.internalFault);
  const interrupted = result.interrupted ? `interrupted (${result.interrupted}) after ${result.durationSeconds.toFixed(1)} s: judged on what was measured so far` : null;
  if (interrupted) out.problem(interrupted);
  printVerdicts(out, result.verdicts);
  // A bot that could not join or a step that failed fails the run, whatever the verdicts say.
  const errors = [...(interrupted ? [interrupted] : []), ...result.failures];
  if (errors.length > 0 && !interrupted) out.problem(`the run itself failed: ${errors.join('; ')}`);
  const wrote = flags.report ? await writeJunitReport(flags.report, [{ name: result.name, verdicts: result.verdicts, durationSeconds: result.durationSeconds, startedAt: result.startedAt, errors }], out) : true;
  process.exitCode = fault !== null ? EXIT_CODES.internalFault : errors.length > 0 || !wrote ? EXIT_CODES.failure : exitCodeFor(result.verdicts);
}

function report(progress: ScenarioProgress, out: Output, line: ProgressLine): void {
  const time = (ms: number): string => `${(ms / 1000).toFixed(1).padStart(5)} s`;
  switch (progress.kind) {
    case 'server':
      line.clear();
      out.event('server', { url: progress.url, embedded: progress.embedded }, `${progress.embedded ? 'started a server at' : 'server:'} ${progress.url}`);
      break;
    case 'step':
      line.clear();
      out.event('step', { at: Math.round(progress.atMs) / 1000, bot: progress.bot, step: progress.text }, `${time(progress.atMs)}  ${progress.bot}: ${progress.text}`);
      break;
    case 'problem':
      line.clear();
      out.problem(`${time(progress.atMs).trim()}: ${progress.bot}: ${progress.message}`, progress.bot);
      break;
    case 'tick':
      line.show(`${time(progress.atMs)} of ${(progress.durationMs / 1000).toFixed(1)} s, ${progress.joined} of ${progress.bots} bots in the room`);
      break;
  }
}

/** One status line on a terminal, rewritten in place; nothing when stderr is not a terminal. */
class ProgressLine {
  private shown = false;
  constructor(private readonly enabled: boolean) {}

  show(text: string): void {
    if (!this.enabled) return;
    process.stderr.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }
}
