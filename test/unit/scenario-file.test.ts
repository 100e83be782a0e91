// Scenario files: what a good one becomes, and that every kind of mistake is reported with the
// line it is on (before anything would start).
import { describe, expect, it } from 'vitest';
import { ScenarioError, parseScenario } from '../../src/scenario/scenario-file.js';

const GOOD = `name: demo
room: lobby
bots:
  alice:
    input: tone:440
    timeline:
      - 2s: mute
      - at: 3s
        do: unmute
  bob:
    input: file:talk.wav
    volumes: { alice: 50 }
    timeline:
      - 1s: join
      - 4s: volume alice 0
      - 5s: play other.wav
      - 6s: leave
expect:
  - at 2s: bob hears alice >= -40 dBFS
  - from 4.5s: bob hears nobody
  - mouth-to-ear alice→bob <= 80 ms
`;

function errorOf(text: string): string {
  try {
    parseScenario(text, '/tmp/s.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ScenarioError);
    return (error as Error).message;
  }
  throw new Error('the scenario was accepted');
}

describe('scenario files', () => {
  it('turns a good file into a plan: bots, joins, steps, expectations, duration', () => {
    const scenario = parseScenario(GOOD, '/work/s/demo.yaml');
    expect(scenario).toMatchObject({ name: 'demo', room: 'lobby', serverUrl: null, durationMs: 7000 });
    const [alice, bob] = scenario.bots;
    expect(alice).toMatchObject({ name: 'alice', input: { kind: 'tone', frequency: 440 }, output: { kind: 'null' }, joinAtMs: 0 });
    expect(alice!.actions.map((a) => [a.atMs, a.action.kind])).toEqual([
      [2000, 'mute'],
      [3000, 'unmute'],
    ]);
    // Files are relative to the scenario file.
    expect(bob).toMatchObject({ joinAtMs: 1000, input: { kind: 'file', path: '/work/s/talk.wav' }, volumes: { alice: 50 } });
    expect(bob!.actions.map((a) => a.action)).toEqual([{ kind: 'volume', name: 'alice', percent: 0 }, { kind: 'input', source: { kind: 'file', path: '/work/s/other.wav' } }, { kind: 'leave' }]);
    expect(scenario.expectations.map((e) => e.kind)).toEqual(['hears', 'silent', 'latency']);
  });

  it('takes a bot\'s room token from the environment, and says when the variable is missing', () => {
    const file = 'bots:\n  a:\n    token-env: A_TOKEN\n';
    expect(parseScenario(file, '/tmp/s.yaml', { A_TOKEN: 'eyJ.x.y' }).bots[0]!.token).toBe('eyJ.x.y');
    expect(errorOf(file)).toMatch(/^\/tmp\/s\.yaml:3:16: the environment variable A_TOKEN is not set/);
  });

  it('reads JSON too', () => {
    const scenario = parseScenario('{"bots": {"a": {"input": "tone:300"}, "b": {}}, "expect": ["b hears a"], "duration": 4}', '/tmp/s.json');
    expect(scenario).toMatchObject({ name: 's', durationMs: 4000 });
    expect(scenario.bots).toHaveLength(2);
  });

  it('names the line of an unknown key, at the top and in a bot', () => {
    expect(errorOf('bots:\n  a: {}\nexpectations: []\n')).toBe('/tmp/s.yaml:3:1: unknown key "expectations" (a scenario has: name, server, map, room, duration, bots, expect)');
    expect(errorOf('bots:\n  a:\n    input: silence\n    inptu: tone:440\n')).toMatch(/^\/tmp\/s\.yaml:4:5: unknown key "inptu" in bot "a"/);
  });

  it('names the line of a wrong type or value', () => {
    expect(errorOf('bots:\n  a:\n    volumes: { b: loud }\n  b: {}\n')).toMatch(/^\/tmp\/s\.yaml:3:\d+: bots\.a\.volumes\.b: /);
    expect(errorOf('bots:\n  a:\n    input: tone:-5\n')).toMatch(/^\/tmp\/s\.yaml:3:12: "tone:-5": a tone needs a frequency/);
    expect(errorOf('bots:\n  a:\n    ptime: 15\n')).toMatch(/^\/tmp\/s\.yaml:3:\d+: bots\.a\.ptime/);
    expect(errorOf('room: "no spaces"\nbots:\n  a: {}\n')).toMatch(/^\/tmp\/s\.yaml:1:7: room: /);
  });

  it('names the line of timeline steps out of order, unknown steps and bad times', () => {
    expect(errorOf('bots:\n  a:\n    timeline:\n      - 3s: mute\n      - 1s: unmute\n')).toBe('/tmp/s.yaml:5:9: timeline steps must be in time order: 1s comes after a later step');
    expect(errorOf('bots:\n  a:\n    timeline:\n      - 3s: dance\n')).toMatch(/^\/tmp\/s\.yaml:4:9: "dance" is not a step/);
    expect(errorOf('bots:\n  a:\n    timeline:\n      - soon: mute\n')).toMatch(/^\/tmp\/s\.yaml:4:9: "soon" is not a time/);
    expect(errorOf('bots:\n  a:\n    timeline:\n      - 1s: leave\n      - 2s: mute\n')).toMatch(/^\/tmp\/s\.yaml:5:9: a has already left/);
    expect(errorOf('bots:\n  a:\n    timeline:\n      - 1s: volume zed 10\n')).toMatch(/"zed" is not one of the bots/);
  });

  it('names the line of a bad expectation', () => {
    expect(errorOf('bots:\n  a: {}\n  b: {}\nexpect:\n  - b hears a\n  - at 2s: c hears a\n')).toMatch(/^\/tmp\/s\.yaml:6:5: "at 2s: c hears a": "c" is not one of the bots/);
  });

  it('refuses a duration shorter than what it times, and YAML that does not parse', () => {
    expect(errorOf('duration: 2s\nbots:\n  a:\n    timeline:\n      - 5s: mute\n')).toMatch(/^\/tmp\/s\.yaml:1:11: the run lasts 2 s, but something is timed at 5 s/);
    // "from T" needs at least a half second after T to measure anything.
    expect(errorOf('duration: 10s\nbots:\n  a: {}\n  b: {}\nexpect:\n  - "from 10s: b hears a"\n')).toMatch(/the run lasts 10 s, but something is timed at 10.5 s/);
    expect(errorOf('bots:\n  a: [\n')).toMatch(/^\/tmp\/s\.yaml:\d+:\d+: /);
    expect(errorOf('bots:\n  a: {}\n  a: {}\n')).toMatch(/^\/tmp\/s\.yaml:3:3: Map keys must be unique/);
    expect(errorOf('bots: {}\n')).toMatch(/at least one bot/);
  });
});
