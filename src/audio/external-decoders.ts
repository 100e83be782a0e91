// Audio made by programs on the PATH, when they are installed: ffmpeg decodes any format it
// knows (MP3, Ogg/Opus, FLAC, …) and espeak-ng renders speech, so bots can talk instead of
// beeping. Both run once at open and their output is played from memory, like a WAV file.
import { spawn } from 'node:child_process';
import { SAMPLE_RATE } from './format.js';
import { wavToSamples } from './wav-file-source.js';

/** The program is not installed: the message says which package brings it. */
export class MissingProgramError extends Error {
  override readonly name = 'MissingProgramError';
}

interface RunResult {
  stdout: Buffer;
  stderr: string;
}

function run(program: string, args: string[], input: string | null, purpose: string, packageName: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString();
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') reject(new MissingProgramError(`${purpose} needs ${program}, which is not installed; install it (sudo apt-get install ${packageName}) or use a WAV file`));
      else reject(new Error(`${purpose}: could not run ${program}: ${error.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout: Buffer.concat(chunks), stderr });
      else reject(new Error(`${purpose}: ${program} failed (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ') || 'no message'}`));
    });
    child.stdin.on('error', () => undefined); // it may exit before reading everything
    child.stdin.end(input ?? undefined);
  });
}

/** Decodes any file ffmpeg reads into 48 kHz mono samples. */
export async function decodeWithFfmpeg(path: string): Promise<Int16Array> {
  const { stdout } = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', path, '-vn', '-f', 's16le', '-acodec', 'pcm_s16le', '-ac', '1', '-ar', String(SAMPLE_RATE), '-'], null, `playing ${path}`, 'ffmpeg');
  // s16le is the byte order of every machine Node runs on here; copy to align the samples.
  const samples = new Int16Array(stdout.byteLength >> 1);
  new Uint8Array(samples.buffer).set(stdout.subarray(0, samples.byteLength));
  if (samples.length === 0) throw new Error(`input file ${path} holds no audio ffmpeg could decode`);
  return samples;
}

/** Speech for `text` by espeak-ng (text on standard input, so no text is taken for a flag). */
export async function renderSpeech(text: string, options: { voice?: string; wordsPerMinute?: number } = {}): Promise<Int16Array> {
  const args = ['--stdout', '--stdin', '-s', String(options.wordsPerMinute ?? 160)];
  if (options.voice) args.push('-v', options.voice);
  const { stdout } = await run('espeak-ng', args, text, 'speech input (speak:)', 'espeak-ng');
  return wavToSamples(stdout, `speech of "${text.slice(0, 40)}"`);
}
