// Remote SDP is untrusted input: it comes from another peer through the server, which does not
// read it. Some lines are known to crash wrtc (a=maxptime kills the sending process with
// SIGILL, measured here), so every remote description is checked and rewritten before use.
import type { SessionDescription } from '../protocol.js';

export class SdpRejected extends Error {
  override readonly name = 'SdpRejected';
}

const SDP_LINE = /^[a-z]=[\x20-\x7e]*$/;
const MAX_MEDIA_SECTIONS = 8;

export interface SdpPolicy {
  /** Packet duration our sender should use (ms); written as a=ptime into the audio section. */
  ptimeMs: number;
  /**
   * Opus discontinuous transmission for our sender: written as usedtx=1 (or removed) in the
   * remote's Opus parameters, which is where WebRTC's encoder reads it from.
   */
  dtx: boolean;
  /**
   * Most media sections accepted (default 8, a mesh link needs one). An SFU subscriber
   * connection legitimately carries one receive-only audio section per speaker.
   */
  maxMediaSections?: number;
  /** Refuse any section that is not audio (an SFU subscriber offer carries audio only). */
  audioOnly?: boolean;
  /**
   * Directions each section may declare (the remote's view): a media server's subscriber offer
   * only sends (`sendonly`/`inactive`), its answer to our publisher only receives. Unset: any.
   */
  directions?: readonly string[];
  /** Every audio section must offer Opus. */
  requireOpus?: boolean;
}

/** Returns a safe copy of the remote description, or throws SdpRejected saying why. */
export function sanitizeRemoteDescription(description: SessionDescription, policy: SdpPolicy): SessionDescription {
  if (description.type === 'rollback') return { type: 'rollback', sdp: '' };
  const lines = description.sdp.split(/\r?\n/).filter((line) => line.length > 0);
  if (lines[0] !== 'v=0') throw new SdpRejected('the description does not start with v=0');
  const bad = lines.find((line) => !SDP_LINE.test(line));
  if (bad !== undefined) throw new SdpRejected(`malformed SDP line ${JSON.stringify(bad.slice(0, 60))}`);
  const media = lines.filter((line) => line.startsWith('m='));
  if (media.length === 0) throw new SdpRejected('the description has no media section');
  const maxSections = policy.maxMediaSections ?? MAX_MEDIA_SECTIONS;
  if (media.length > maxSections) throw new SdpRejected(`the description has ${media.length} media sections (at most ${maxSections})`);
  if (!media.some((line) => line.startsWith('m=audio '))) throw new SdpRejected('the description carries no audio');
  const notAudio = policy.audioOnly ? media.find((line) => !line.startsWith('m=audio ')) : undefined;
  if (notAudio !== undefined) throw new SdpRejected(`the description carries ${JSON.stringify(notAudio.slice(0, 30))}; only audio is accepted here`);

  if (policy.directions || policy.requireOpus) checkSections(lines, policy);
  const opusTypes = new Set(lines.flatMap((line) => /^a=rtpmap:(\d+) opus\/48000/i.exec(line)?.[1] ?? []));
  const typesWithFmtp = new Set(lines.flatMap((line) => /^a=fmtp:(\d+) /.exec(line)?.[1] ?? []));
  const out: string[] = [];
  let inAudio = false;
  for (const line of lines) {
    if (line.startsWith('m=')) {
      if (inAudio) out.push(`a=ptime:${policy.ptimeMs}`);
      inAudio = line.startsWith('m=audio ');
    }
    // maxptime crashes wrtc's sender; ptime is ours to choose (it sets our packetization).
    if (line.startsWith('a=maxptime:') || line.startsWith('a=ptime:')) continue;
    const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (fmtp && opusTypes.has(fmtp[1]!)) {
      out.push(`a=fmtp:${fmtp[1]} ${withDtx(fmtp[2]!, policy.dtx)}`);
      continue;
    }
    out.push(line);
    // An Opus payload without parameters still needs its usedtx.
    const rtpmap = /^a=rtpmap:(\d+) /.exec(line)?.[1];
    if (policy.dtx && rtpmap && opusTypes.has(rtpmap) && !typesWithFmtp.has(rtpmap)) out.push(`a=fmtp:${rtpmap} usedtx=1`);
  }
  if (inAudio) out.push(`a=ptime:${policy.ptimeMs}`);
  return { type: description.type, sdp: out.join('\r\n') + '\r\n' };
}

/** Each media section's direction and codecs against the policy. */
function checkSections(lines: string[], policy: SdpPolicy): void {
  const sections: string[][] = [];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push([line]);
    else sections[sections.length - 1]?.push(line);
  }
  sections.forEach((section, index) => {
    const direction = section.find((line) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line))?.slice(2) ?? 'sendrecv';
    if (policy.directions && !policy.directions.includes(direction)) throw new SdpRejected(`media section ${index} is ${direction}; expected ${policy.directions.join(' or ')}`);
    if (policy.requireOpus && direction !== 'inactive' && !section.some((line) => /^a=rtpmap:\d+ opus\/48000/i.test(line))) throw new SdpRejected(`media section ${index} offers no Opus`);
  });
}

/** Opus format parameters with usedtx set as wanted (and kept otherwise). */
function withDtx(parameters: string, dtx: boolean): string {
  const kept = parameters.split(';').filter((p) => p.trim() !== '' && !/^\s*usedtx=/i.test(p));
  if (dtx) kept.push('usedtx=1');
  return kept.join(';');
}

/** The DTLS fingerprint identifies one remote PeerConnection: a new one means a fresh connection. */
export function dtlsFingerprint(sdp: string): string | null {
  return /^a=fingerprint:(.+)$/m.exec(sdp)?.[1]?.trim() ?? null;
}

const CANDIDATE = /^(candidate:)?\S+ \d+ (udp|tcp|UDP|TCP) \d+ \S+ \d+ typ (host|srflx|prflx|relay)( [\x20-\x7e]*)?$/;

/** An empty candidate means end-of-candidates; anything else must look like one. */
export function isWellFormedCandidate(candidate: string): boolean {
  return candidate === '' || CANDIDATE.test(candidate);
}
