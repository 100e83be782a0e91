import { PacketTally } from '../../src/peer/connection-stats.js';
import { describe, expect, it } from 'vitest';
import { parseControlLine, splitWords } from '../../src/peer/control-commands.js';
import { SfuPublishSchema } from '../../src/protocol.js';
import { SDP_LIMITS, SdpRejected, candidateProblem, dtlsFingerprint, isWellFormedCandidate, sanitizeRemoteDescription } from '../../src/peer/sdp-guard.js';
import { selectDevice } from '../../src/audio/device/device-select.js';
import { outputBufferMs, parseLatency } from '../../src/audio/device/latency.js';
import type { DeviceInfo } from '../../src/audio/device/worker-protocol.js';
import { describeShortfall, describeShortfalls, whyNotHeard } from '../../src/peer/load-generator.js';
import type { PeerStatus } from '../../src/peer/voice-peer.js';

describe('control commands', () => {
  it('splits quoted words', () => {
    expect(splitWords('volume "Ann Lee" 50')).toEqual(['volume', 'Ann Lee', '50']);
    expect(splitWords("volume 'O\\'Brien' 5")).toBeNull();
    expect(splitWords('volume O\\"Brien 5')).toEqual(['volume', 'O"Brien', '5']);
    expect(splitWords('volume "" 5')).toEqual(['volume', '', '5']);
    expect(splitWords('  ')).toEqual([]);
  });

  it('parses each command and explains mistakes', () => {
    expect(parseControlLine('volume bob 50%')).toEqual({ ok: true, command: { kind: 'volume', name: 'bob', percent: 50 } });
    expect(parseControlLine('MUTE')).toEqual({ ok: true, command: { kind: 'mute' } });
    expect(parseControlLine('exit')).toEqual({ ok: true, command: { kind: 'quit' } });
    expect(parseControlLine('')).toEqual({ ok: true, command: null });
    expect(parseControlLine('move 4.5 2')).toEqual({ ok: true, command: { kind: 'move', x: 4.5, y: 2 } });
    expect(parseControlLine('goto "the stage"')).toEqual({ ok: true, command: { kind: 'goto', spot: 'the stage' } });
    expect(parseControlLine('face 180')).toEqual({ ok: true, command: { kind: 'face', degrees: 180 } });
    expect(parseControlLine('move 4')).toMatchObject({ ok: false, error: expect.stringMatching(/usage: move X Y/) });
    expect(parseControlLine('face left')).toMatchObject({ ok: false, error: expect.stringMatching(/usage: face DEG/) });
    expect(parseControlLine('volume bob')).toMatchObject({ ok: false, error: expect.stringMatching(/usage/) });
    expect(parseControlLine('volume bob 201')).toMatchObject({ ok: false });
    expect(parseControlLine('peers now')).toMatchObject({ ok: false, error: expect.stringMatching(/takes no arguments/) });
    expect(parseControlLine('volume "bob 5')).toMatchObject({ ok: false, error: 'unbalanced quotes' });
  });
});

const FINGERPRINT = 'sha-256 ' + Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');
const OFFER = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', `a=fingerprint:${FINGERPRINT}`, 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=rtpmap:111 opus/48000/2', 'a=maxptime:10', 'a=ptime:40', ''].join('\r\n');

