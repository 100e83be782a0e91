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

  /** `where` is ws://HOST:PORT or "auto". Rejects with a sentence that says what to do. */
  static async start(where: string, logger: Logger, options: JanusDriverOptions = {}): Promise<JanusConnector> {
    const connector = new JanusConnector(where, logger, options);
    try {
      await connector.connect();
    } catch (error) {
      await connector.stop();
      throw error;
    }
    return connector;
  }

  get driver(): JanusDriver {
    if (!this.current) throw new Error('Janus is not connected');
    return this.current;
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
