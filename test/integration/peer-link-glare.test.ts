// Glare: both sides of a pair offer at the same moment (in a mesh, the impolite peer's retry
// meets the newcomer's pending offer). The polite side rolls its offer back and answers; the
// pair must end with audio both ways on one audio section, whichever side only listens.
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_SAMPLES, SAMPLE_RATE } from '../../src/audio/format.js';
import { silentLogger } from '../../src/log.js';
import { PeerLink } from '../../src/peer/peer-link.js';
import { nonstandard, type WrtcAudioSource } from '../../src/peer/wrtc.js';
import type { SignalData } from '../../src/protocol.js';
import { waitUntil } from '../helpers/peers.js';

interface Side {
  link: PeerLink;
  framesReceived: number;
  /** Per description sent: its type and its number of media sections. */
  sent: Array<{ type: string; sections: number }>;
}

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.reverse()) step();
  cleanup = [];
});

/** Two links that both start as offerers; signals cross through the event loop, as over a socket. */
function glarePair(options: { politeSends: boolean; impoliteSends: boolean }): { polite: Side; impolite: Side; sources: WrtcAudioSource[] } {
  const sources: WrtcAudioSource[] = [];
  const trackFor = (sends: boolean) => {
    if (!sends) return null;
    const source = new nonstandard.RTCAudioSource();
    sources.push(source);
    return source.createTrack();
  };
  const sides: Side[] = [];
  const make = (name: string, polite: boolean, sends: boolean, index: number): Side => {
    const side: Side = { framesReceived: 0, sent: [], link: null as unknown as PeerLink };
    side.link = new PeerLink({
      remote: { id: polite ? 'b' : 'a', name },
      polite,
      initiator: true,
      iceServers: [],
      track: trackFor(sends),
      sendSignal: (data: SignalData) => {
        if ('description' in data) side.sent.push({ type: data.description.type, sections: (data.description.sdp.match(/^m=/gm) ?? []).length });
        setImmediate(() => sides[1 - index]?.link.handleSignal(data));
      },
      onAudio: () => side.framesReceived++,
      logger: silentLogger,
    });
    return side;
  };
  // Each link is named after its remote: the polite side talks to the impolite one.
  const polite = make('the impolite one', true, options.politeSends, 0);
  const impolite = make('the polite one', false, options.impoliteSends, 1);
  sides.push(polite, impolite);
  const pump = setInterval(() => {
    for (const source of sources) source.onData({ samples: new Int16Array(FRAME_SAMPLES).fill(1000), sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: FRAME_SAMPLES });
  }, 10);
  cleanup.push(() => {
    clearInterval(pump);
    polite.link.close('stopping');
    impolite.link.close('stopping');
  });
  return { polite, impolite, sources };
}

describe('glare between two offers', () => {
  for (const [label, politeSends, impoliteSends] of [
    ['both send', true, true],
    ['the polite side only listens', false, true],
    ['the impolite side only listens', true, false],
  ] as const) {
    it(`${label}: the polite side answers, audio flows on one section, and no further offer needs two`, async () => {
      const { polite, impolite } = glarePair({ politeSends, impoliteSends });
      await waitUntil(() => polite.link.connectionState === 'connected' && impolite.link.connectionState === 'connected', 'both connected', 10_000);
      await waitUntil(() => (!impoliteSends || polite.framesReceived > 50) && (!politeSends || impolite.framesReceived > 50), 'audio both ways', 10_000, () => ({ polite: polite.framesReceived, impolite: impolite.framesReceived }));
      // Renegotiation after the rollback (a stopped leftover transceiver) settles within this.
      await new Promise((resolve) => setTimeout(resolve, 300));
      // It was glare: both sides offered first; the polite side then answered the other's offer.
      expect(polite.sent[0]?.type).toBe('offer');
      expect(impolite.sent[0]?.type).toBe('offer');
      expect(polite.sent.some((d) => d.type === 'answer')).toBe(true);
      const listing = (side: Side): string => side.sent.map((d) => `${d.type}:${d.sections}`).join(' ');
      expect([...polite.sent, ...impolite.sent].every((d) => d.sections === 1), `descriptions sent: polite ${listing(polite)}, impolite ${listing(impolite)}`).toBe(true);
      if (impoliteSends) expect(polite.framesReceived).toBeGreaterThan(50);
      if (politeSends) expect(impolite.framesReceived).toBeGreaterThan(50);
    });
  }
});
