// Runs the built CLI as a user would: a child process of bin/voxroom.js.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const VOXROOM_BIN = fileURLToPath(new URL('../../bin/voxroom.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `bin`/`cwd`: run another installed copy of the program (default: this checkout's). `under`: a
 * command that runs it (such as setpriv with fewer capabilities).
 */
export function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; bin?: string; cwd?: string; under?: string[] } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, ...commandArgs] = [...(options.under ?? []), process.execPath, options.bin ?? VOXROOM_BIN, ...args];
    const child = spawn(command!, commandArgs, { env: { ...process.env, ...options.env }, cwd: options.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`voxroom ${args.join(' ')} did not exit within ${options.timeoutMs ?? 20_000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Starts a long-running command and resolves once a stdout line matches. */
export function startCli(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcessWithoutNullStreams; match: RegExpMatchArray; output: () => { stdout: string; stderr: string } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VOXROOM_BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`voxroom ${args.join(' ')} never printed ${ready}; stdout: ${stdout} stderr: ${stderr}`));
    }, 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = stdout.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, output: () => ({ stdout, stderr }) });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`voxroom ${args.join(' ')} exited with ${code} before ready; stderr: ${stderr}`));
    });
  });
}

export function exitOf(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** `voxroom serve` on a free port as a child process: its URL, and a stop that waits for its exit. */
export async function startServeCli(extraArgs: string[] = []): Promise<{ url: string; stop: () => Promise<void> }> {
  const { child, match } = await startCli(['serve', '--port', '0', ...extraArgs], /listening on (http:\/\/\S+)/);
  return {
    url: match[1]!,
    stop: async () => {
      child.kill('SIGINT');
      await exitOf(child);
    },
  };
}