describe('remote SDP guard', () => {
  it('strips maxptime, sets our ptime and keeps the rest', () => {
    const safe = sanitizeRemoteDescription({ type: 'offer', sdp: OFFER }, { ptimeMs: 10, dtx: false });
    expect(safe.sdp).not.toMatch(/maxptime/);
    expect(safe.sdp.match(/a=ptime:\d+/g)).toEqual(['a=ptime:10']);
    expect(safe.sdp).toMatch(/a=rtpmap:111 opus\/48000\/2\r\n/);
    expect(dtlsFingerprint(safe.sdp)).toBe(FINGERPRINT);
  });

  it('sets usedtx on Opus as asked, keeping its other parameters', () => {
    const withFmtp = OFFER.replace('a=rtpmap:111 opus/48000/2\r\n', 'a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;usedtx=0;useinbandfec=1\r\n');
    expect(sanitizeRemoteDescription({ type: 'offer', sdp: withFmtp }, { ptimeMs: 20, dtx: true }).sdp).toMatch(/a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1\r\n/);
    expect(sanitizeRemoteDescription({ type: 'offer', sdp: withFmtp }, { ptimeMs: 20, dtx: false }).sdp).toMatch(/a=fmtp:111 minptime=10;useinbandfec=1\r\n/);
    // No parameters at all: one line is added after the rtpmap.
    expect(sanitizeRemoteDescription({ type: 'offer', sdp: OFFER }, { ptimeMs: 20, dtx: true }).sdp).toMatch(/a=rtpmap:111 opus\/48000\/2\r\na=fmtp:111 usedtx=1\r\n/);
  });

  it.each([
    ['garbage', /does not start with v=0/],
    ['v=0\r\ns=-\r\n', /no media section/],
    ['v=0\r\nm=video 9 RTP/AVP 96\r\n', /no audio/],
    ['v=0\r\nm=audio 9 RTP/AVP 0\r\na=\u0000x\r\n', /malformed SDP line/],
    ['v=0\r\n' + 'm=audio 9 RTP/AVP 0\r\n'.repeat(9), /9 media sections/],
  ])('rejects %j', (sdp, reason) => {
    expect(() => sanitizeRemoteDescription({ type: 'offer', sdp }, { ptimeMs: 10, dtx: false })).toThrow(SdpRejected);
    expect(() => sanitizeRemoteDescription({ type: 'offer', sdp }, { ptimeMs: 10, dtx: false })).toThrow(reason);
  });

  const mesh = { ptimeMs: 20, dtx: false };
  const audio = (extra = ''): string => `m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n${extra}`;
  const offer = (...sections: string[]): string => `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:${FINGERPRINT}\r\n${sections.join('')}`;

  it.each([
    ['a video section', offer(audio(), 'm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n'), /2 media sections \(at most 1\)/],
    ['a data channel instead of audio', offer('m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n'), /carries no audio/],
    ['100 sections', offer(...Array.from({ length: 100 }, () => audio())), /100 media sections/],
    ['audio over SCTP', offer('m=audio 9 UDP/DTLS/SCTP webrtc-datachannel\r\n'), /only RTP is accepted/],
    ['no Opus', offer('m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n'), /offers no Opus/],
    ['a huge fmtp line', offer(audio(`a=fmtp:111 ${'x=1;'.repeat(100)}\r\n`)), /a=fmtp line of \d+ characters/],
    ['a huge line', offer(audio(`a=x-junk:${'y'.repeat(SDP_LIMITS.maxLineChars)}\r\n`)), /an SDP line of \d+ characters/],
    ['a short fingerprint', offer(audio()).replace(FINGERPRINT, 'sha-256 AA:BB'), /malformed sha-256 DTLS fingerprint/],
    ['an unknown hash', offer(audio()).replace('sha-256', 'md5'), /unknown hash function "md5"/],
    ['no fingerprint', offer(audio()).replace(`a=fingerprint:${FINGERPRINT}\r\n`, ''), /no DTLS fingerprint/],
    ['two fingerprints', offer(audio(`a=fingerprint:${FINGERPRINT.replace('00', 'FF')}\r\n`)), /different DTLS fingerprints/],
    ['a bad embedded candidate', offer(audio('a=candidate:1 1 udp 2122252543 1.2.3.4 70000 typ host\r\n')), /embedded ICE candidate refused: ICE candidate port 70000/],
    ['too many embedded candidates', offer(audio('a=candidate:1 1 udp 2122252543 1.2.3.4 5000 typ host\r\n'.repeat(33))), /embeds 33 ICE candidates/],
  ])('refuses a mesh offer with %s', (_what, sdp, reason) => {
    expect(() => sanitizeRemoteDescription({ type: 'offer', sdp }, mesh)).toThrow(reason);
  });

  it('strips maxptime in any form and keeps only known, sane Opus parameters', () => {
    const sdp = offer(audio('a=fmtp:111 minptime=10;useinbandfec=1;maxptime=10;stereo=7;x-evil=1;maxplaybackrate=48000\r\na=maxptime:10\r\na=maxptime:junk\r\n'));
    const safe = sanitizeRemoteDescription({ type: 'offer', sdp }, mesh).sdp;
    expect(safe).not.toMatch(/maxptime/);
    expect(safe).toMatch(/a=fmtp:111 minptime=10;useinbandfec=1;maxplaybackrate=48000\r\n/);
    // A minptime above our own ptime would force a longer packetization on our sender: dropped.
    expect(sanitizeRemoteDescription({ type: 'offer', sdp: sdp.replace('minptime=10', 'minptime=60') }, mesh).sdp).toMatch(/a=fmtp:111 useinbandfec=1;/);
  });

  it('explains why a candidate is refused', () => {
    expect(candidateProblem('candidate:1 1 udp 2122252543 1.2.3.4 5000 typ host generation 0')).toBeNull();
    expect(candidateProblem('candidate:1 1 udp 2122252543 fe80::1 5000 typ host')).toBeNull();
    expect(candidateProblem('candidate:1 3 udp 2122252543 1.2.3.4 5000 typ host')).toMatch(/component 3/);
    expect(candidateProblem('candidate:1 1 udp 9999999999 1.2.3.4 5000 typ host')).toMatch(/does not fit 32 bits/);
    expect(candidateProblem('candidate:1 1 udp 1 evil.example.com 5000 typ host')).toMatch(/neither an IP address nor an mDNS name/);
    expect(candidateProblem('candidate:1 1 udp 1 1.2.3.4 5000 typ host' + ' a b'.repeat(200))).toMatch(/at most 512/);
  });

  it('accepts real candidates and refuses garbage', () => {
    expect(isWellFormedCandidate('candidate:842163049 1 udp 1677729535 127.0.0.1 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0')).toBe(true);
    expect(isWellFormedCandidate('candidate:1 1 UDP 2122252543 abcd.local 51593 typ host')).toBe(true);
    expect(isWellFormedCandidate('')).toBe(true);
    expect(isWellFormedCandidate('hello')).toBe(false);
    expect(isWellFormedCandidate('candidate:1 1 udp 1 1.1.1.1 5000 typ host\u0000')).toBe(false);
  });
});

