// Where the server's Janus comes from: a running one at a URL, or ("auto") a child process it
// starts, and starts again after a crash. Hands out connected drivers: the first at start,
// a fresh one each time the SFU rooms ask to reconnect.
import type { Logger } from '../log.js';
import { JanusDriver, type JanusDriverOptions } from './janus-driver.js';
import { startJanusProcess, type JanusProcess } from './janus-process.js';

export class JanusConnector {
  private process: JanusProcess | null = null;
  private current: JanusDriver | null = null;

  private constructor(
    private readonly where: string,
    private readonly logger: Logger,
    private readonly options: JanusDriverOptions,
  ) {}

  /**
   * `where` is ws://HOST:PORT or "auto". For "auto" a Janus that cannot start is an error that
   * says what to install; a Janus at a URL that does not answer yet is tried again later
   * (`driver` is null until then, and its rooms use the mesh).
   */
  static async start(where: string, logger: Logger, options: JanusDriverOptions = {}): Promise<JanusConnector> {
    const connector = new JanusConnector(where, logger, options);
    try {
      await connector.connect();
    } catch (error) {
      if (where === 'auto') {
        await connector.stop();
        throw error;
      }
      logger.warn(`${(error as Error).message}; its rooms use the mesh until it answers (trying every 2 s)`);
    }
    return connector;
  }

  /** The connected driver, or null while this Janus has not answered. */
  get driver(): JanusDriver | null {
    return this.current;
  }

  /** Where this Janus is: its URL, or "auto". */
  get location(): string {
    return this.where;
  }

  /** A new driver (after a loss): restarts Janus first when this server runs its own. */
  readonly reconnect = async (): Promise<JanusDriver> => this.connect();

  async stop(): Promise<void> {
    await this.current?.close();
    this.current = null;
    await this.process?.stop();
    this.process = null;
  }

  private async connect(): Promise<JanusDriver> {
    if (this.where === 'auto' && (this.process === null || (await isExited(this.process)))) {
      if (this.process) this.logger.warn('Janus exited; starting it again');
      this.process = await startJanusProcess({ logger: this.logger });
    }
    const url = this.where === 'auto' ? this.process!.url : this.where;
    this.current = await JanusDriver.connect(url, this.logger, this.options);
    return this.current;
  }
}

async function isExited(process: JanusProcess): Promise<boolean> {
  return Promise.race([process.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 0))]);
}
