// `npm run bench`: measures latency, mesh cost, signalling scale, mixer throughput and resource
// stability on this machine, prints them, and writes BENCHMARKS.md. Real-time parts run one at
// a time. `npm run bench -- --only latency,mixer` runs a subset (and writes only those).
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { OPUS_LOOKAHEAD_MS, measureDevicePathLatency, measureFilePathLatency, type DevicePathSetup, type LatencyFigures } from './latency.js';
import { measureMesh, type MeshFigures } from './mesh.js';
import { measureMixer, measureSpatialMixer } from './mixer.js';
import { JOIN_UPDATES_NEEDED, RELAY_PACE, RELAY_TIMEOUT_MS, measureClusterSignalling, measureSignalling, type SignallingComparison, type SignallingFigures } from './signalling.js';
import { measureStability } from './stability.js';
import { SfuBench, SUSTAINED, type SfuRoomFigures, type SilentGrowthFigures } from './sfu.js';
import { runStressRound, startStressServer, summarize, type StressRound, type StressScenario } from './join-stress.js';
import { MIN_VALUES_FOR_P95, round } from './stats.js';
import { ATTACK_ADDRESSES, measureAttack } from './attack.js';
import { FAILOVER_CALLS, FAILOVER_TIMING, measureFailover } from './failover.js';
import { measureEcho, measureGainControl, measureNoiseSuppression } from './audio-processing.js';
import { LATENCY_PRESETS, outputBufferMs } from '../audio/device/latency.js';
import { FRAME_MS, samplesToMs } from '../audio/format.js';

const BIN = fileURLToPath(new URL('../../bin/voxroom.js', import.meta.url));
const OUTPUT = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
const SECTIONS = ['latency', 'mesh', 'sfu', 'signalling', 'cluster', 'failover', 'mixer', 'stability', 'joins', 'attack', 'echo'] as const;
type Section = (typeof SECTIONS)[number];

function selected(): Set<Section> {
  const at = process.argv.indexOf('--only');
  if (at < 0) return new Set(SECTIONS);
  const wanted = (process.argv[at + 1] ?? '').split(',');
  const unknown = wanted.filter((w) => !SECTIONS.includes(w as Section));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; choose from ${SECTIONS.join(', ')}`);
  return new Set(wanted as Section[]);
}

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`);
};

function table(header: string[], rows: Array<Array<string | number | boolean>>): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** " [end of window 2: listener-4 hears 0 of 3 …] [end of window 3: …]" for the windows where a listener fell short; '' when none did. */
function shortfallNote(shortfallsAtEnds: readonly string[]): string {
  return shortfallsAtEnds.map((shortfalls, i) => (shortfalls === '' ? '' : ` [end of window ${i + 1}: ${shortfalls}]`)).join('');
}

