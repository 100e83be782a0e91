// Runs a scenario: its own server (or the one it names), every bot as a library VoicePeer in
// this process, each bot's timeline on one clock, and the expectations judged at the end.
// Reports progress as it goes through a callback; prints nothing itself.
import { LOAD_TEST_CONNECTION_LIMITS } from '../server/connection-gate.js';
import { performance } from 'node:perf_hooks';
import type { AudioSink, AudioSource } from '../audio/backend.js';
import { SilenceSource } from '../audio/backend.js';
import { openSink, openSource } from '../audio/open-backend.js';
import { silentLogger, type Logger } from '../log.js';
import { VoicePeer } from '../peer/voice-peer.js';
import { startSignallingServer, type RunningServer } from '../server/signalling-server.js';
import { RoomMap } from '../server/room-map.js';
import { ExpectationSet } from './expectation-set.js';
import type { BotPlan, Scenario, TimedAction } from './scenario-file.js';
import type { Verdict } from './verdict.js';

export type ScenarioProgress =
  | { kind: 'server'; url: string; embedded: boolean }
  | { kind: 'step'; atMs: number; bot: string; text: string }
  | { kind: 'problem'; atMs: number; bot: string; message: string }
  | { kind: 'tick'; atMs: number; durationMs: number; joined: number; bots: number };

export interface ScenarioResult {
  name: string;
  verdicts: Verdict[];
  /** What failed besides the expectations: a bot that could not join or had to stop, a step that failed. */
  failures: string[];
  startedAt: Date;
  durationSeconds: number;
  /** Why the run ended early (a signal), if it did. */
  interrupted: string | null;
}

export interface ScenarioRunOptions {
  logger?: Logger;
  onProgress?: (progress: ScenarioProgress) => void;
  /** Ends the run early (Ctrl-C): bots leave, files are finalised, what was measured is judged. */
  abort?: AbortSignal;
}

/** The scenario's map, or a bot's input or output, could not be opened: the file's mistake, nothing was started. */
export class BotSetupError extends Error {
  override readonly name = 'BotSetupError';
}

interface BotRun {
  plan: BotPlan;
  source: AudioSource;
  sink: AudioSink;
  /** Its timeline's inputs, opened before the run (so a missing file stops it before it starts). */
  stepSources: Map<TimedAction, AudioSource>;
  peer: VoicePeer | null;
  left: boolean;
}

/** Opens every bot's input and output first: a missing file stops the run before it starts. */
async function openBots(scenario: Scenario): Promise<BotRun[]> {
  const opened: BotRun[] = [];
  const closeAll = () => Promise.all(opened.flatMap((bot) => [bot.source.close(), bot.sink.close(), ...[...bot.stepSources.values()].map((s) => s.close())]));
  for (const plan of scenario.bots) {
    const openedHere: AudioSource[] = [];
    try {
      const source = plan.listenOnly ? new SilenceSource() : await openSource(plan.input, { loop: plan.loop });
      openedHere.push(source);
      const stepSources = new Map<TimedAction, AudioSource>();
      for (const step of plan.actions) {
        if (step.action.kind !== 'input') continue;
        const stepSource = await openSource(step.action.source, { loop: plan.loop });
        openedHere.push(stepSource);
        stepSources.set(step, stepSource);
      }
      const sink = await openSink(plan.output);
      opened.push({ plan, source, sink, stepSources, peer: null, left: false });
    } catch (error) {
      await Promise.all([...openedHere.map((s) => s.close()), closeAll()]);
      throw new BotSetupError(`bot ${plan.name}: ${(error as Error).message}`);
    }
  }
  return opened;
}

