// Drives the web client in Debian's Chromium (playwright-core; never a downloaded browser).
// Chromium's fake microphone plays a tone file.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sine, writeWav48k } from './pulse.js';

export const CHROMIUM = '/usr/bin/chromium';

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/test-env.sh (npm test does) to install Debian's chromium`);
}

/** A Chromium whose fake microphone plays a sine at `hz` (−20 dBFS); the tone file goes to `scratch`. */
export async function launchBrowser(hz: number, scratch: string): Promise<Browser> {
  const file = join(scratch, `mic-${hz}.wav`);
  writeWav48k(file, sine(hz, 60, 3277));
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${file}`,
      '--autoplay-policy=no-user-gesture-required',
      '--disable-background-networking',
      '--disable-component-update',
      // Chromium's default mDNS hiding stays on: a page holding the microphone sends real
      // addresses anyway, which is what lets headless peers connect (see README).
    ],
  });
}

/** `prepare` runs on the new page before it loads (e.g. to route its WebSocket). */
export async function joinInBrowser(browser: Browser, serverUrl: string, room: string, name: string, prepare?: (page: Page) => Promise<void>): Promise<Page> {
  const page = await browser.newPage();
  await prepare?.(page);
  await page.goto(`${serverUrl}/r/${room}?name=${encodeURIComponent(name)}`);
  await page.click('#join');
  await page.waitForSelector('#in-room:not([hidden])', { timeout: 15_000 }).catch(async (error: Error) => {
    throw new Error(`join failed in the page: ${await page.textContent('#problem')} (${error.message})`);
  });
  return page;
}

type PageApi = { voxroom: { peers(): Array<{ name: string; connection: string }> } };

export async function waitForPageConnections(page: Page, count: number): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const peers = (globalThis as unknown as PageApi).voxroom.peers();
      return peers.length === n && peers.every((p) => p.connection === 'connected');
    },
    count,
    { timeout: 20_000 },
  );
}
