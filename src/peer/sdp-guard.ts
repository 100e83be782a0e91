// Remote SDP is untrusted input: it comes from another peer through the server, which does not
// read it. Some lines are known to crash wrtc (a=maxptime kills the sending process with
// SIGILL, measured here), so every remote description is bounded, parsed with a real SDP parser
// (sdp-transform), checked against what this peer actually uses, and written back out from the
// parsed form before wrtc sees it. Pure.
import { parse, write, type MediaDescription, type SessionDescription as ParsedSdp } from 'sdp-transform';
import type { SessionDescription } from '../protocol.js';

export class SdpRejected extends Error {
  override readonly name = 'SdpRejected';
}

/** Bounds on remote SDP; a real offer from wrtc or Janus stays far below each. */
export const SDP_LIMITS = {
  /** Longest line: wrtc's longest (a sha-512 fingerprint, a candidate) are ~200 characters. */
  maxLineChars: 1024,
  /** Longest a=fmtp line: a real Opus one is ~40 characters. */
  maxFmtpChars: 256,
  /** Candidates embedded in one media section (wrtc gathers a handful per interface). */
  maxCandidatesPerSection: 32,
  /** Longest ICE candidate, embedded or trickled. */
  maxCandidateChars: 512,
} as const;

const SDP_LINE = /^[a-z]=[\x20-\x7e]*$/;

export interface SdpPolicy {
  /** Packet duration our sender should use (ms); written as a=ptime into the audio section. */
  ptimeMs: number;
  /**
   * Opus discontinuous transmission for our sender: written as usedtx=1 (or removed) in the
   * remote's Opus parameters, which is where WebRTC's encoder reads it from.
   */
  dtx: boolean;
  /**
   * Most media sections accepted (default 1: a mesh link carries exactly one audio section). An
   * SFU subscriber connection legitimately carries one receive-only audio section per speaker.
   */
  maxMediaSections?: number;
  /**
   * Most sections that carry media (not inactive); default: no bound beyond maxMediaSections. An
   * SFU subscriber offer sends on no more sections than the media server's own account of it (the
   * server's maxStreams); the sections of speakers no longer forwarded stay, inactive, for reuse.
   */
  maxSendingSections?: number;
  /** Refuse any section that is not audio (default true: this peer sends no video, opens no data channel). */
  audioOnly?: boolean;
  /**
   * Directions each section may declare (the remote's view): a media server's subscriber offer
   * only sends (`sendonly`/`inactive`), its answer to our publisher only receives. Unset: any.
   */
  directions?: readonly string[];
  /** Every audio section that is not inactive must offer Opus (default true). */
  requireOpus?: boolean;
  /** The description must carry a DTLS fingerprint (default true: without one there is no secure connection to make). */
  requireFingerprint?: boolean;
}

/** Returns a safe copy of the remote description, or throws SdpRejected saying why. */
export function sanitizeRemoteDescription(description: SessionDescription, policy: SdpPolicy): SessionDescription {
  if (description.type === 'rollback') return { type: 'rollback', sdp: '' };
  checkLines(description.sdp);
  const sdp = parsed(description.sdp);
  checkSections(sdp, policy);
  checkFingerprints(sdp, policy.requireFingerprint ?? true);
  for (const section of sdp.media) if (section.type === 'audio') rewriteAudioSection(section, policy);
  return { type: description.type, sdp: write(sdp) };
}

/** The parser's view; whatever it trips on is refused input, not a fault of ours. */
function parsed(text: string): ParsedSdp {
  try {
    return parse(text);
  } catch (error) {
    throw new SdpRejected(`unparseable SDP: ${(error as Error).message}`);
  }
}

/** Line-level bounds, before any parsing: printable ASCII, bounded lengths, candidates as trickled ones. */
function checkLines(text: string): void {
  const lines = text.split(/\r?\n/).filter((line) => line.length > 0);
  if (lines[0] !== 'v=0') throw new SdpRejected('the description does not start with v=0');
  for (const line of lines) {
    if (!SDP_LINE.test(line)) throw new SdpRejected(`malformed SDP line ${JSON.stringify(line.slice(0, 60))}`);
    if (line.length > SDP_LIMITS.maxLineChars) throw new SdpRejected(`an SDP line of ${line.length} characters (at most ${SDP_LIMITS.maxLineChars}): ${JSON.stringify(line.slice(0, 40))}…`);
    if (line.startsWith('a=fmtp:') && line.length > SDP_LIMITS.maxFmtpChars) throw new SdpRejected(`an a=fmtp line of ${line.length} characters (at most ${SDP_LIMITS.maxFmtpChars})`);
    // Embedded candidates get exactly the checks of trickled ones.
    if (line.startsWith('a=candidate:')) {
      const problem = candidateProblem(line.slice(2));
      if (problem) throw new SdpRejected(`embedded ICE candidate refused: ${problem}`);
    }
  }
}

