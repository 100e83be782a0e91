// A TCP proxy on loopback for tests that cut a connection: the client's link to a server (or a
// node's link to Janus) breaks while both ends live on.
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Cuts the first connection made through it (the others go on). */
  cutFirst(): void;
  /** Cuts every connection, and refuses new ones until `reopen`. */
  cutAll(): void;
  reopen(): void;
  /**
   * The next connection goes silent towards the client from the first server bytes holding
   * `text` (a join ack's "resumed", say): the client's messages still reach the server, which
   * still answers, but nothing more reaches the client on that connection. Later connections
   * are whole again.
   */
  silenceNextFrom(text: string): void;
  /**
   * The first server bytes holding `text`, on any connection, wait until `release` has settled
   * before they reach the client (and that connection's later bytes behind them): something
   * happens between the server's answer and the client's reading it. Resolves once released;
   * rejects with release's error. `text` must arrive within one read (short texts on loopback do).
   */
  holdNextFrom(text: string, release: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs: Socket[][] = [];
  let refusing = false;
  let silenceFrom: string | null = null;
  let hold: { text: string; release: () => Promise<void>; done: (error?: Error) => void } | null = null;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    pairs.push([client, upstream]);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream);
    const silenceFromText = silenceFrom;
    silenceFrom = null;
    let silent = false;
    // Bytes wait here behind a held chunk, in order.
    let queue: Promise<void> | null = null;
    upstream.on('data', (chunk: Buffer) => {
      if (silenceFromText !== null) silent ||= chunk.includes(silenceFromText);
      if (silent) return;
      const held = hold && chunk.includes(hold.text) ? hold : null;
      if (held) {
        hold = null;
        queue = (queue ?? Promise.resolve()).then(async () => {
          // The bytes go on either way; the caller hears how its release went.
          held.done(await held.release().then(() => undefined, (error: Error) => error));
        });
      }
      if (queue) queue = queue.then(() => void client.write(chunk));
      else client.write(chunk);
    });
    upstream.on('end', () => {
      // A silenced connection stays open towards the client: only the server's side ended.
      if (silent) return;
      if (queue) queue = queue.then(() => void client.end());
      else client.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed: Promise<void> | null = null;
  return {
    port: (server.address() as AddressInfo).port,
    cutFirst: () => {
      for (const socket of pairs[0] ?? []) socket.destroy();
    },
    cutAll: () => {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    reopen: () => {
      refusing = false;
    },
    silenceNextFrom: (text) => {
      silenceFrom = text;
    },
    holdNextFrom: (text, release) =>
      new Promise<void>((resolve, reject) => {
        if (hold) throw new Error('holdNextFrom: a hold is already waiting for its text');
        hold = { text, release, done: (error) => (error ? reject(error) : resolve()) };
      }),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
