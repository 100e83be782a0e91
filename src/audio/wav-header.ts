// WAV headers for 16-bit PCM. A plain RIFF WAV counts its sizes in 32 bits, so it ends at 4 GiB
// (about 12 h of 48 kHz mono). Recordings therefore use RF64 (EBU Tech 3306, what professional
// tools read): the file starts as an ordinary WAV with a 28-byte JUNK chunk held in reserve, and
// once the data passes 4 GiB the header is rewritten in place as RF64, the JUNK chunk becoming
// the ds64 chunk that carries the 64-bit sizes. Pure.

import { SAMPLE_RATE } from './format.js';

/** The classic 44-byte header: small files made in one go (test fixtures, benchmarks). */
export const WAV_HEADER_BYTES = 44;
/** A recording's header: RIFF/RF64, JUNK/ds64 (36 bytes), fmt (24), data (8). */
export const RECORDING_HEADER_BYTES = 80;

const UINT32_MAX = 0xffff_ffff;
const DS64_PAYLOAD_BYTES = 28;

export function wavHeader(dataBytes: number, sampleRate = SAMPLE_RATE, channels = 1): Buffer {
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  writeFormatAndData(header, 12, dataBytes, sampleRate, channels);
  return header;
}

/**
 * A recording's header for `dataBytes` of PCM: RIFF with a JUNK chunk while the sizes fit 32
 * bits, RF64 with a ds64 chunk beyond. Both are 80 bytes, so the switch rewrites it in place.
 */
export function recordingHeader(dataBytes: number, sampleRate = SAMPLE_RATE, channels = 1): Buffer {
  const header = Buffer.alloc(RECORDING_HEADER_BYTES);
  const riffBytes = RECORDING_HEADER_BYTES - 8 + dataBytes;
  const large = riffBytes > UINT32_MAX;
  header.write(large ? 'RF64' : 'RIFF', 0, 'ascii');
  // In RF64 the 32-bit sizes say "see ds64".
  header.writeUInt32LE(large ? UINT32_MAX : riffBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write(large ? 'ds64' : 'JUNK', 12, 'ascii');
  header.writeUInt32LE(DS64_PAYLOAD_BYTES, 16);
  if (large) {
    header.writeBigUInt64LE(BigInt(riffBytes), 20);
    header.writeBigUInt64LE(BigInt(dataBytes), 28);
    header.writeBigUInt64LE(BigInt(Math.floor(dataBytes / (2 * channels))), 36); // sample frames
    header.writeUInt32LE(0, 44); // no table of other large chunks
  }
  writeFormatAndData(header, 48, large ? UINT32_MAX : dataBytes, sampleRate, channels);
  return header;
}

/** The fmt chunk (16-bit PCM) and the data chunk's header, from `offset`. */
function writeFormatAndData(header: Buffer, offset: number, dataSizeField: number, sampleRate: number, channels: number): void {
  header.write('fmt ', offset, 'ascii');
  header.writeUInt32LE(16, offset + 4);
  header.writeUInt16LE(1, offset + 8); // PCM
  header.writeUInt16LE(channels, offset + 10);
  header.writeUInt32LE(sampleRate, offset + 12);
  header.writeUInt32LE(sampleRate * channels * 2, offset + 16);
  header.writeUInt16LE(channels * 2, offset + 20);
  header.writeUInt16LE(16, offset + 22);
  header.write('data', offset + 24, 'ascii');
  header.writeUInt32LE(dataSizeField, offset + 28);
}

/**
 * The PCM of one of voxroom's own mono recordings (bytes after RECORDING_HEADER_BYTES), without
 * a general decoder: 100× faster over a long file, and it reads a file still being written.
 */
export function recordingSamples(bytes: Buffer): Int16Array {
  if (bytes.length <= RECORDING_HEADER_BYTES) return new Int16Array(0);
  const pcm = bytes.subarray(RECORDING_HEADER_BYTES, RECORDING_HEADER_BYTES + 2 * Math.floor((bytes.length - RECORDING_HEADER_BYTES) / 2));
  // An Int16Array view needs an even offset; a pooled small Buffer may not have one.
  return pcm.byteOffset % 2 === 0 ? new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2) : new Int16Array(Uint8Array.from(pcm).buffer);
}