/** Media sections: how many, which kinds, directions and codecs. */
function checkSections(sdp: ParsedSdp, policy: SdpPolicy): void {
  const media = sdp.media;
  if (media.length === 0) throw new SdpRejected('the description has no media section');
  const maxSections = policy.maxMediaSections ?? 1;
  if (media.length > maxSections) throw new SdpRejected(`the description has ${media.length} media sections (at most ${maxSections})`);
  if (!media.some((section) => section.type === 'audio')) throw new SdpRejected('the description carries no audio');
  let sending = 0;
  media.forEach((section, index) => {
    if ((policy.audioOnly ?? true) && section.type !== 'audio') throw new SdpRejected(`media section ${index} is ${section.type} (${section.protocol}); only audio is accepted here`);
    // An audio section over SCTP would be a data channel in disguise.
    if (!section.protocol.includes('RTP')) throw new SdpRejected(`media section ${index} uses ${section.protocol}; only RTP is accepted here`);
    const direction = section.direction ?? sdp.direction ?? 'sendrecv';
    if (policy.directions && !policy.directions.includes(direction)) throw new SdpRejected(`media section ${index} is ${direction}; expected ${policy.directions.join(' or ')}`);
    if ((policy.requireOpus ?? true) && direction !== 'inactive' && !section.rtp.some(isOpus)) throw new SdpRejected(`media section ${index} offers no Opus`);
    if (direction !== 'inactive') sending++;
    const candidates = section.candidates?.length ?? 0;
    if (candidates > SDP_LIMITS.maxCandidatesPerSection) throw new SdpRejected(`media section ${index} embeds ${candidates} ICE candidates (at most ${SDP_LIMITS.maxCandidatesPerSection})`);
  });
  if (policy.maxSendingSections !== undefined && sending > policy.maxSendingSections) throw new SdpRejected(`the description carries media on ${sending} sections (at most ${policy.maxSendingSections})`);
}

/** Bytes of each fingerprint hash function WebRTC may use (RFC 8122). */
const FINGERPRINT_BYTES: Readonly<Record<string, number>> = { 'sha-1': 20, 'sha-224': 28, 'sha-256': 32, 'sha-384': 48, 'sha-512': 64 };

/**
 * Every fingerprint must be well formed, and all must agree: the mesh tells a fresh remote
 * connection by its fingerprint, so an ambiguous one could replace a link at will.
 */
