// Process-level helpers shared by the commands: usage errors and shutdown signals.

/** A mistake in how the command was called: printed without a stack, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Resolves on the first SIGINT or SIGTERM; a second one forces an immediate exit. */
export function onShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (received) {
        process.stderr.write(`voxroom: ${signal} again, exiting immediately\n`);
        process.exit(130);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
