// A browser in a spatial room with a headless peer: the page places each peer with a
// PannerNode by the same laws as the headless mixer, so what reaches each ear (ChannelSplitter +
// AnalyserNode after the panner) flips when the speaker crosses from the listener's left to its
// right; and dragging one's own dot on the map walks there, for everyone in the room.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inverseDistanceGain } from '../../src/audio/spatial.js';
import { RoomMap } from '../../src/server/room-map.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import { joinInBrowser, launchBrowser, requireChromium, waitForPageConnections } from '../helpers/browser.js';
import { makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';
import { startTestServer } from '../helpers/signalling.js';

const scratch = mkdtempSync(join(tmpdir(), 'voxroom-spatial-browser-'));
let server: RunningServer;
let browser: Browser | null = null;
let bot: TestPeer | null = null;

beforeAll(async () => {
  requireChromium();
  // The page enters at the centre (10, 5) facing up the map; west and east are 4 m to its sides.
  const square = { width: 20, height: 10, spots: [{ name: 'west', x: 6, y: 5 }, { name: 'east', x: 14, y: 5 }] };
  server = await startTestServer({ map: RoomMap.parse(JSON.stringify({ rooms: { square } }), 'test') });
});
afterAll(async () => {
  await browser?.close();
  await bot?.peer.stop();
  await server.close();
});

type PageApi = {
  voxroom: {
    toneLevel(name: string, hz: number): number | null;
    sideLevels(name: string, hz: number): { left: number; right: number } | null;
    position(): { x: number; y: number; facing: number } | null;
  };
};
const sides = (page: Page, name: string, hz: number) => page.evaluate(([n, f]) => (globalThis as unknown as PageApi).voxroom.sideLevels(n as string, f as number), [name, hz] as const);
const beforePanner = (page: Page, name: string, hz: number) => page.evaluate(([n, f]) => (globalThis as unknown as PageApi).voxroom.toneLevel(n as string, f as number), [name, hz] as const);

describe('web client in a spatial room', () => {
  it('hears a speaker on its left, then on its right when it crosses over; a drag walks the page there', async () => {
    bot = makePeer(server.url, 'square', 'bot', 620, { at: { spot: 'west' } });
    await bot.peer.start();
    browser = await launchBrowser(440, scratch);
    const page = await joinInBrowser(browser, server.url, 'square', 'ann');
    await waitForPageConnections(page, 1);
    expect(await page.evaluate(() => (globalThis as unknown as PageApi).voxroom.position())).toEqual({ x: 10, y: 5, facing: 0 });
    await sleep(2500);

    const west = (await sides(page, 'bot', 620))!;
    const unpanned = (await beforePanner(page, 'bot', 620))!;
    console.log(`bot 4 m to the left: left ${west.left.toFixed(1)} dB, right ${west.right.toFixed(1)} dB, before the panner ${unpanned.toFixed(1)} dB`);
    expect(west.left - west.right).toBeGreaterThan(20);
    // All of it on the left, at the inverse law's 4 m (−12 dB): the browser's PannerNode and the headless mixer agree.
    expect(Math.abs(west.left - unpanned - 20 * Math.log10(inverseDistanceGain(4)))).toBeLessThan(1.5);

    await bot.peer.goto('east');
    await sleep(1500);
    const east = (await sides(page, 'bot', 620))!;
    console.log(`bot 4 m to the right: left ${east.left.toFixed(1)} dB, right ${east.right.toFixed(1)} dB`);
    expect(east.right - east.left).toBeGreaterThan(20);
    expect(Math.abs(east.right - west.left)).toBeLessThan(1.5);

    // Drag our own dot 3 m down the map: the page walks there, and the bot sees it arrive.
    // (A string: the page's DOM types are not this file's.)
    const [from, to] = await page.evaluate<Array<{ x: number; y: number }>>(`(() => {
      const svg = document.querySelector('#map svg');
      const screen = (x, y) => { const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM()); return { x: p.x, y: p.y }; };
      return [screen(10, 5), screen(10, 8)];
    })()`) as [{ x: number; y: number }, { x: number; y: number }];
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 5 });
    await page.mouse.up();
    await waitUntil(() => {
      const seen = bot!.peer.peers()[0]?.state.position;
      return seen !== undefined && Math.abs(seen.x - 10) < 0.05 && Math.abs(seen.y - 8) < 0.05;
    }, 'the bot to see the page at (10, 8)', 5000, () => bot!.peer.peers()[0]?.state);
  });
});