export async function runScenario(scenario: Scenario, options: ScenarioRunOptions = {}): Promise<ScenarioResult> {
  const logger = options.logger ?? silentLogger;
  const progress = options.onProgress ?? (() => undefined);
  // The map first: a scenario whose map cannot be read starts nothing.
  const map = scenario.mapPath === null ? undefined : await RoomMap.load(scenario.mapPath).catch((error: Error) => Promise.reject(new BotSetupError(error.message)));
  const bots = await openBots(scenario);
  let server: RunningServer | null = null;
  try {
    if (scenario.serverUrl === null) {
      // Its own loopback server: every bot connects from the same address, so no per-address limit.
      server = await startSignallingServer({ port: 0, host: '127.0.0.1', logger, ...(map ? { map } : {}), connectionLimits: LOAD_TEST_CONNECTION_LIMITS });
      progress({ kind: 'server', url: server.url, embedded: true });
    } else {
      progress({ kind: 'server', url: scenario.serverUrl, embedded: false });
    }
  } catch (error) {
    await Promise.all(bots.flatMap((bot) => [bot.source.close(), bot.sink.close()]));
    throw error;
  }
  const serverUrl = server?.url ?? scenario.serverUrl!;
  const expectations = new ExpectationSet(scenario.expectations);
  const startedAt = new Date();
  const origin = performance.now();
  const elapsed = (): number => performance.now() - origin;
  expectations.startAt(origin);

  const timers: NodeJS.Timeout[] = [];
  /** Every join and step under way: the run waits for them before it tears the bots down. */
  const pending = new Set<Promise<void>>();
  const at = (ms: number, run: () => Promise<void>): void => {
    timers.push(
      setTimeout(() => {
        const work = run().finally(() => pending.delete(work));
        pending.add(work);
      }, Math.max(0, ms - elapsed())),
    );
  };
  const failures: string[] = [];
  /** `fails`: the run cannot be trusted any more (a bot is missing); otherwise a peer survived it. */
  const problem = (bot: string, message: string, fails = false): void => {
    if (fails) failures.push(`${bot}: ${message}`);
    progress({ kind: 'problem', atMs: elapsed(), bot, message });
  };

  for (const bot of bots) {
    // Steps wait for their bot's join, whenever it ends (a step timed with the join included).
    let joined: (peer: VoicePeer | null) => void = () => undefined;
    const ready = new Promise<VoicePeer | null>((resolve) => (joined = resolve));
    at(bot.plan.joinAtMs, async () => {
      progress({ kind: 'step', atMs: elapsed(), bot: bot.plan.name, text: 'join' });
      joined(await joinBot(bot, scenario, serverUrl, expectations, logger, problem));
    });
    for (const step of bot.plan.actions) {
      at(step.atMs, async () => {
        const peer = await ready;
        if (!peer || bot.left) return;
        progress({ kind: 'step', atMs: elapsed(), bot: bot.plan.name, text: step.text });
        await applyAction(bot, peer, step).catch((error: Error) => problem(bot.plan.name, `${step.text}: ${error.message}`, true));
      });
    }
  }

  const ticker = setInterval(() => progress({ kind: 'tick', atMs: elapsed(), durationMs: scenario.durationMs, joined: bots.filter((b) => b.peer && !b.left).length, bots: bots.length }), 1000);
  const interrupted = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), scenario.durationMs);
    options.abort?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(String(options.abort?.reason ?? 'aborted'));
    });
    if (options.abort?.aborted) resolve(String(options.abort.reason ?? 'aborted'));
  });
  clearInterval(ticker);
  for (const timer of timers) clearTimeout(timer);
  expectations.stopAt(performance.now());
  const durationSeconds = elapsed() / 1000;
  await Promise.all(pending);
  await Promise.all(
    bots.map(async (bot) => {
      await (bot.peer ? bot.peer.stop() : Promise.all([bot.source.close(), bot.sink.close()]));
      // Inputs its timeline never reached (a replaced one was closed by the switch).
      await Promise.all([...bot.stepSources.values()].map((source) => source.close()));
    }),
  );
  await server?.close();
  return { name: scenario.name, verdicts: expectations.judge(), failures, startedAt, durationSeconds, interrupted };
}

async function joinBot(bot: BotRun, scenario: Scenario, serverUrl: string, expectations: ExpectationSet, logger: Logger, problem: (bot: string, message: string, fails?: boolean) => void): Promise<VoicePeer | null> {
  const { plan } = bot;
  const peer = new VoicePeer({
    serverUrl,
    room: scenario.room,
    name: plan.name,
    source: bot.source,
    sink: bot.sink,
    recordDir: plan.recordDir,
    volumes: plan.volumes,
    ptimeMs: plan.ptimeMs,
    listenOnly: plan.listenOnly,
    observer: expectations.observerFor(plan.name),
    logger,
    ...(plan.token !== undefined ? { token: plan.token } : {}),
    ...(plan.at !== undefined ? { at: plan.at } : {}),
  });
  peer.on('problem', ({ message }) => problem(plan.name, message));
  peer.on('fatal', ({ message }) => problem(plan.name, message, true));
  peer.on('refused', ({ message, code }) => problem(plan.name, `${message} (${code})`, true));
  try {
    await peer.start();
    bot.peer = peer;
    return peer;
  } catch (error) {
    problem(plan.name, `could not join: ${(error as Error).message}`, true);
    return null;
  }
}

async function applyAction(bot: BotRun, peer: VoicePeer, step: TimedAction): Promise<void> {
  const { action } = step;
  switch (action.kind) {
    case 'join':
      return; // handled by the schedule
    case 'leave':
      bot.left = true;
      await peer.stop();
      return;
    case 'mute':
    case 'unmute':
      peer.muted = action.kind === 'mute';
      return;
    case 'volume':
      peer.setVolume(action.name, action.percent);
      return;
    case 'move':
      await peer.moveTo(action.x, action.y);
      return;
    case 'goto':
      await peer.goto(action.spot);
      return;
    case 'face':
      await peer.face(action.degrees);
      return;
    case 'input': {
      const source = bot.stepSources.get(step)!;
      bot.stepSources.delete(step);
      await peer.replaceSource(source);
      return;
    }
  }
}
