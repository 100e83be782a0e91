// Hostile signalling for the peer fuzzer: fast-check arbitraries that mutate real offers and
// candidates (taken from a real wrtc PeerConnection) the ways issue 13 lists: video and
// application sections, 100 sections, a=maxptime, huge fmtp lines, bad fingerprints, fresh
// fingerprints (re-offers), plus blind line and character mutations. Every mutation stays
// within the server's size limits, so it reaches the peer instead of being refused on the way.
import fc from 'fast-check';
import { LIMITS, type SignalData } from '../../src/protocol.js';
import { RTCPeerConnection } from '../../src/peer/wrtc.js';

export interface RealSignals {
  offer: string;
  candidates: string[];
}

/** A real offer and its gathered candidates, from a throwaway wrtc PeerConnection. */
export async function realSignals(): Promise<RealSignals> {
  const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  const candidates: string[] = [];
  const gathered = new Promise<void>((resolve) => {
    pc.onicecandidate = ({ candidate }) => (candidate ? candidates.push(candidate.candidate) : resolve());
    setTimeout(resolve, 3000).unref();
  });
  pc.addTransceiver('audio', { direction: 'sendrecv' });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered;
  pc.onicecandidate = null;
  pc.close();
  if (!offer.sdp) throw new Error('wrtc made an offer without SDP');
  return { offer: offer.sdp, candidates: candidates.length > 0 ? candidates : ['candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0'] };
}

const hexBytes = (count: number): fc.Arbitrary<string> => fc.array(fc.integer({ min: 0, max: 255 }), { minLength: count, maxLength: count }).map((bytes) => bytes.map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'));

const lines = (sdp: string): string[] => sdp.split('\r\n').filter((line) => line.length > 0);
const joined = (list: string[]): string => list.join('\r\n') + '\r\n';
/** Inserts lines right after the first m=audio line's block header (its m= line). */
const intoAudio = (sdp: string, extra: string[]): string => {
  const list = lines(sdp);
  const at = list.findIndex((line) => line.startsWith('m=audio'));
  list.splice(at + 1, 0, ...extra);
  return joined(list);
};
const withFingerprint = (sdp: string, fingerprint: string): string => sdp.replace(/a=fingerprint:[^\r\n]*/g, `a=fingerprint:${fingerprint}`);

export type HostileKind = 'fresh-fingerprint' | 'video' | 'application' | 'hundred-sections' | 'maxptime' | 'huge-fmtp' | 'bad-fingerprint' | 'line-mutation' | 'odd-type' | 'candidate';
export interface HostileSignal {
  kind: HostileKind;
  data: SignalData;
}

/** One hostile signal, made from the real offer and candidates. */
export function hostileSignal({ offer, candidates }: RealSignals): fc.Arbitrary<HostileSignal> {
  const asOffer = (kind: HostileKind) => (sdp: string): HostileSignal => ({ kind, data: { description: { type: 'offer', sdp: sdp.slice(0, LIMITS.maxSdpChars) } } });
  const videoSection = ['m=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=mid:1', 'a=sendrecv', 'a=rtpmap:96 VP8/90000', 'a=rtcp-mux'];
  const applicationSection = ['m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0', 'a=mid:1', 'a=sctp-port:5000'];
  const sdpMutation = fc.oneof(
    // A well-formed re-offer from a "new" connection: passes the guard, so it tests the rebuild limit.
    hexBytes(32).map((hash) => asOffer('fresh-fingerprint')(withFingerprint(offer, `sha-256 ${hash}`))),
    fc.integer({ min: 1, max: 3 }).map((n) => asOffer('video')(offer + joined(Array.from({ length: n }, () => videoSection).flat()))),
    fc.boolean().map((replace) => asOffer('application')(replace ? offer.replace(/m=audio [^\r\n]*/, 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel') : offer + joined(applicationSection))),
    fc.constant(asOffer('hundred-sections')(offer + joined(Array.from({ length: 99 }, (_, i) => [`m=audio 9 UDP/TLS/RTP/SAVPF 111`, `a=mid:${i + 1}`, 'a=rtpmap:111 opus/48000/2']).flat()))),
    fc.oneof(fc.integer({ min: 0, max: 1000 }).map(String), fc.constantFrom('10', '-1', 'x', '')).map((value) => asOffer('maxptime')(intoAudio(offer, [`a=maxptime:${value}`, `a=ptime:${value}`]))),
    fc.integer({ min: 300, max: 20_000 }).map((size) => asOffer('huge-fmtp')(offer.replace(/a=fmtp:111 ([^\r\n]*)/, (_all, params: string) => `a=fmtp:111 ${params};x-pad=${'9'.repeat(size)}`))),
    fc.oneof(hexBytes(4).map((h) => `sha-256 ${h}`), hexBytes(32).map((h) => `md5 ${h}`), fc.string({ maxLength: 80 }).map((s) => `sha-256 ${s}`), fc.constant('')).map((fingerprint) => asOffer('bad-fingerprint')(withFingerprint(offer, fingerprint))),
    // Blind mutations: drop, duplicate or corrupt a line.
    fc.tuple(fc.nat(), fc.constantFrom('drop', 'duplicate', 'corrupt'), fc.string({ maxLength: 40 })).map(([index, how, junk]) => {
      const list = lines(offer);
      const at = index % list.length;
      if (how === 'drop') list.splice(at, 1);
      else if (how === 'duplicate') list.splice(at, 0, list[at]!);
      else list[at] = list[at]!.slice(0, junk.length % (list[at]!.length + 1)) + junk;
      return asOffer('line-mutation')(joined(list));
    }),
    fc.constantFrom('answer', 'pranswer', 'rollback').map((type): HostileSignal => ({ kind: 'odd-type', data: { description: { type: type as 'answer' | 'pranswer' | 'rollback', sdp: offer } } })),
  );
  const candidateMutation = fc
    .tuple(fc.constantFrom(...candidates), fc.oneof(fc.constant('port'), fc.constant('address'), fc.constant('junk'), fc.constant('huge'), fc.constant('real')), fc.string({ maxLength: 60 }), fc.integer({ min: -5, max: 200_000 }))
    .map(([real, how, junk, number]): HostileSignal => {
      const fields = real.split(' ');
      if (how === 'port') fields[5] = String(number);
      if (how === 'address') fields[4] = junk.replace(/\s/g, '') || 'evil.example.com';
      const candidate = how === 'junk' ? junk : how === 'huge' ? real + ' x y'.repeat(300) : fields.join(' ');
      return { kind: 'candidate', data: { candidate: { candidate: candidate.slice(0, LIMITS.maxCandidateChars), sdpMid: '0', sdpMLineIndex: 0 } } };
    });
  return fc.oneof({ arbitrary: sdpMutation, weight: 3 }, { arbitrary: candidateMutation, weight: 1 });
}