const DEVICES: DeviceInfo[] = [
  { index: 0, name: 'pulse', hostApi: 'ALSA', maxInputChannels: 32, maxOutputChannels: 32, defaultSampleRate: 44100, defaultInput: false, defaultOutput: false },
  { index: 1, name: 'default', hostApi: 'ALSA', maxInputChannels: 32, maxOutputChannels: 32, defaultSampleRate: 44100, defaultInput: true, defaultOutput: true },
  { index: 2, name: 'USB Headset Mic', hostApi: 'ALSA', maxInputChannels: 1, maxOutputChannels: 0, defaultSampleRate: 48000, defaultInput: false, defaultOutput: false },
];

describe('device selection', () => {
  it('finds the default, an index, an exact or partial name', () => {
    expect(selectDevice(DEVICES, null, 'output').index).toBe(1);
    expect(selectDevice(DEVICES, '0', 'input').name).toBe('pulse');
    expect(selectDevice(DEVICES, 'usb', 'input').index).toBe(2);
  });

  it('lists the candidates when nothing or several match', () => {
    expect(() => selectDevice(DEVICES, 'usb', 'output')).toThrow(/no output device matches "usb"; output devices: 0: pulse, 1: default/);
    expect(() => selectDevice(DEVICES, 'u', 'input')).toThrow(/matches several input devices \(0: pulse, 1: default, 2: USB Headset Mic\)/);
    expect(() => selectDevice(DEVICES, '7', 'input')).toThrow(/no input device has index 7/);
    expect(() => selectDevice([], null, 'input')).toThrow(/no input devices found/);
  });

  it('maps --latency to buffer sizes', () => {
    expect(parseLatency('low')).toMatchObject({ framesPerBuffer: 160, outputReserveMs: 0 });
    const sixty = parseLatency('60');
    expect(sixty).toMatchObject({ framesPerBuffer: 480, outputReserveMs: 30 });
    expect(outputBufferMs(sixty)).toBe(60);
    expect(outputBufferMs(parseLatency('200'))).toBe(200);
    expect(() => parseLatency('1')).toThrow(/not a latency/);
  });
});

