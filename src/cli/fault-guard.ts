// A fault in voxroom itself (an exception nothing caught, a promise nobody awaited that
// rejected) must not end a run silently, nor abruptly: the command is told, leaves cleanly (which
// finalises its recordings) and exits with EXIT_CODES.internalFault.

/** How long leaving may take after a fault before the process exits anyway. */
export const FAULT_EXIT_DEADLINE_MS = 10_000;

/**
 * Calls `onFault` for every uncaught exception or unhandled rejection until the returned
 * function is called. While installed, Node does not crash on them: the caller must leave.
 */
export function watchForInternalFaults(onFault: (error: Error, origin: 'uncaught exception' | 'unhandled rejection') => void): () => void {
  const asError = (value: unknown): Error => (value instanceof Error ? value : new Error(String(value)));
  const onException = (error: Error): void => onFault(asError(error), 'uncaught exception');
  const onRejection = (reason: unknown): void => onFault(asError(reason), 'unhandled rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
