// Click trains and their detection by cross-correlation, for latency measurements.
import { SAMPLE_RATE } from '../audio/format.js';

/** A 2 ms burst of 3 kHz under a Hann window: short, broadband enough to time precisely. */
export function clickTemplate(amplitude = 16_000): Float32Array {
  const length = Math.round(SAMPLE_RATE * 0.002);
  return Float32Array.from({ length }, (_, i) => amplitude * Math.sin((2 * Math.PI * 3000 * i) / SAMPLE_RATE) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (length - 1))));
}

/**
 * Sample positions where the template occurs, by normalised cross-correlation: peaks above
 * `threshold` (0–1), at least `minGap` samples apart.
 */
export function findClicks(signal: ArrayLike<number>, template: Float32Array, threshold = 0.5, minGap = SAMPLE_RATE / 20): number[] {
  const n = template.length;
  let templateEnergy = 0;
  for (const t of template) templateEnergy += t * t;
  const found: number[] = [];
  let windowEnergy = 0;
  for (let i = 0; i < n && i < signal.length; i++) windowEnergy += signal[i]! * signal[i]!;
  let best = { at: -1, score: 0 };
  for (let start = 0; start + n <= signal.length; start++) {
    if (start > 0) windowEnergy += signal[start + n - 1]! ** 2 - signal[start - 1]! ** 2;
    if (windowEnergy <= 1e-6) continue;
    let dot = 0;
    for (let k = 0; k < n; k++) dot += signal[start + k]! * template[k]!;
    const score = dot / Math.sqrt(templateEnergy * windowEnergy);
    if (score >= threshold) {
      if (best.at >= 0 && start - best.at > minGap) {
        found.push(best.at);
        best = { at: -1, score: 0 };
      }
      if (score > best.score) best = { at: start, score };
    }
  }
  if (best.at >= 0) found.push(best.at);
  return found;
}