describe('SFU descriptions', () => {
  const section = (mid: number, direction: string, codec = 'opus/48000/2'): string => `m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:${mid}\r\na=${direction}\r\na=rtpmap:111 ${codec}\r\n`;
  const sfuOffer = (...sections: string[]): string => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:${FINGERPRINT}\r\n${sections.join('')}`;
  const policy = { ptimeMs: 20, dtx: false, audioOnly: true, maxMediaSections: 256, directions: ['sendonly', 'inactive'], requireOpus: true };

  it('accepts a subscriber offer of several send-only Opus sections, and inactive ones', () => {
    expect(() => sanitizeRemoteDescription({ type: 'offer', sdp: sfuOffer(section(0, 'sendonly'), section(1, 'sendonly'), section(2, 'inactive', 'PCMU/8000')) }, policy)).not.toThrow();
  });

  it('refuses a section that would send to us both ways, another codec, or video', () => {
    expect(() => sanitizeRemoteDescription({ type: 'offer', sdp: sfuOffer(section(0, 'sendonly'), section(1, 'sendrecv')) }, policy)).toThrow(/media section 1 is sendrecv; expected sendonly or inactive/);
    expect(() => sanitizeRemoteDescription({ type: 'offer', sdp: sfuOffer(section(0, 'sendonly', 'PCMU/8000')) }, policy)).toThrow(/offers no Opus/);
    expect(() => sanitizeRemoteDescription({ type: 'offer', sdp: sfuOffer(section(0, 'sendonly'), 'm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n') }, policy)).toThrow(/only audio is accepted/);
  });

  it('refuses an offer that sends on more sections than the server said it carries; inactive ones do not count', () => {
    const bounded = { ...policy, maxSendingSections: 2 };
    const offer = (...sections: string[]) => ({ type: 'offer' as const, sdp: sfuOffer(...sections) });
    expect(() => sanitizeRemoteDescription(offer(section(0, 'sendonly'), section(1, 'sendonly'), section(2, 'inactive'), section(3, 'inactive')), bounded)).not.toThrow();
    expect(() => sanitizeRemoteDescription(offer(section(0, 'sendonly'), section(1, 'sendonly'), section(2, 'sendonly')), bounded)).toThrow(/carries media on 3 sections \(at most 2\)/);
    // Every speaker gone: nothing sends, and a bound of 0 holds.
    expect(() => sanitizeRemoteDescription(offer(section(0, 'inactive'), section(1, 'inactive')), { ...policy, maxSendingSections: 0 })).not.toThrow();
  });

  it('the wire schema takes a publisher offer of exactly one audio section', () => {
    expect(SfuPublishSchema.safeParse({ sdp: sfuOffer(section(0, 'sendonly')) }).success).toBe(true);
    expect(SfuPublishSchema.safeParse({ sdp: sfuOffer(section(0, 'sendonly'), section(1, 'sendonly')) }).success).toBe(false);
    expect(SfuPublishSchema.safeParse({ sdp: sfuOffer('m=video 9 UDP/TLS/RTP/SAVPF 96\r\n') }).success).toBe(false);
  });
});

describe('PacketTally', () => {
  it('sums packets both ways and gives NetEq\'s mean delay over every inbound stream, weighted by samples', () => {
    const tally = new PacketTally();
    expect(tally.result()).toEqual({ sent: 0, received: 0 });
    tally.add({ type: 'outbound-rtp', packetsSent: 50 });
    tally.add({ type: 'inbound-rtp', packetsReceived: 100, jitterBufferDelay: 96, jitterBufferEmittedCount: 4800 });
    tally.add({ type: 'inbound-rtp', packetsReceived: 20, jitterBufferDelay: 0.48, jitterBufferEmittedCount: 48 });
    tally.add({ type: 'codec', packetsReceived: 999 });
    // (96 + 0.48) s over 4848 samples: 19.9 ms a sample.
    expect(tally.result()).toEqual({ sent: 50, received: 120, receiveBufferMs: 19.9 });
  });
});

describe('load shortfalls', () => {
  const status = (connection: PeerStatus['connection'], levelDbfs: number | null): PeerStatus => ({
    id: 'm1',
    name: 'speaker-1',
    state: { speaking: true, away: false, muted: false, serverMuted: false, grants: ['speak', 'listen'] },
    connection,
    audio: levelDbfs === null ? null : ({ name: 'speaker-1', volumePercent: 100, levelDbfs, rateChanges: 0, receivedFrames: 100, depth: 3, targetFrames: 3, underruns: 0, missedFrames: 0, overflows: 0, driftDrops: 0 }),
  });

  it('says why a listener does not hear a speaker, and nothing when it does', () => {
    expect(whyNotHeard(status('connected', -20))).toBeNull();
    expect(whyNotHeard(null)).toBe('no media path to it');
    expect(whyNotHeard(status('disconnected', -20))).toBe('connection disconnected');
    expect(whyNotHeard(status('not-forwarded', null))).toBe('not forwarded by the media server');
    expect(whyNotHeard(status('connected', null))).toBe('no audio from it yet');
    expect(whyNotHeard(status('connected', -52.4))).toBe('level -52 dBFS');
    expect(whyNotHeard(status('connected', -Infinity))).toBe('level -inf dBFS');
  });

  it('describes a shortfall in one line', () => {
    expect(describeShortfall({ listener: 'listener-a-3', heard: 1, speakersInRoom: 3, notHeard: [{ speaker: 'speaker-2', why: 'connection disconnected' }, { speaker: 'speaker-3', why: 'level -52 dBFS' }] })).toBe(
      'listener-a-3 hears 1 of 3 speakers in its member list (speaker-2: connection disconnected, speaker-3: level -52 dBFS)',
    );
    expect(describeShortfall({ listener: 'listener-1', heard: 0, speakersInRoom: 0, notHeard: [] })).toBe('listener-1 hears 0 of 0 speakers in its member list');
    // A sample names the first few, and says how many more fall short.
    const named = [1, 2].map((n) => ({ listener: `listener-${n}`, heard: 0, speakersInRoom: 0, notHeard: [] }));
    expect(describeShortfalls({ shortfalls: named, shortListeners: 7 })).toBe('listener-1 hears 0 of 0 speakers in its member list; listener-2 hears 0 of 0 speakers in its member list; and 5 more');
    expect(describeShortfalls({})).toBe('');
  });
});