function checkFingerprints(sdp: ParsedSdp, required: boolean): void {
  const all = [sdp.fingerprint, ...sdp.media.map((section) => section.fingerprint)].filter((f) => f !== undefined);
  if (all.length === 0) {
    if (required) throw new SdpRejected('the description has no DTLS fingerprint');
    return;
  }
  for (const { type, hash } of all) {
    const bytes = FINGERPRINT_BYTES[type.toLowerCase()];
    if (bytes === undefined) throw new SdpRejected(`DTLS fingerprint of unknown hash function ${JSON.stringify(type.slice(0, 20))}`);
    if (!new RegExp(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){${bytes - 1}}$`).test(hash)) throw new SdpRejected(`malformed ${type} DTLS fingerprint (want ${bytes} hex bytes separated by colons)`);
  }
  if (new Set(all.map(({ type, hash }) => `${type.toLowerCase()} ${hash.toUpperCase()}`)).size > 1) throw new SdpRejected('the description carries different DTLS fingerprints');
}

/** Our packetization is ours to choose; Opus parameters are kept only when known and sane. */
function rewriteAudioSection(section: MediaDescription, policy: SdpPolicy): void {
  // maxptime crashes wrtc's sender; ptime sets our packetization.
  delete section.maxptime;
  section.ptime = policy.ptimeMs;
  // A ptime or maxptime the parser did not understand would still reach wrtc verbatim.
  if (section.invalid) section.invalid = section.invalid.filter(({ value }) => !/^(max)?ptime\b/i.test(value));
  const opusPayloads = new Set(section.rtp.filter(isOpus).map((rtp) => rtp.payload));
  const withFmtp = new Set<number>();
  for (const fmtp of section.fmtp) {
    if (!opusPayloads.has(fmtp.payload)) continue;
    fmtp.config = opusParameters(fmtp.config, policy);
    withFmtp.add(fmtp.payload);
  }
  // An Opus payload without parameters still needs its usedtx.
  if (policy.dtx) for (const payload of opusPayloads) if (!withFmtp.has(payload)) section.fmtp.push({ payload, config: 'usedtx=1' });
  section.fmtp = section.fmtp.filter((fmtp) => fmtp.config !== '' || !opusPayloads.has(fmtp.payload));
}

function isOpus(rtp: MediaDescription['rtp'][number]): boolean {
  return rtp.codec.toLowerCase() === 'opus' && rtp.rate === 48000;
}

/** Opus format parameters (RFC 7587, plus libwebrtc's minptime) and the integer range each may take. */
const OPUS_PARAMETERS: Readonly<Record<string, readonly [number, number]>> = {
  minptime: [3, 120],
  useinbandfec: [0, 1],
  usedtx: [0, 1],
  stereo: [0, 1],
  'sprop-stereo': [0, 1],
  cbr: [0, 1],
  maxplaybackrate: [8000, 48000],
  'sprop-maxcapturerate': [8000, 48000],
  maxaveragebitrate: [6000, 510000],
};

/**
 * Opus parameters as our encoder will read them: unknown keys and out-of-range values dropped
 * (the encoder acts on them), minptime only when it allows our own ptime, usedtx as asked.
 */
function opusParameters(config: string, policy: SdpPolicy): string {
  const kept: string[] = [];
  for (const parameter of config.split(';')) {
    const [rawKey = '', value = ''] = parameter.split('=');
    const key = rawKey.trim().toLowerCase();
    const range = OPUS_PARAMETERS[key];
    if (!range || key === 'usedtx' || !/^\d{1,6}$/.test(value.trim())) continue;
    const number = Number(value.trim());
    if (number < range[0] || number > range[1]) continue;
    if (key === 'minptime' && number > policy.ptimeMs) continue;
    kept.push(`${key}=${number}`);
  }
  if (policy.dtx) kept.push('usedtx=1');
  return kept.join(';');
}

/** The DTLS fingerprint identifies one remote PeerConnection: a new one means a fresh connection. */
export function dtlsFingerprint(sdp: string): string | null {
  const description = parsed(sdp);
  const fingerprint = description.fingerprint ?? description.media.find((section) => section.fingerprint)?.fingerprint;
  return fingerprint ? `${fingerprint.type} ${fingerprint.hash}` : null;
}

const CANDIDATE = /^(?:candidate:)?(\S{1,32}) (\d{1,3}) (udp|tcp|UDP|TCP) (\d{1,10}) (\S+) (\d{1,5}) typ (host|srflx|prflx|relay)((?: [\x21-\x7e]+ [\x21-\x7e]+)*)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
/** An mDNS name hides a host address (RFC 8835): <uuid>.local, or any short .local name. */
const MDNS = /^[A-Za-z0-9-]{1,63}\.local$/;

/**
 * Why a remote ICE candidate (trickled, or embedded as an a=candidate line) is refused, or null
 * when it is acceptable. An empty candidate means end-of-candidates.
 */
export function candidateProblem(candidate: string): string | null {
  if (candidate === '') return null;
  if (candidate.length > SDP_LIMITS.maxCandidateChars) return `a candidate of ${candidate.length} characters (at most ${SDP_LIMITS.maxCandidateChars})`;
  const match = CANDIDATE.exec(candidate);
  if (!match) return `malformed ICE candidate ${JSON.stringify(candidate.slice(0, 60))}`;
  const [, , component, , priority, address, port] = match;
  if (Number(component) < 1 || Number(component) > 2) return `ICE candidate component ${component} (RTP is 1, RTCP 2)`;
  if (Number(priority) > 0xffffffff) return `ICE candidate priority ${priority} does not fit 32 bits`;
  if (Number(port) > 65535) return `ICE candidate port ${port} is not a port`;
  if (!IPV4.test(address!) && !(address!.includes(':') && IPV6.test(address!)) && !MDNS.test(address!)) return `ICE candidate address ${JSON.stringify(address!.slice(0, 60))} is neither an IP address nor an mDNS name`;
  return null;
}

/** An empty candidate means end-of-candidates; anything else must look like one. */
export function isWellFormedCandidate(candidate: string): boolean {
  return candidateProblem(candidate) === null;
}
