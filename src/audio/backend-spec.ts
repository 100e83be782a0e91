// Parses --input / --output values into backend descriptions. Pure: opening happens elsewhere.
export type SourceSpec =
  | { kind: 'tone'; frequency: number }
  | { kind: 'file'; path: string }
  | { kind: 'silence' }
  | { kind: 'device'; device: string | null };

export type SinkSpec = { kind: 'file'; path: string } | { kind: 'null' } | { kind: 'device'; device: string | null };

export const SOURCE_FORMS = 'tone:<hz>, file:<path.wav>, silence, default, device:<index or name>';
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
  throw new Error(`"${value}" is not an input; use one of ${SOURCE_FORMS}`);
}

export function parseSinkSpec(value: string): SinkSpec {
  if (value === 'null') return { kind: 'null' };
  if (value === 'default') return { kind: 'device', device: null };
  if (value.startsWith('file:') && value.length > 5) return { kind: 'file', path: value.slice(5) };
  if (value.startsWith('device:') && value.length > 7) return { kind: 'device', device: value.slice(7) };
  throw new Error(`"${value}" is not an output; use one of ${SINK_FORMS}`);
}
