// Parsers for CLI option values: each throws commander's InvalidArgumentError with a sentence that
// says what was wrong and what is accepted.
import { InvalidArgumentError } from 'commander';

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
