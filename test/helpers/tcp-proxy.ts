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
  close(): Promise<void>;
}

export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs: Socket[][] = [];
  let refusing = false;
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
    client.pipe(upstream).pipe(client);
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
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