async function main(): Promise<void> {
  const sections = selected();
  const parts: string[] = [];
  const command = `npm run bench${process.argv.includes('--only') ? ` -- --only ${process.argv[process.argv.indexOf('--only') + 1]}` : ''}`;
  parts.push(
    '# Benchmarks',
    '',
    `Made by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}. ` +
      'Every figure below was measured by this run; on a shared machine they vary from run to run, and ratios to a baseline measured in the same run are the figures to compare across runs. ' +
      'What changed the figures over time, and the runs that showed it: [CHANGELOG.md](CHANGELOG.md).',
  );

  if (sections.has('latency')) {
    log('latency: file path (in-process peers, 10 ms packets)…');
    const file10 = await measureFilePathLatency(12, 10);
    log('latency: file path with 20 ms packets…');
    const file20 = await measureFilePathLatency(12, 20);
    const deviceRuns: Array<{ label: string; setup: DevicePathSetup }> = [
      { label: 'default flags (packet time auto: 10 ms for two), --latency normal', setup: { latency: 'normal', ptime: 'auto', echoCancel: false } },
      { label: '--ptime 20, --latency normal', setup: { latency: 'normal', ptime: 20, echoCancel: false } },
      { label: '--ptime 10, --latency low', setup: { latency: 'low', ptime: 10, echoCancel: false } },
      { label: 'default flags, both peers on microphone and speakers (echo cancellation on, the default for a person)', setup: { latency: 'normal', ptime: 'auto', echoCancel: true } },
    ];
    const device: Array<{ label: string; setup: DevicePathSetup; figures: LatencyFigures | string }> = [];
    for (const run of deviceRuns) {
      log(`latency: device path through PulseAudio (${run.label})…`);
      try {
        device.push({ ...run, figures: await measureDevicePathLatency(BIN, run.setup) });
      } catch (error) {
        device.push({ ...run, figures: `not measured: ${(error as Error).message.split('\n')[0]}` });
      }
    }
    const captureCallbackMs = (preset: 'normal' | 'low'): number => round(samplesToMs(LATENCY_PRESETS[preset].framesPerBuffer), 1);
    const outputMs = (preset: 'normal' | 'low'): number => round(outputBufferMs(LATENCY_PRESETS[preset]), 1);
    // What the device path holds by configuration: one Opus packet, the look-ahead, one mixing
    // frame, one capture callback and the output buffering of the preset.
    const deviceByDesign = ({ latency, ptime }: DevicePathSetup): number => round((ptime === 'auto' ? 10 : ptime) + OPUS_LOOKAHEAD_MS + FRAME_MS + captureCallbackMs(latency) + outputMs(latency), 1);
    const measuredDevice = device.filter((run): run is typeof run & { figures: LatencyFigures } => typeof run.figures !== 'string' && run.figures.stages !== undefined);
    const stageNames = [...new Set(measuredDevice.flatMap((run) => Object.keys(run.figures.stages!)))];
    const p95 = (figures: LatencyFigures): string | number => figures.p95Ms ?? `n/a (< ${MIN_VALUES_FOR_P95} clicks)`;
    const latencyRow = (path: string, figures: LatencyFigures, byDesign: number): Array<string | number> => [path, figures.clicks, figures.medianMs, p95(figures), figures.maxMs, byDesign, 150];
    parts.push(
      '',
      '## 1. Mouth-to-ear latency',
      '',
      'A click train enters peer A; the time until each click appears in B\'s output is found by cross-correlation; median, p95 (nearest rank) and maximum over the clicks.',
      '',
      '- **File path**: two peers in one process (`src/bench/click-timing.ts`). Mouth and ear are timed by one convention: a click happens at the moment the frame holding it is handed over — returned by A\'s source to the engine, which sends it in the same tick; written to B\'s sink — plus the click\'s offset within that frame. No capture or playback device is involved, so no device buffering is counted. `test/unit/click-timing.test.ts` checks this code on a known 50 ms delay.',
      '- **Device path**: two `voxroom join` processes on PulseAudio; A captures from a null sink, B plays A at 30 % into the same sink, and one recording of that sink holds each click and its echo one mouth-to-ear latency later: both ends timed on one sample clock, capture and playback buffering included. In the echo-cancellation row both peers also have the other device (A speakers, B a microphone, on null sinks of their own), so `voxroom join` puts the sound server\'s canceller in A\'s capture and B\'s playback path; its buffering is not in the "by design" figure.',
      '',
      table(
        ['path', 'clicks', 'median ms', 'p95 ms', 'max ms', 'by design ms', 'ITU-T G.114 bound ms'],
        [
          latencyRow('file/tone, ptime 10', file10, OPUS_LOOKAHEAD_MS),
          latencyRow('file/tone, ptime 20', file20, OPUS_LOOKAHEAD_MS),
          ...device.map(({ label, setup, figures }) => {
            const path = `device (PulseAudio), ${label}`;
            return typeof figures === 'string' ? [path, figures, '', '', '', '', 150] : latencyRow(path, figures, deviceByDesign(setup));
          }),
        ],
      ),
      '',
      `Stages of the file path (ptime 10, medians): ${Object.entries(file10.stages ?? {})
        .map(([stage, ms]) => `${stage} ${ms} ms`)
        .join('; ')}. The first stage is WebRTC's own: packetization, Opus look-ahead, NetEq's playout buffer and wrtc's 10 ms sink pull.`,
      '',
      'Stages of the device path, in ms, as each part reports itself at the end of its run: PulseAudio\'s record and playback streams (buffer + device latency, `pactl list source-outputs/sink-inputs` for the two processes), the capture callback and output queue (`status`), the Opus packet (`status`) and its look-ahead, NetEq\'s mean delay for A at B (WebRTC\'s stats, `peers`), voxroom\'s jitter buffer depth for A (`peers`) and the mixing frame. Each counts at its full size; a sample waits on average only half of a frame or packet for it to fill, so the sizes overstate those stages. The rest is the median minus their sum: scheduling, the sound server\'s canceller where it runs, and what no part reports (negative where the full sizes overstate more than that adds). A share is the stage over the median.',
      '',
      measuredDevice.length === 0
        ? 'No device run reported its stages.'
        : table(
            ['stage', ...measuredDevice.map((run) => run.label)],
            stageNames.map((stage) => [stage, ...measuredDevice.map((run) => `${run.figures.stages![stage] ?? '-'} (${Math.round(((run.figures.stages![stage] ?? 0) / run.figures.medianMs) * 100)} %)`)]),
          ),
      '',
      `By design: the delay that the design adds before any queueing or scheduling. File path: Opus's ${OPUS_LOOKAHEAD_MS} ms look-ahead (a frame is complete when it is handed over; with 20 ms packets a click in a packet's first frame also waits 10 ms for the second). ` +
        `Device path: the buffers each stage holds as configured — one Opus packet (10 or 20 ms), the ${OPUS_LOOKAHEAD_MS} ms look-ahead, one ${FRAME_MS} ms mixing frame, one capture callback (${captureCallbackMs('normal')} ms) and the output buffering \`--latency\` configures (normal ${outputMs('normal')} ms, low ${outputMs('low')} ms); PulseAudio's own buffers (\`pactl list sink-inputs\`) come on top. ` +
        'Delays are timed to the sample and shown to 0.1 ms: a p95 equal to the median means that no more than 5 % of the clicks took longer than the median.',
    );
  }

  if (sections.has('mesh')) {
    const everyone: MeshFigures[] = [];
    for (const size of [2, 4, 6, 8, 10]) {
      log(`mesh: ${size} peers as separate processes, all sending a tone…`);
      const figures = await measureMesh(BIN, size);
      everyone.push(figures);
      log(`mesh: ${size} peers: ${figures.cpuPercentPerPeer} % CPU per peer, gaps ${figures.gapPercent} %`);
    }
    const conversation: MeshFigures[] = [];
    for (const size of [8, 10]) {
      log(`mesh: ${size} peers, one talking, DTX on…`);
      const figures = await measureMesh(BIN, size, { talkers: 1, extraArgs: ['--dtx'] });
      conversation.push(figures);
      log(`mesh: ${size} peers, one talking: ${figures.cpuPercentPerPeer} % CPU per peer, gaps ${figures.gapPercent} %`);
    }
    const largest = (results: MeshFigures[]): string => {
      const size = results.filter((r) => r.sustained).map((r) => r.peers).pop();
      return size === undefined ? 'none of the sizes tried' : `${size} peers`;
    };
    const row = (r: MeshFigures): Array<string | number | boolean> => [r.peers, r.talkers, r.cpuPercentPerPeer, r.cpuPercentTotal, r.rssMbPerPeer, r.gapPercent, r.lateTickPercent, r.allTonesHeard, r.sustained];
    parts.push(
      '',
      '## 2. CPU per peer and the largest mesh',
      '',
      `Rooms of N \`voxroom join\` processes (20 ms packets), measured over 8 s after settling: first every peer sending a tone with default settings (the worst case), then one talker and the rest silent with \`--dtx\` (a conversation; with DTX a silent sender sends a packet every 400 ms instead of every 20 ms). CPU is % of one core. Gaps are frames played as silence for a remote peer after its stream began, per remote frame; late ticks are mix ticks that ran late. Sustained = every pair connected, every talker heard above −35 dBFS by everyone, gaps below 0.1 % and late ticks below 1 % (a late tick is caught up at once: the output stays continuous). **Largest sustained mesh in this run: ${largest(everyone)} all talking, ${largest(conversation)} in a conversation** (of the sizes tried).`,
      '',
      table(['peers', 'talking', 'CPU % per peer', 'CPU % total', 'RSS MB per peer', 'gaps %', 'late ticks %', 'all talkers heard', 'sustained'], [...everyone, ...conversation].map(row)),
    );
  }

  if (sections.has('sfu')) {
    log('sfu: starting Janus…');
    const sfu = await SfuBench.start();
    const rooms: SfuRoomFigures[] = [];
    let crowd: SilentGrowthFigures | null = null;
    let switchGaps: { toSfuMs: number; toMeshMs: number } | null = null;
    let latencyRows: Array<Array<string | number>> = [];
    try {
      for (const [speakers, listeners, processes] of [
        [4, 36, 1],
        [4, 36, 2],
        // Past the goals: where this machine stops.
        [4, 56, 2],
        [1, 50, 2],
        [1, 100, 2],
        [1, 150, 2],
      ] as const) {
        log(`sfu: ${speakers} speaking, ${listeners} listening, in ${processes} load process(es)…`);
        const figures = await sfu.measureRoom(BIN, `sfu-${speakers}-${listeners}-${processes}`, speakers, listeners, processes);
        rooms.push(figures);
        log(`sfu: gaps ${figures.gapPercent} %, late ticks ${figures.lateTickPercent} %, ${figures.cpuPercentPerPeer} % CPU per peer, Janus ${figures.janusCpuPercent} %`);
      }
      log('sfu: 10 listeners in a room of 3 talkers and 4 silent members, then 24…');
      crowd = await sfu.measureSilentGrowth(BIN, 'crowd', { talkers: 3, silentBefore: 4, silentAfter: 24, listeners: 10, windowSeconds: 8 });
      log('sfu: the gap at mesh → SFU and back…');
      switchGaps = await sfu.measureSwitchGaps();
      log('sfu: mouth-to-ear through Janus and through the mesh (file path, 10 ms packets)…');
      const throughJanus = await measureFilePathLatency(12, 10, { media: 'sfu', janus: sfu.janusDriver });
      const mesh = await measureFilePathLatency(12, 10);
      latencyRows = [
        ['mesh (peer to peer)', mesh.clicks, mesh.medianMs, mesh.p95Ms ?? 'n/a', mesh.maxMs],
        ['SFU (through Janus)', throughJanus.clicks, throughJanus.medianMs, throughJanus.p95Ms ?? 'n/a', throughJanus.maxMs],
        ['difference (SFU − mesh)', '', Math.round((throughJanus.medianMs - mesh.medianMs) * 10) / 10, '', ''],
      ];
    } finally {
      await sfu.stop();
    }
    const sustainedRoom = rooms.filter((r) => r.sustained && r.speakers > 1).map((r) => r.speakers + r.listeners).pop();
    const largestBroadcast = rooms.filter((r) => r.sustained && r.speakers === 1).map((r) => r.listeners).pop();
    parts.push(
      '',
      '## 3. SFU rooms through Janus',
      '',
      `Janus 1.1 (VideoRoom, audio only) started by the benchmark; the signalling server in the benchmark's process; the peers in \`voxroom load\` processes (many library peers each: speakers with tones, \`--listen-only\` listeners that mix in Node). Figures over the last 10 s of 16. CPU is % of one core: the peers' processes together, per peer, and Janus's own. Sustained = every listener hears every speaker above −40 dBFS, gaps below ${SUSTAINED.maxGapPercent} % and late ticks below ${SUSTAINED.maxLateTickPercent} %. **In this run: ${sustainedRoom === undefined ? 'no room with several speakers was sustained' : `a room of ${sustainedRoom} peers with several speakers was sustained`}; ${largestBroadcast === undefined ? 'no broadcast size tried was sustained' : `a broadcast to ${largestBroadcast} listeners was sustained`}** (of the sizes tried).`,
      '',
      table(
        ['speakers', 'listeners', 'load processes', 'all heard', 'gaps %', 'late ticks %', 'CPU % per peer', 'CPU % peers', 'CPU % Janus', 'RSS MB per peer', 'sustained'],
        rooms.map((r) => [r.speakers, r.listeners, r.processes, r.allHeard, r.gapPercent, r.lateTickPercent, r.cpuPercentPerPeer, r.cpuPercentPeers, Number.isNaN(r.janusCpuPercent) ? 'n/a' : r.janusCpuPercent, r.rssMbPerPeer, r.sustained]),
      ),
      '',
      `A listener's cost against silent members: 3 talkers and 4 members publishing silence in one load process, 10 listeners in another; then 20 more silent members join from a third process, and leave again. The listeners' process CPU per listener, over 8 s with 4 silent members, with 24, and with 4 again (each from 2 s after everyone publishes and is connected). With loudest-speaker routing (--max-speakers 4 here) each listener receives at most 4 streams however many members publish.${crowd ? ` **Ratio of 24 silent to 4 silent (the mean of both): ${crowd.ratio}**; the fewest talkers a listener heard at the end of each window: ${crowd.speakersHeardAtEnds.join(' / ')} of 3${shortfallNote(crowd.shortfallsAtEnds)}, gaps ${crowd.gapPercent} % over the three windows and the joins and leaves between.` : ''}`,
      '',
      table(['silent members', 'CPU % per listener'], crowd ? [[crowd.silentBefore, crowd.cpuPercentPerListenerBefore], [crowd.silentAfter, crowd.cpuPercentPerListenerAfter], [`${crowd.silentBefore} again`, crowd.cpuPercentPerListenerBeforeAgain]] : []),
      '',
      `The gap at a media switch (\`--media auto\`, --mesh-max 3): four peers with tones; the longest silence in the first peer's mix when the fourth joins and the room moves to Janus, and when two leave and it moves back after 2 s: ${switchGaps ? `**mesh → SFU ${switchGaps.toSfuMs} ms, SFU → mesh ${switchGaps.toMeshMs} ms**` : 'not measured'}.`,
      '',
      'Mouth-to-ear latency, same method as section 1 (file path, 10 ms packets), measured in this section one after the other:',
      '',
      table(['path', 'clicks', 'median ms', 'p95 ms', 'max ms'], latencyRows),
    );
  }

  if (sections.has('signalling')) {
    log('signalling: 1000 clients, 100 rooms, voxroom and a bare socket.io baseline, all at once and at a steady rate…');
    const { storm, steady } = await measureSignalling(BIN);
    const figuresRow = (label: string, server: string, f: SignallingFigures): Array<string | number> => [
      label,
      f.incomplete === null ? server : `**${server} (incomplete)**`,
      f.joinP50Ms,
      f.joinP99Ms,
      `${f.joinUpdatesSeen} / ${f.joinUpdatesExpected}`,
      f.signalsPerSecond,
      `${f.signalsDelivered} / ${f.signalsSent}`,
      f.relayTimedOut ? 'yes' : 'no',
      f.serverKbPerConnection,
      f.incomplete ?? 'yes',
    ];
    const rows = (label: string, { voxroom, bare }: SignallingComparison): Array<Array<string | number>> => {
      const fromIncomplete = voxroom.incomplete !== null || bare.incomplete !== null;
      return [
        figuresRow(label, 'voxroom', voxroom),
        figuresRow(label, 'bare socket.io', bare),
        [
          label,
          fromIncomplete ? '**ratio voxroom / bare (from an incomplete run)**' : 'ratio voxroom / bare',
          round(voxroom.joinP50Ms / bare.joinP50Ms, 2),
          round(voxroom.joinP99Ms / bare.joinP99Ms, 2),
          '',
          round(voxroom.signalsPerSecond / bare.signalsPerSecond, 2),
          '',
          '',
          round(voxroom.serverKbPerConnection / bare.serverKbPerConnection, 2),
          fromIncomplete ? 'no' : 'yes',
        ],
      ];
    };
    parts.push(
      '',
      '## 4. Signalling scale',
      '',
      `1000 socket.io clients (this process) join 100 rooms on a server in its own process: all at once (a storm), and arriving at a steady ${steady.map((c) => c.voxroom.joinsPerSecond).join(' or ')} joins/s until all 1000 are in. Join latency: from a client's \`join\` to its own ack and to each roommate's \`member-joined\` for it (protocol v2); "join updates" counts those against the number the joins should cause. Relay: each client sends 40 \`signal\`s to a roommate; the relay gives up after ${RELAY_TIMEOUT_MS / 1000} s ("relay timed out"). A row is complete when at least ${JOIN_UPDATES_NEEDED * 100} % of the join updates arrived and every signal was delivered; the figures of an incomplete row cover only what arrived. Baseline: a bare socket.io server doing the same job without validation, limits or registry (\`src/bench/bare-server.ts\`). In the storm, the server and the 1000 clients share this machine's cores, so the join figures include queueing on both sides, for both servers.`,
      '',
      table(
        ['arrival', 'server', 'join p50 ms', 'join p99 ms', 'join updates seen / expected', 'signals/s relayed', 'signals delivered / sent', 'relay timed out', 'server KB per connection', 'complete'],
        [...rows('all at once', storm), ...steady.flatMap((c) => rows(`${c.voxroom.joinsPerSecond}/s`, c))],
      ),
    );
  }

  if (sections.has('cluster')) {
    log('cluster: 1000 clients, 100 rooms at 250 joins/s, one node alone, then 1, 2 and 3 nodes with Redis…');
    const { alone, cluster } = await measureClusterSignalling(BIN);
    const row = (label: string, f: SignallingFigures): Array<string | number> => [
      label,
      f.joinP50Ms,
      f.joinP99Ms,
      round(f.joinP99Ms / alone.joinP99Ms, 2),
      f.signalsPerSecond,
      round(f.signalsPerSecond / alone.signalsPerSecond, 2),
      f.crossNodeRelayShare,
      f.relayP50Ms,
      f.sameNodeRelayP99Ms ?? '-',
      f.crossNodeRelayP99Ms ?? '-',
      f.crossNodeRelayP99Ms === null ? '-' : round(f.crossNodeRelayP99Ms / alone.relayP99Ms, 2),
      f.crossNodeRelayP99Ms === null || f.sameNodeRelayP99Ms === null ? '-' : round(f.crossNodeRelayP99Ms / f.sameNodeRelayP99Ms, 2),
      f.incomplete ?? 'yes',
    ];
    parts.push(
      '',
      '## Cluster signalling',
      '',
      `The signalling benchmark's joins (250/s) and relays, through one node without Redis, then 1, 2 and 3 nodes sharing one Redis (\`voxroom serve --redis\`, a private redis-server on this machine), each room's members spread over the nodes. Signals/s: the burst of 40 signals per client. Relay ms: ${RELAY_PACE.perSecond * RELAY_PACE.seconds} more signals sent one at a time at ${RELAY_PACE.perSecond}/s, each timed from send to delivery; each sender's paced signals alternate between a roommate on its own node and one on another node, so in a cluster the two kinds come in equal numbers, interleaved in time. Ratios are against the node alone, and cross-node against same-node relays of the same cluster (goal: ≤ 2 at p99). The nodes, Redis and the 1000 clients share this machine's 2 cores.`,
      '',
      table(['servers', 'join p50 ms', 'join p99 ms', 'join p99 / alone', 'signals/s', 'relay rate / alone', 'cross-node relay share', 'relay p50 ms', 'same-node relay p99 ms', 'cross-node relay p99 ms', 'cross-node p99 / alone p99', 'cross-node p99 / same-node p99', 'complete'], [
        row('1 node, no Redis', alone),
        ...cluster.map((f) => row(`${f.nodes} node${f.nodes > 1 ? 's' : ''}, Redis`, f)),
      ]),
    );
  }

  if (sections.has('failover')) {
    log('failover: a call while its server is killed (-9): one node restarted, then a cluster node behind nginx (mesh, then SFU)…');
    const failover = await measureFailover(BIN);
    parts.push(
      '',
      '## Signalling lost mid-call',
      '',
      `Two \`voxroom join\` processes (tones, \`--record-dir\`) talk (through a mesh, or through Janus where the row says so); ${FAILOVER_TIMING.beforeKillMs / 1000} s after both are connected, the server they use is killed with -9, and the call goes on for ${FAILOVER_TIMING.afterKillMs / 1000} s more (past a dead cluster node's heartbeat expiry) (\`src/bench/failover.ts\`). A lost frame is a 10 ms frame below −50 dBFS in a peer's recording of the other, from 1 s before the kill until half a second before the peers are stopped, both directions counted. Goal: 0. Baseline, in the same call: the frames lost in a window as long just before that one, while the server was up (what the call loses anyway on this machine, whose two cores run both peers, the servers and the benchmark). Each row is ${FAILOVER_CALLS} calls: frames summed, the longest gap and the slowest return of any. **In this run the windows with a server loss lost ${failover.reduce((n, f) => n + f.framesLost, 0)} of ${failover.reduce((n, f) => n + f.framesAnalysed, 0)} frames, the baseline windows ${failover.reduce((n, f) => n + f.controlFramesLost, 0)}.**`,
      '',
      table(
        ['server lost', 'frames analysed', 'frames lost', 'lost frames were due at (ms after the kill)', 'longest gap ms', 'baseline: frames lost, server up', 'baseline: longest gap ms', 'frames missing (no recording)', 'back in the room after ms', 'same member ids'],
        failover.map((f) => [f.scenario, f.framesAnalysed, f.framesLost, f.lostAtMs.length > 0 ? f.lostAtMs.join(', ') : '-', f.longestGapMs, f.controlFramesLost, f.controlLongestGapMs, f.framesMissing, f.rejoinedAfterMs ?? '-', f.sameIds ? 'yes' : '**no**']),
      ),
    );
  }

  if (sections.has('mixer')) {
    log('mixer: 16-peer mix throughput…');
    const mixer = measureMixer(16, 2);
    parts.push(
      '',
      '## 5. Mixer throughput',
      '',
      `A ${mixer.peers}-peer mix of 10 ms frames, one input's volume changing every 50th frame, in this process; the mix and the baseline take turns in rounds of 200 frames for 2 s, so a change in the machine's load slows both alike. × real time = frames computed per second spent computing them, over 100. ` +
        'Baseline: the same job written plainly (`plainMix` in `src/bench/mixer.ts`): each input times its gain, summed, rounded and clamped to int16 into a new frame, with no gain ramp (a volume change jumps) and no limiter (a loud sum clips). ' +
        'The ratio mix / baseline is what the ramps and the limiter cost: 1 means nothing measurable, 0.5 means twice the time per frame, above 1 means the mixer is the faster of the two.',
      '',
      table(
        ['peers', 'mix (gain ramps + limiter), × real time', 'plain gain, sum and clamp, × real time', 'ratio mix / baseline'],
        [[mixer.peers, mixer.realtimeMultiple, mixer.baselineMultiple, round(mixer.realtimeMultiple / mixer.baselineMultiple, 2)]],
      ),
    );
    log('mixer: 16-peer spatial (stereo) mix throughput…');
    const spatial = measureSpatialMixer(16, 2);
    parts.push(
      '',
      `Spatial rooms (issue 16): the stereo mix of ${spatial.peers} speakers all walking, so every frame each one's place is recomputed (distance law, zones, equal-power pan: \`hear()\`) and both its gains ramp to new values, next to the mono mix of a room without a map, taking turns the same way (\`measureSpatialMixer\` in \`src/bench/mixer.ts\`). Goal: at least 300× real time.`,
      '',
      table(
        ['peers', 'spatial stereo mix, every gain and pan changing every frame, × real time', 'mono mix, × real time', 'ratio spatial / mono'],
        [[spatial.peers, spatial.spatialMultiple, spatial.monoMultiple, round(spatial.spatialMultiple / spatial.monoMultiple, 2)]],
      ),
    );
  }

  if (sections.has('stability')) {
    log('stability: 200 join/leave cycles…');
    const stability = await measureStability(200);
    parts.push(
      '',
      '## 6. Resource stability',
      '',
      `A peer joins and leaves ${stability.cycles} times (${stability.seconds} s) while another stays, in this process${stability.gcExposed ? ', measured after a forced GC' : ''}.`,
      '',
      table(
        ['', 'RSS MB', 'heap MB', 'active handles', 'threads'],
        [
          ['start', stability.start.rssMb, stability.start.heapMb, stability.start.handles, stability.start.threads],
          ['end', stability.end.rssMb, stability.end.heapMb, stability.end.handles, stability.end.threads],
        ],
      ),
    );
  }

  if (sections.has('joins')) {
    // Rounds of real processes joining at once: with the test suite's 7, at least 50 per run of both.
    const plan: Array<{ scenario: StressScenario; rounds: number; injectDelayMs?: number }> = [
      { scenario: 'simultaneous', rounds: 30 },
      { scenario: 'join-while-leave', rounds: 5 },
      { scenario: 'two-rooms', rounds: 5 },
      { scenario: 'simultaneous', rounds: 4, injectDelayMs: 200 },
    ];
    const rows: Array<Array<string | number>> = [];
    let round = 0;
    for (const step of plan) {
      log(`joins: ${step.rounds} rounds, ${step.scenario}${step.injectDelayMs ? `, signalling delayed up to ${step.injectDelayMs} ms` : ''}…`);
      const server = await startStressServer(BIN, step.injectDelayMs);
      const results: StressRound[] = [];
      try {
        for (let i = 0; i < step.rounds; i++) results.push(await runStressRound({ bin: BIN, serverUrl: server.url }, round++, step.scenario));
      } finally {
        await server.stop();
      }
      const summary = summarize(results);
      const silent = results.flatMap((r) => r.silentPairs);
      rows.push([
        `${step.scenario}${step.injectDelayMs ? ` (signalling delayed ≤ ${step.injectDelayMs} ms)` : ''}`,
        summary.rounds,
        summary.failedRounds === 0 ? '0' : `**${summary.failedRounds}** (${silent.slice(0, 4).join(', ')})`,
        summary.roundsWithRetries,
        summary.retries,
        summary.settleMedianMs,
        summary.settleMaxMs,
      ]);
    }
    parts.push(
      '',
      '## 7. Joining at the same moment',
      '',
      'Separate `voxroom join` processes (tones, `--output null`, `--record-dir`) start at the same moment against one `voxroom serve`: six in one room; five arriving while a sixth leaves; four in each of two rooms; six through a server that holds each incoming message up to 200 ms (`--inject-delay`, in order per socket). A round fails when any peer\'s recording of any roommate lacks that roommate\'s tone (within 10 dB of the −20 dBFS sent) in its last 1.5 s, 2.5 s after every pair reported `connected` (or 20 s, when some never did). "Safety net" counts rounds in which some pair was re-offered because it was not connected 5 s after both knew each other. Settle: from the first process start until every pair was connected.',
      '',
      table(['scenario', 'rounds', 'failed rounds', 'rounds needing the safety net', 'retries', 'settle median ms', 'settle max ms'], rows),
    );
  }

  if (sections.has('attack')) {
    log(`attack: honest joins while ${ATTACK_ADDRESSES[0]}–${ATTACK_ADDRESSES.at(-1)} flood the server…`);
    const attack = await measureAttack(BIN);
    parts.push(
      '',
      '## 8. Joins under attack',
      '',
      `60 honest clients join one room one after another from 127.0.0.1 (each connects, joins, times its ack, leaves), first on a quiet server, then while ${ATTACK_ADDRESSES.length} processes on ${ATTACK_ADDRESSES[0]}–${ATTACK_ADDRESSES.at(-1)} keep 40 sockets each sending a hostile message every 200 ms (1600 a second in all): unknown events, malformed and oversized joins, join spam, bad signals and state updates, reconnecting whenever the server drops them (\`src/bench/attack.ts\`). Server, attackers and honest clients share this machine's cores.`,
      '',
      table(
        ['run', 'join p50 ms', 'join p99 ms', 'failed joins'],
        [
          ['quiet', attack.quiet.p50Ms, attack.quiet.p99Ms, attack.quiet.failed],
          ['under attack', attack.attacked.p50Ms, attack.attacked.p99Ms, attack.attacked.failed],
          ['ratio attacked / quiet', round(attack.attacked.p50Ms / attack.quiet.p50Ms, 2), round(attack.attacked.p99Ms / attack.quiet.p99Ms, 2), ''],
        ],
      ),
      '',
      `The attackers sent ${attack.attackMessages} messages; the server dropped their sockets ${attack.attackDisconnects} times (each came back). The server ${attack.serverAlive ? 'still answered /healthz afterwards' : '**no longer answered /healthz afterwards**'}.`,
    );
  }

  if (sections.has('echo')) {
    log('echo: a laptop whose speakers play into its microphone, without and with the canceller…');
    const without = await measureEcho(BIN, false);
    const cancelled = await measureEcho(BIN, true);
    parts.push(
      '',
      '## 9. Echo cancellation, noise suppression and gain control',
      '',
      "B is on a \"laptop\": a PulseAudio loopback plays B's speaker sink into B's microphone sink 30 ms later, at full level. A talks (espeak-ng speech from a file) and records B's stream; B uses its devices with `voxroom join` defaults, then with `--no-echo-cancel` (`src/bench/audio-processing.ts`). Echo: A's own voice coming back while only A talks, after 3 s of convergence. B's voice: a sentence while A is silent, and the same sentence while A talks (double talk; the residual echo included).",
      '',
      table(
        ['B', "A's echo dBFS", "B's voice alone dBFS", "B's voice in double talk dBFS"],
        [
          ['--no-echo-cancel', without.echoDbfs, without.nearAloneDbfs, without.nearDoubleTalkDbfs],
          ['echo cancellation (default)', cancelled.echoDbfs, cancelled.nearAloneDbfs, cancelled.nearDoubleTalkDbfs],
        ],
      ),
      '',
      `Echo reduction: **${round(without.echoDbfs - cancelled.echoDbfs, 1)} dB**. B's voice in double talk against alone, with the canceller: **${round(cancelled.nearAloneDbfs - cancelled.nearDoubleTalkDbfs, 1)} dB** lower.`,
    );
    log('echo: noise suppression (--denoise) on speech with steady noise 10 dB under it…');
    const noisy = await measureNoiseSuppression(BIN, false);
    const denoised = await measureNoiseSuppression(BIN, true);
    parts.push(
      '',
      "Noise suppression: B's microphone hears espeak-ng speech with steady white noise 10 dB under the speech; A records B without and with `--denoise` (microphone only, WebRTC's suppressor in the sound server). Noise during speech is read above 11.5 kHz, where the speech (22.05 kHz) has nothing: a band level, comparable between the two rows only.",
      '',
      table(
        ['B', 'noise in pauses dBFS', 'speech and noise dBFS', 'noise during speech, band dB'],
        [
          ['without --denoise', noisy.pauseDbfs, noisy.speechDbfs, noisy.noiseInSpeechDb],
          ['--denoise', denoised.pauseDbfs, denoised.speechDbfs, denoised.noiseInSpeechDb],
        ],
      ),
      '',
      `Noise **${round(noisy.pauseDbfs - denoised.pauseDbfs, 1)} dB** lower in pauses (in each pause, in order: ${noisy.pausesDbfs.map((level, i) => `${round(level - denoised.pausesDbfs[i]!, 1)} dB`).join(', ')}; the first begins 2.5 s into the noise, while the suppressor learns it) and **${round(noisy.noiseInSpeechDb - denoised.noiseInSpeechDb, 1)} dB** lower during speech; the speech level changed by ${round(denoised.speechDbfs - noisy.speechDbfs, 1)} dB.`,
    );
    log('echo: gain control (--agc) on a quiet microphone…');
    const quiet = await measureGainControl(BIN, false);
    const controlled = await measureGainControl(BIN, true);
    const sentences = quiet.sentencesDbfs.map((_, i) => `sentence ${i + 1} dBFS`);
    parts.push(
      '',
      "Gain control: B's microphone hears an espeak-ng sentence three times, 4 s apart, at −40 dBFS while it sounds (a quiet microphone); A records B without and with `--agc` (WebRTC's digital gain control in the sound server). Levels are read over each sentence's louder part (samples above a tenth of its peak), so they sit above −40.",
      '',
      table(['B', ...sentences], [
        ['without --agc', ...quiet.sentencesDbfs],
        ['--agc', ...controlled.sentencesDbfs],
      ]),
      '',
      `With --agc the third sentence is **${round(controlled.sentencesDbfs.at(-1)! - quiet.sentencesDbfs.at(-1)!, 1)} dB** louder, the first ${round(controlled.sentencesDbfs[0]! - quiet.sentencesDbfs[0]!, 1)} dB (the control adapts over the first sentences).`,
    );
  }

  const markdown = parts.join('\n') + '\n';
  writeFileSync(OUTPUT, markdown);
  process.stdout.write(markdown);
  log(`wrote ${OUTPUT}`);
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
