// Reads a scenario file (YAML, or JSON, which YAML reads too) into a checked plan: a server,
// bots with timelines, expectations. Every mistake is reported with the line it is on, before
// anything starts. Parsing by the `yaml` package (line positions, YAML 1.2); the shape is
// checked by zod like the wire protocol. Pure but for reading the file.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { PeerNameSchema, RoomIdSchema, SpotNameSchema, type Place } from '../protocol.js';
import { parseSinkSpec, parseSourceSpec, type SinkSpec, type SourceSpec } from '../audio/backend-spec.js';
import { parseControlLine, splitWords } from '../peer/control-commands.js';
import { ExpectationSyntaxError, parseDurationMs, parseStatement, spanEndMs, type Expectation } from './expectation.js';

export type BotAction =
  | { kind: 'join' }
  | { kind: 'leave' }
  | { kind: 'mute' }
  | { kind: 'unmute' }
  | { kind: 'volume'; name: string; percent: number }
  | { kind: 'input'; source: SourceSpec }
  /** Spatial rooms: walk to a point, jump to a spot, turn. */
  | { kind: 'move'; x: number; y: number }
  | { kind: 'goto'; spot: string }
  | { kind: 'face'; degrees: number };

export interface TimedAction {
  atMs: number;
  action: BotAction;
  /** As written, for progress lines. */
  text: string;
}

export interface BotPlan {
  name: string;
  input: SourceSpec;
  output: SinkSpec;
  recordDir?: string;
  volumes: Record<string, number>;
  ptimeMs?: 10 | 20;
  listenOnly: boolean;
  loop: boolean;
  /** Its room token, if the server requires one. */
  token?: string;
  /** Rooms with a map: where it enters. */
  at?: Place;
  /** When it joins: 0 unless its timeline says `join`. */
  joinAtMs: number;
  /** Everything after the join, in time order (the join itself is not in it). */
  actions: TimedAction[];
}

export interface Scenario {
  name: string;
  /** The embedded server's room map file (absolute), if the scenario has one. */
  mapPath: string | null;
  /** null: the scenario starts its own server on a free loopback port. */
  serverUrl: string | null;
  room: string;
  durationMs: number;
  bots: BotPlan[];
  expectations: Expectation[];
}

/** A mistake in a scenario file, with where it is. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

const TimeSchema = z.union([z.string(), z.number().nonnegative()]);
const TimelineItemSchema = z.union([z.strictObject({ at: TimeSchema, do: z.string() }), z.record(z.string(), z.string())]);
const BotSchema = z.strictObject({
  input: z.string().default('silence'),
  output: z.string().default('null'),
  'record-dir': z.string().optional(),
  volumes: z.record(z.string(), z.number().min(0).max(200)).optional(),
  ptime: z.union([z.literal(10), z.literal(20)]).optional(),
  'listen-only': z.boolean().optional(),
  loop: z.boolean().optional(),
  /** A room token for a server that requires them, or (better: no secret in the file) the environment variable holding it. */
  token: z.string().min(1).optional(),
  'token-env': z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
  /** Rooms with a map: where it enters, a spot's name or "X,Y" in metres. */
  at: z.string().min(1).max(64).optional(),
  timeline: z.array(TimelineItemSchema).optional(),
});
const ScenarioSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  server: z.string().url().optional(),
  /** The embedded server's room map (as voxroom serve --map): the room becomes a spatial room. */
  map: z.string().min(1).optional(),
  room: RoomIdSchema.default('scenario'),
  duration: TimeSchema.optional(),
  bots: z.record(z.string(), BotSchema).refine((bots) => Object.keys(bots).length > 0, 'a scenario needs at least one bot'),
  expect: z.array(z.union([z.string(), z.record(z.string(), z.string())])).default([]),
});

/** The shortest run when nothing in the file says how long. */
const MIN_DURATION_MS = 3000;
/** A run goes on this long after the last thing the file times. */
const TAIL_MS = 1000;

