// Parses --input / --output values into backend descriptions. Pure: opening happens elsewhere.
export type SourceSpec =
  | { kind: 'tone'; frequency: number }
  | { kind: 'file'; path: string }
  | { kind: 'speak'; text: string }
  | { kind: 'clicks'; periodMs: number }
  | { kind: 'silence' }
  | { kind: 'device'; device: string | null };

export type SinkSpec = { kind: 'file'; path: string } | { kind: 'null' } | { kind: 'device'; device: string | null };

export const SOURCE_FORMS = 'tone:<hz>, file:<path> (WAV; other formats with ffmpeg), speak:<text> (espeak-ng), clicks[:<ms>], silence, default, device:<index or name>';
export const SINK_FORMS = 'file:<path.wav>, null, default, device:<index or name>';

export function parseSourceSpec(value: string): SourceSpec {
  if (value === 'silence') return { kind: 'silence' };
  if (value === 'default') return { kind: 'device', device: null };
  if (value.startsWith('tone:')) {
    const frequency = Number(value.slice(5));
    if (!Number.isFinite(frequency) || frequency <= 0 || frequency >= 24_000) throw new Error(`"${value}": a tone needs a frequency between 0 and 24000 Hz, e.g. tone:440`);
    return { kind: 'tone', frequency };
  }
  if (value.startsWith('file:') && value.length > 5) return { kind: 'file', path: value.slice(5) };
  if (value.startsWith('device:') && value.length > 7) return { kind: 'device', device: value.slice(7) };
  if (value.startsWith('speak:')) {
    const text = unquote(value.slice(6)).trim();
    if (!text) throw new Error(`"${value}": say what to speak, e.g. speak:"hello from the bot"`);
    return { kind: 'speak', text };
  }
  if (value === 'clicks' || value.startsWith('clicks:')) {
    const periodMs = value === 'clicks' ? 200 : Number(value.slice(7));
    if (!Number.isInteger(periodMs) || periodMs < 50 || periodMs > 10_000 || periodMs % 10 !== 0) throw new Error(`"${value}": clicks take a period of 50–10000 ms in steps of 10, e.g. clicks:200`);
    return { kind: 'clicks', periodMs };
  }
  throw new Error(`"${value}" is not an input; use one of ${SOURCE_FORMS}`);
}

export function parseSinkSpec(value: string): SinkSpec {
  if (value === 'null') return { kind: 'null' };
  if (value === 'default') return { kind: 'device', device: null };
  if (value.startsWith('file:') && value.length > 5) return { kind: 'file', path: value.slice(5) };
  if (value.startsWith('device:') && value.length > 7) return { kind: 'device', device: value.slice(7) };
  throw new Error(`"${value}" is not an output; use one of ${SINK_FORMS}`);
}

/** Strips one pair of surrounding quotes that a shell or a YAML file left in place. */
function unquote(text: string): string {
  const match = /^(["'])(.*)\1$/s.exec(text.trim());
  return match ? match[2]! : text;
}
