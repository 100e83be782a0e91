// Structured logging: one record per line on stderr, quiet by default.
// Human format "voxroom: warn: message key=value"; --json gives one JSON object per line.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  json: boolean;
  write?: (line: string) => void;
  fields?: LogFields;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = options.fields ?? {};
  const emit = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (ORDER[level] < ORDER[options.level]) return;
    const all = { ...base, ...fields };
    if (options.json) {
      write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...all }) + '\n');
    } else {
      const extras = Object.entries(all).map(([key, value]) => `${key}=${formatValue(value)}`);
      write(`voxroom: ${level}: ${message}${extras.length ? ' ' + extras.join(' ') : ''}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...options, write, fields: { ...base, ...fields } }),
  };
}

export const silentLogger: Logger = createLogger({ level: 'error', json: false, write: () => undefined });

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}
