// Parsers for CLI option values: each throws commander's InvalidArgumentError with a sentence that
// says what was wrong and what is accepted.
import { InvalidArgumentError, Option } from 'commander';

export function parseIntegerInRange(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`"${value}" is not a whole number (expected ${min}–${max}).`);
    const number = Number(value);
    if (number < min || number > max) throw new InvalidArgumentError(`${number} is out of range (expected ${min}–${max}).`);
    return number;
  };
}

export function parsePositiveSeconds(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError(`"${value}" is not a positive number of seconds.`);
  return number;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration such as 90s, 10m, 12h or 7d (plain digits are seconds), in whole seconds within [min, max]. */
export function parseDurationSeconds(minSeconds: number, maxSeconds: number) {
  return (value: string): number => {
    const match = /^(\d+)([smhd]?)$/.exec(value.trim());
    if (!match) throw new InvalidArgumentError(`"${value}" is not a duration; use e.g. 90s, 10m, 12h or 7d.`);
    const seconds = Number(match[1]) * DURATION_UNITS[match[2] || 's']!;
    if (seconds < minSeconds || seconds > maxSeconds) throw new InvalidArgumentError(`${value} is out of range (expected ${minSeconds} s to ${maxSeconds / 86400} days).`);
    return seconds;
  };
}

/** `--no-high-priority`, the same for every command that runs peers (see audio/mixing-priority.ts). */
export function noHighPriorityOption(): Option {
  return new Option('--no-high-priority', 'leave the mixing thread at normal priority (by default it asks for nice -11, as PulseAudio does, where the system allows)');
}
