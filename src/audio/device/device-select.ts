// Resolves "default", an index or a (part of a) name to one device. Pure.
import type { DeviceInfo, Direction } from './worker-protocol.js';

export function selectDevice(devices: readonly DeviceInfo[], wanted: string | null, direction: Direction): DeviceInfo {
  const usable = devices.filter((d) => (direction === 'input' ? d.maxInputChannels : d.maxOutputChannels) > 0);
  const list = (items: readonly DeviceInfo[]): string => items.map((d) => `${d.index}: ${d.name}`).join(', ') || 'none';
  if (usable.length === 0) throw new Error(`no ${direction} devices found; run "voxroom devices" (on a server, start PulseAudio with a null sink: see README "Audio devices")`);
  if (wanted === null) {
    const fallback = usable.find((d) => (direction === 'input' ? d.defaultInput : d.defaultOutput)) ?? usable[0]!;
    return fallback;
  }
  if (/^\d+$/.test(wanted)) {
    const byIndex = usable.find((d) => d.index === Number(wanted));
    if (!byIndex) throw new Error(`no ${direction} device has index ${wanted}; ${direction} devices: ${list(usable)}`);
    return byIndex;
  }
  const exact = usable.filter((d) => d.name === wanted);
  if (exact.length === 1) return exact[0]!;
  const partial = usable.filter((d) => d.name.toLowerCase().includes(wanted.toLowerCase()));
  if (partial.length === 1) return partial[0]!;
  if (partial.length === 0) throw new Error(`no ${direction} device matches "${wanted}"; ${direction} devices: ${list(usable)}`);
  throw new Error(`"${wanted}" matches several ${direction} devices (${list(partial)}); give the index or the full name`);
}
