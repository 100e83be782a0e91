// What voxroom relies on in wrtc's audio sink: each decoded frame arrives in a buffer of its own
// that nothing writes afterwards. The frame assembler keeps wrtc's frames without copying them
// (PcmChunk); a wrtc that reused one buffer would corrupt every jitter buffer, and this test says
// so before any mix does.
import { afterEach, expect, it } from 'vitest';
import { FRAME_SAMPLES, SAMPLE_RATE } from '../../src/audio/format.js';
import { RTCPeerConnection, connectionConfiguration, nonstandard, openAudioSink, type WrtcAudioSink } from '../../src/peer/wrtc.js';
import { TONE_AMPLITUDE, toneLevelDb, waitUntil } from '../helpers/peers.js';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.reverse()) step();
  cleanup = [];
});

it("keeps each frame wrtc's sink hands over in a buffer of its own, unchanged afterwards", async () => {
  const sender = new RTCPeerConnection(connectionConfiguration([]));
  const receiver = new RTCPeerConnection(connectionConfiguration([]));
  sender.onicecandidate = ({ candidate }) => void (candidate && receiver.addIceCandidate(candidate));
  receiver.onicecandidate = ({ candidate }) => void (candidate && sender.addIceCandidate(candidate));
  const source = new nonstandard.RTCAudioSource();
  sender.addTrack(source.createTrack());
  const kept: Int16Array[] = [];
  const copies: Int16Array[] = [];
  let sink: WrtcAudioSink | null = null;
  receiver.ontrack = ({ track }) => {
    sink = openAudioSink(track, ({ samples, sampleRate }) => {
      // 48 kHz frames only: wrtc reports 16 kHz before its first decoded packet.
      if (sampleRate !== SAMPLE_RATE || kept.length >= 200) return;
      kept.push(samples);
      copies.push(samples.slice());
    });
  };
  let sent = 0;
  const pump = setInterval(() => {
    const samples = Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => Math.round(TONE_AMPLITUDE * Math.sin((2 * Math.PI * 440 * (sent * FRAME_SAMPLES + i)) / SAMPLE_RATE)));
    sent++;
    source.onData({ samples, sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: FRAME_SAMPLES });
  }, 10);
  cleanup.push(() => {
    clearInterval(pump);
    sink?.stop();
    sender.close();
    receiver.close();
  });
  const offer = await sender.createOffer();
  await sender.setLocalDescription(offer);
  await receiver.setRemoteDescription(offer);
  const answer = await receiver.createAnswer();
  await receiver.setLocalDescription(answer);
  await sender.setRemoteDescription(answer);

  await waitUntil(() => kept.length >= 200, '200 decoded frames', 10_000);
  // Another second of frames arrives while the first ones are held.
  await new Promise((resolve) => setTimeout(resolve, 1000));

  expect(new Set(kept.map((frame) => frame.buffer)).size).toBe(kept.length);
  const changed = kept.filter((frame, i) => frame.some((sample, j) => sample !== copies[i]![j]));
  expect(changed).toHaveLength(0);
  // They are the tone, not silence: the comparison above compared real audio.
  const tail = Int16Array.from(kept.slice(-100).flatMap((frame) => [...frame]));
  expect(toneLevelDb(tail, 440)).toBeGreaterThan(-3);
});
