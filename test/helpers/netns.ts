// Network namespaces as separate hosts: each peer gets a namespace with a control link to
// the root namespace (where the signalling and TURN servers listen) and, optionally, the two
// share a direct media link. The namespaces have no default route, so nothing reaches the
// other host except over the media link (whatever the root's forwarding setting): cutting it
// breaks the audio while signalling stays up; without it only a relay in the root can carry
// media. Needs root and `ip`.
import { execFileSync } from 'node:child_process';

export interface TwoHosts {
  /** Namespace names, for `ip netns exec`. */
  a: string;
  b: string;
  /** The server's address as each namespace reaches it. */
  serverAddressFromA: string;
  serverAddressFromB: string;
  /** With `rootOnlyAddress`: an address of the root namespace that neither host can reach. */
  rootOnlyAddress: string;
  /** Takes the media link down (true) or up again (false). */
  cutMedia(cut: boolean): void;
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * With `mediaLink: false` the namespaces cannot reach each other at all (a relay must). With
 * `rootOnlyAddress` the root gets an address that neither namespace has a route to: a TURN relay placed there can only be reached through the relay itself.
 */
export function twoHosts(tag: string, { mediaLink = true, rootOnlyAddress = false } = {}): TwoHosts {
  const a = `vx${tag}a`;
  const b = `vx${tag}b`;
  const r = `vx${tag}r`;
  const remove = (): void => {
    for (const args of [['netns', 'del', a], ['netns', 'del', b], ['netns', 'del', r]]) {
      try {
        ip(...args); // a namespace takes its veth ends, and so their peers, with it
      } catch {
        // not there
      }
    }
  };
  remove();
  try {
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    // Control links: root 10.231.1.1 <-> A 10.231.1.2, root 10.231.2.1 <-> B 10.231.2.2.
    for (const [ns, net] of [
      [a, '10.231.1'],
      [b, '10.231.2'],
    ] as const) {
      ip('link', 'add', `${ns}c0`, 'type', 'veth', 'peer', 'name', `${ns}c1`);
      ip('link', 'set', `${ns}c1`, 'netns', ns);
      ip('addr', 'add', `${net}.1/30`, 'dev', `${ns}c0`);
      ip('link', 'set', `${ns}c0`, 'up');
      ip('-n', ns, 'addr', 'add', `${net}.2/30`, 'dev', `${ns}c1`);
      ip('-n', ns, 'link', 'set', `${ns}c1`, 'up');
    }
    // Media link: A 10.231.3.1 <-> B 10.231.3.2, directly between the namespaces.
    if (mediaLink) ip('link', 'add', `${a}m`, 'netns', a, 'type', 'veth', 'peer', 'name', `${b}m`, 'netns', b);
    if (mediaLink) {
      ip('-n', a, 'addr', 'add', '10.231.3.1/30', 'dev', `${a}m`);
      ip('-n', b, 'addr', 'add', '10.231.3.2/30', 'dev', `${b}m`);
      ip('-n', a, 'link', 'set', `${a}m`, 'up');
      ip('-n', b, 'link', 'set', `${b}m`, 'up');
    }
    // The root's end of a link to a third, empty namespace (this kernel has no dummy links).
    if (rootOnlyAddress) {
      ip('netns', 'add', r);
      ip('link', 'add', `${r}0`, 'type', 'veth', 'peer', 'name', `${r}1`);
      ip('link', 'set', `${r}1`, 'netns', r);
      ip('addr', 'add', '10.231.9.1/30', 'dev', `${r}0`);
      ip('link', 'set', `${r}0`, 'up');
      ip('-n', r, 'link', 'set', `${r}1`, 'up');
    }
  } catch (error) {
    remove();
    throw new Error(`cannot build the test network (needs root and iproute2): ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? (error as Error).message}`);
  }
  return {
    a,
    b,
    serverAddressFromA: '10.231.1.1',
    serverAddressFromB: '10.231.2.1',
    rootOnlyAddress: '10.231.9.1',
    cutMedia: (cut) => ip('-n', a, 'link', 'set', `${a}m`, cut ? 'down' : 'up'),
    remove,
  };
}