export async function loadScenario(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ScenarioError(`cannot read scenario ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseScenario(text, path);
}

export function parseScenario(text: string, path: string, env: NodeJS.ProcessEnv = process.env): Scenario {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return path;
    const { line, col } = lineCounter.linePos(offset);
    return `${path}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const error = doc.errors[0]!;
    throw new ScenarioError(`${at(error.pos[0])}: ${error.message.split('\n')[0]}`);
  }
  const parsed = ScenarioSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const where = at(offsetOf(doc, issue.path as (string | number)[], keys[0]));
    const what = keys.length > 0 ? `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}${describeKeys(issue.path)}` : `${issue.path.join('.') || 'the file'}: ${issue.message}`;
    throw new ScenarioError(`${where}: ${what}`);
  }
  const file = parsed.data;
  const base = dirname(path);
  const fail = (nodePath: (string | number)[], message: string): never => {
    throw new ScenarioError(`${at(offsetOf(doc, nodePath))}: ${message}`);
  };
  const time = (value: string | number, nodePath: (string | number)[]): number => {
    try {
      return typeof value === 'number' ? Math.round(value * 1000) : parseDurationMs(value);
    } catch (error) {
      return fail(nodePath, (error as Error).message);
    }
  };

  const botNames = Object.keys(file.bots);
  const bots: BotPlan[] = botNames.map((name) => {
    const bot = file.bots[name]!;
    const where = ['bots', name];
    const nameCheck = PeerNameSchema.safeParse(name);
    if (!nameCheck.success) fail(where, `bot name "${name}": ${nameCheck.error.issues[0]!.message}`);
    const spec = <T>(parse: (value: string) => T, value: string, key: string): T => {
      try {
        return parse(value);
      } catch (error) {
        return fail([...where, key], (error as Error).message);
      }
    };
    const input = withBase(spec(parseSourceSpec, bot.input, 'input'), base);
    const output = withBase(spec(parseSinkSpec, bot.output, 'output'), base);
    let joinAtMs = 0;
    let joined = false;
    let left = false;
    const actions: TimedAction[] = [];
    let previousMs = -1;
    (bot.timeline ?? []).forEach((item, index) => {
      const itemPath = [...where, 'timeline', index];
      const entries = 'do' in item && 'at' in item && Object.keys(item).length === 2 ? [[item.at, item.do] as const] : Object.entries(item);
      if (entries.length !== 1) fail(itemPath, 'a timeline step is one "TIME: ACTION" (e.g. "- 3s: mute") or "at: TIME" with "do: ACTION"');
      const [when, what] = entries[0]!;
      const atMs = time(when, itemPath);
      if (atMs < previousMs) fail(itemPath, `timeline steps must be in time order: ${when} comes after a later step`);
      previousMs = atMs;
      const action = parseAction(String(what), base, (message) => fail(itemPath, message));
      if (action.kind === 'join') {
        if (joined || actions.length > 0) fail(itemPath, `${name} joins once, before its other steps`);
        joined = true;
        joinAtMs = atMs;
        return;
      }
      if (left) fail(itemPath, `${name} has already left; a bot joins once and leaves once`);
      if (action.kind === 'leave') left = true;
      if (action.kind === 'volume' && !botNames.includes(action.name)) fail(itemPath, `"${action.name}" is not one of the bots (${botNames.join(', ')})`);
      actions.push({ atMs, action, text: String(what) });
    });
    for (const peer of Object.keys(bot.volumes ?? {})) if (!botNames.includes(peer)) fail([...where, 'volumes', peer], `"${peer}" is not one of the bots (${botNames.join(', ')})`);
    if (bot.token !== undefined && bot['token-env'] !== undefined) fail([...where, 'token'], 'give token or token-env, not both');
    const envName = bot['token-env'];
    const token = envName !== undefined ? (env[envName] ?? fail([...where, 'token-env'], `the environment variable ${envName} is not set; export the bot's room token in it`)) : bot.token;
    return {
      name,
      input,
      output,
      recordDir: bot['record-dir'] === undefined ? undefined : resolveFrom(base, bot['record-dir']),
      volumes: bot.volumes ?? {},
      ptimeMs: bot.ptime,
      listenOnly: bot['listen-only'] ?? false,
      loop: bot.loop ?? false,
      ...(token !== undefined ? { token } : {}),
      ...(bot.at !== undefined ? { at: parsePlace(bot.at, (message) => fail([...where, 'at'], message)) } : {}),
      joinAtMs,
      actions,
    };
  });

  const expectations = file.expect.map((item, index) => {
    const entries = typeof item === 'string' ? null : Object.entries(item);
    if (entries !== null && entries.length !== 1) fail(['expect', index], 'an expectation is one line, e.g. "at 8s: carol hears alice >= -30 dBFS"');
    // "- at 8s: carol hears alice" reads in YAML as a map of one key: put the line back together.
    const statement = entries === null ? (item as string) : `${entries[0]![0]}: ${entries[0]![1]}`;
    try {
      return parseStatement(statement, botNames);
    } catch (error) {
      if (error instanceof ExpectationSyntaxError) return fail(['expect', index], error.message);
      throw error;
    }
  });

  const timed = [...bots.flatMap((b) => [b.joinAtMs, ...b.actions.map((a) => a.atMs)]), ...expectations.map((e) => spanEndMs(e.span) ?? 0)];
  const needed = Math.max(MIN_DURATION_MS, Math.max(...timed) + TAIL_MS);
  const durationMs = file.duration === undefined ? needed : time(file.duration, ['duration']);
  const lastTimed = Math.max(...timed);
  if (durationMs < lastTimed) fail(['duration'], `the run lasts ${durationMs / 1000} s, but something is timed at ${lastTimed / 1000} s`);
  if (file.map !== undefined && file.server !== undefined) fail(['map'], 'a map is for the scenario\'s own server; a server given by URL has its own (voxroom serve --map)');
  return { name: file.name ?? path.replace(/^.*\//, '').replace(/\.(ya?ml|json)$/i, ''), mapPath: file.map === undefined ? null : resolveFrom(base, file.map), serverUrl: file.server ?? null, room: file.room, durationMs, bots, expectations };
}

function parseAction(text: string, base: string, fail: (message: string) => never): BotAction {
  const words = splitWords(text.trim()) ?? fail(`"${text}": unbalanced quotes`);
  const verb = (words[0] ?? '').toLowerCase();
  if ((verb === 'join' || verb === 'leave') && words.length === 1) return { kind: verb };
  if (verb === 'input' || verb === 'play') {
    const value = words.slice(1).join(' ');
    try {
      const source = parseSourceSpec(verb === 'play' && !value.includes(':') ? `file:${value}` : value);
      return { kind: 'input', source: withBase(source, base) };
    } catch (error) {
      return fail((error as Error).message);
    }
  }
  const parsed = parseControlLine(text);
  if (parsed.ok && parsed.command && (parsed.command.kind === 'mute' || parsed.command.kind === 'unmute')) return { kind: parsed.command.kind };
  if (parsed.ok && parsed.command?.kind === 'volume') return { kind: 'volume', name: parsed.command.name, percent: parsed.command.percent };
  if (parsed.ok && (parsed.command?.kind === 'move' || parsed.command?.kind === 'goto' || parsed.command?.kind === 'face')) return parsed.command;
  if (!parsed.ok && ['volume', 'move', 'goto', 'face'].includes(verb)) return fail(parsed.error);
  return fail(`"${text}" is not a step; steps: join, leave, mute, unmute, volume NAME PCT, input SOURCE, play FILE, and in a room with a map move X Y, goto SPOT, face DEG`);
}

/** "SPOT" or "X,Y" (metres), as voxroom join --at / --position. */
function parsePlace(text: string, fail: (message: string) => never): Place {
  const point = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (point) return { x: Number(point[1]), y: Number(point[2]) };
  const spot = SpotNameSchema.safeParse(text);
  return spot.success ? { spot: spot.data } : fail(`"${text}" is neither a spot's name nor a point X,Y in metres`);
}

function resolveFrom(base: string, path: string): string {
  return isAbsolute(path) ? path : resolve(base, path);
}

/** Files named in a scenario are relative to the scenario file. */
function withBase<T extends SourceSpec | SinkSpec>(spec: T, base: string): T {
  return spec.kind === 'file' ? { ...spec, path: resolveFrom(base, spec.path) } : spec;
}

function describeKeys(path: readonly PropertyKey[]): string {
  if (path.length === 0) return ' (a scenario has: name, server, map, room, duration, bots, expect)';
  if (path[0] === 'bots' && path.length === 2) return ` in bot "${String(path[1])}" (a bot has: input, output, record-dir, volumes, ptime, listen-only, loop, token, token-env, at, timeline)`;
  return ` in ${path.join('.')}`;
}

/** Where a value (or, with `key`, one of a map's keys) starts in the file. */
function offsetOf(doc: Document, path: (string | number)[], key?: string): number | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node = length === 0 ? doc.contents : doc.getIn(path.slice(0, length), true);
    if (key !== undefined && length === path.length && isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key);
      if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
    }
    if ((isMap(node) || isSeq(node) || isScalar(node)) && node.range) return node.range[0];
  }
  return undefined;
}
