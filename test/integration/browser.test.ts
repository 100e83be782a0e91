// The web client in Debian's Chromium (playwright-core; never a downloaded browser), in rooms
// with headless peers. Chromium's fake microphone plays a tone file; what the page hears is
// measured in the page (AnalyserNode after each peer's gain), what the headless peer hears in
// its recording.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { JanusDriver } from '../../src/server/janus-driver.js';
import { startJanusProcess } from '../../src/server/janus-process.js';
import { RoomMap } from '../../src/server/room-map.js';
import { RoomTokenSigner, RoomTokenVerifier } from '../../src/server/room-tokens.js';
import type { RunningServer } from '../../src/server/signalling-server.js';
import type { Grant } from '../../src/protocol.js';
import { adminRequest, connectClient, joinOk, startTestServer } from '../helpers/signalling.js';
import { expectAbsent, expectHears, makePeer, sleep, waitUntil, type TestPeer } from '../helpers/peers.js';
import { CHROMIUM, joinInBrowser as joinChromium, launchBrowser as launchChromium, requireChromium, waitForPageConnections } from '../helpers/browser.js';
import { wavTail } from '../helpers/wav.js';
import { startNode, startRedis } from '../helpers/cluster.js';

/** A peer's tone counts as heard in the page above this spectrum level (dB). */
const HEARD_DB = -60;
const scratch = mkdtempSync(join(tmpdir(), 'voxroom-browser-'));
let server: RunningServer;
const browsers: Browser[] = [];
const peers: TestPeer[] = [];

beforeAll(async () => {
  requireChromium();
  const map = RoomMap.parse(JSON.stringify({ default: { width: 12, height: 8, spots: [{ name: 'stage', x: 6, y: 1.5, radius: 1.2 }, { name: 'door', x: 0.5, y: 7 }] } }), 'test');
  server = await startTestServer({ map });
});
afterEach(async () => {
  for (const browser of browsers.splice(0)) await browser.close();
  await Promise.all(peers.splice(0).map((p) => p.peer.stop()));
});
afterAll(async () => {
  await server.close();
});

const launchBrowser = async (hz: number): Promise<Browser> => {
  const browser = await launchChromium(hz, scratch);
  browsers.push(browser);
  return browser;
};

const joinInBrowser = (browser: Browser, room: string, name: string, serverUrl = server.url, prepare?: (page: Page) => Promise<void>): Promise<Page> => joinChromium(browser, serverUrl, room, name, prepare);

type PageApi = { voxroom: { toneLevel(name: string, hz: number): number | null } };

const toneInPage = (page: Page, name: string, hz: number): Promise<number | null> => page.evaluate(([n, f]) => (globalThis as unknown as PageApi).voxroom.toneLevel(n as string, f as number), [name, hz] as const);

const recordingTail = (dir: string, name: string, seconds: number): Int16Array => wavTail(join(dir, `${name}.wav`), seconds);

describe('web client', () => {
  it('a browser and a headless peer hear each other; the slider at 0 silences the peer in the page', async () => {
    const recordDir = join(scratch, 'one');
    const bot = makePeer(server.url, 'mixed', 'bot', 620, { recordDir });
    peers.push(bot);
    await bot.peer.start();
    const page = await joinInBrowser(await launchBrowser(440), 'mixed', 'ann');
    await waitForPageConnections(page, 1);
    await waitUntil(() => bot.peer.peers()[0]?.connection === 'connected', 'bot connected to the browser');
    await sleep(2500);

    // The page hears the bot's 620 Hz: a −20 dBFS sine shows at about −48 dB in the analyser's
    // spectrum (Blackman window, 8192 bins); silence is below −100 dB.
    const heard = (await toneInPage(page, 'bot', 620))!;
    expect(heard).toBeGreaterThan(HEARD_DB);
    expect(heard - (await toneInPage(page, 'bot', 440))!).toBeGreaterThan(30);

    // The volume slider at 0 silences the bot in the page; back at 100 % it returns.
    await page.locator('.peer[data-name="bot"] input[type=range]').fill('0');
    await sleep(500);
    expect((await toneInPage(page, 'bot', 620))!).toBeLessThan(heard - 40);
    await page.locator('.peer[data-name="bot"] input[type=range]').fill('100');
    await sleep(500);
    expect((await toneInPage(page, 'bot', 620))!).toBeGreaterThan(heard - 3);

    // The bot's recording of the browser holds the browser's 440 Hz.
    await bot.peer.stop();
    const fromBrowser = recordingTail(recordDir, 'ann', 1);
    expectHears(fromBrowser, 440, 0, 6); // Chromium's audio processing (AGC) may move the level
    expectAbsent(fromBrowser, 620);
  });

  it('two browsers and a headless peer: everyone hears the other two', async () => {
    const recordDir = join(scratch, 'three');
    const bot = makePeer(server.url, 'trio', 'bot', 620, { recordDir });
    peers.push(bot);
    await bot.peer.start();
    const [ann, ben] = await Promise.all([launchBrowser(440), launchBrowser(970)]);
    const [annPage, benPage] = await Promise.all([joinInBrowser(ann, 'trio', 'ann'), joinInBrowser(ben, 'trio', 'ben')]);
    await Promise.all([waitForPageConnections(annPage, 2), waitForPageConnections(benPage, 2)]);
    await waitUntil(() => bot.peer.peers().length === 2 && bot.peer.peers().every((p) => p.connection === 'connected'), 'bot connected to both browsers');
    await sleep(2500);
    expect((await toneInPage(annPage, 'bot', 620))!).toBeGreaterThan(HEARD_DB);
    expect((await toneInPage(annPage, 'ben', 970))!).toBeGreaterThan(HEARD_DB);
    expect((await toneInPage(benPage, 'bot', 620))!).toBeGreaterThan(HEARD_DB);
    expect((await toneInPage(benPage, 'ann', 440))!).toBeGreaterThan(HEARD_DB);
    // Nobody hears their own voice back through another peer. Measured against the level at
    // which that peer itself is heard: Chromium's echo canceller leaves a residual of the far end
    // about 40 dB down in a browser's outgoing audio (seen at −87 dB here, against −48 for the
    // peer's own tone); a real loop would come back near the sent level.
    const annHearsBen = (await toneInPage(annPage, 'ben', 970))!;
    const benHearsAnn = (await toneInPage(benPage, 'ann', 440))!;
    expect((await toneInPage(annPage, 'ben', 440))!).toBeLessThan(annHearsBen - 30);
    expect((await toneInPage(benPage, 'ann', 970))!).toBeLessThan(benHearsAnn - 30);
    await bot.peer.stop();
    expectHears(recordingTail(recordDir, 'ann', 1), 440, 0, 6);
    expectHears(recordingTail(recordDir, 'ben', 1), 970, 0, 6);
  });

  it('in a cluster, a browser on one node and a headless peer on another hear each other, also when the peer\'s offer overtakes the news of the peer', async () => {
    // In a cluster a signal from another node's member travels apart from the room's events
    // (PROTOCOL.md, Order), so it can overtake them; that depends on timing, so the test makes
    // it happen: the page's socket is routed so that every member-joined reaches the page 1.5 s
    // late, and the newcomer's offer always comes first. The page must hold it. (A page that
    // dropped it would wait for the newcomer's first retry, 5 s after it joined.)
    const redis = await startRedis();
    const nodes = [await startNode(redis.url), await startNode(redis.url)];
    try {
      const page = await joinInBrowser(await launchBrowser(440), 'apart', 'ann', nodes[0]!.url, (page) =>
        page.routeWebSocket(/\/socket\.io\//, (route) => {
          const toServer = route.connectToServer();
          route.onMessage((message) => toServer.send(message));
          toServer.onMessage((message) => {
            if (typeof message === 'string' && message.startsWith('42["member-joined"')) setTimeout(() => route.send(message), 1500);
            else route.send(message);
          });
        }),
      );
      const recordDir = join(scratch, 'apart');
      const bot = makePeer(nodes[1]!.url, 'apart', 'bot', 620, { recordDir });
      peers.push(bot);
      await bot.peer.start();
      const joinedAt = Date.now();
      await waitUntil(() => bot.peer.peers()[0]?.connection === 'connected', 'the bot connected to the browser', 20_000, () => bot.peer.peers());
      // Held: about 2 s (the 1.5 s delay, then the answer and ICE). Dropped: 5 s and more.
      expect(Date.now() - joinedAt).toBeLessThan(4000);
      await waitForPageConnections(page, 1);
      await sleep(2500);
      expect((await toneInPage(page, 'bot', 620))!).toBeGreaterThan(HEARD_DB);
      await bot.peer.stop();
      expectHears(recordingTail(recordDir, 'ann', 1), 440, 0, 6);
    } finally {
      for (const node of nodes) await node.close();
      await redis.stop();
    }
  });

  it('shows the room (names, levels, states, map), and the form at / leads to a room', async () => {
    const bot = makePeer(server.url, 'show', 'bot', 620);
    peers.push(bot);
    await bot.peer.start();
    const browser = await launchBrowser(440);
    const page = await joinInBrowser(browser, 'show', 'ann');
    await waitForPageConnections(page, 1);
    await sleep(1000);
    expect(await page.textContent('#status')).toMatch(/In room “show” as ann/);
    expect(await page.textContent('.peer .name')).toBe('bot');
    expect(await page.textContent('.peer .state')).toBe('connected');
    // The bot's tone lights its meter once audio flows.
    await page.waitForSelector('.peer[data-name="bot"] .meter[data-speaking="true"]', { timeout: 10_000 });
    expect(await page.locator('#map svg circle.spot').count()).toBe(2);
    // Member state both ways: the bot's tone makes it "speaking" in the room's state, its mute
    // shows in the page; the page's microphone makes it speak, its mute button mutes it for the bot.
    await page.waitForSelector('.peer[data-name="bot"][data-speaking="true"]', { timeout: 5000 });
    await waitUntil(() => bot.peer.peers()[0]?.state.speaking === true, 'the bot sees ann speaking', 5000, () => bot.peer.peers());
    bot.peer.muted = true;
    await page.waitForSelector('.peer[data-name="bot"][data-muted="true"]', { timeout: 5000 });
    expect(await page.textContent('.peer[data-name="bot"] .member-state')).toMatch(/muted/);
    await page.click('#mute-self');
    await waitUntil(() => bot.peer.peers()[0]?.state.muted === true, 'the bot sees ann muted', 5000, () => bot.peer.peers());
    await page.screenshot({ path: join(scratch, 'room.png') });

    // The form at / leads to the room page.
    const form = await browser.newPage();
    await form.goto(server.url);
    await form.fill('#room', 'elsewhere');
    await form.fill('#name', 'zed');
    await form.click('#pick button');
    await form.waitForURL(/\/r\/elsewhere\?name=zed$/);
  });

  it('in an SFU room (through Janus) a browser and a headless peer hear each other', async () => {
    const janus = await startJanusProcess({ logger: silentLogger });
    const driver = await JanusDriver.connect(janus.url, silentLogger);
    const sfuServer = await startTestServer({ media: 'sfu', janus: driver });
    try {
      const recordDir = join(scratch, 'sfu');
      const bot = makePeer(sfuServer.url, 'big', 'bot', 620, { recordDir });
      peers.push(bot);
      await bot.peer.start();
      const page = await joinInBrowser(await launchBrowser(440), 'big', 'ann', sfuServer.url);
      expect(await page.evaluate(() => (globalThis as unknown as { voxroom: { media(): string } }).voxroom.media())).toBe('sfu');
      await waitForPageConnections(page, 1);
      await waitUntil(() => bot.peer.peers()[0]?.connection === 'connected' && (bot.peer.peers()[0]?.audio?.receivedFrames ?? 0) > 50, 'the bot receives the browser through Janus', 20_000, () => bot.peer.peers());
      await sleep(2500);
      const heard = (await toneInPage(page, 'bot', 620))!;
      expect(heard).toBeGreaterThan(HEARD_DB);
      expect(heard - (await toneInPage(page, 'bot', 440))!).toBeGreaterThan(30);
      expect(bot.peer.status()).toMatchObject({ media: 'sfu', links: 2 });
      await bot.peer.stop();
      const fromBrowser = recordingTail(recordDir, 'ann', 1);
      expectHears(fromBrowser, 440, 0, 6);
      expectAbsent(fromBrowser, 620);
    } finally {
      await sfuServer.close();
      await driver.close();
      await janus.stop();
    }
  });

  it('takes a room token from the page address (#token=…): joins under its name, hears a headless peer, and never shows the token to anyone else', async () => {
    const secret = randomBytes(32).toString('base64');
    const signer = RoomTokenSigner.fromSecret(secret);
    const guarded = await startTestServer({ tokens: RoomTokenVerifier.fromSecret(secret) });
    const observer = await connectClient(guarded.url);
    try {
      // A raw socket in the room sees every event the page causes.
      const seen: string[] = [];
      observer.onAny((event: string, payload: unknown) => seen.push(`${event} ${JSON.stringify(payload)}`));
      await joinOk(observer, 'vip', 'observer', { token: await signer.mint({ name: 'observer', scope: { room: 'vip' }, grants: ['speak', 'listen'], ttlSeconds: 600 }) });
      const speaker = makePeer(guarded.url, 'vip', 'speaker', 620, { token: await signer.mint({ name: 'speaker', scope: { room: 'vip' }, grants: ['speak', 'listen'], ttlSeconds: 600 }) });
      peers.push(speaker);
      await speaker.peer.start();
      const token = await signer.mint({ name: 'Dana', scope: { room: 'vip' }, grants: ['speak', 'listen'], ttlSeconds: 600 });
      const page = await (await launchBrowser(440)).newPage();
      // The name asked for in the address is not the one the room gives: the token's is.
      await page.goto(`${guarded.url}/r/vip?name=impostor#token=${token}`);
      await page.click('#join');
      await page.waitForSelector('#in-room:not([hidden])', { timeout: 15_000 });
      await waitUntil(() => seen.some((line) => line.startsWith('member-joined') && line.includes('"name":"Dana"')), 'the page to join as Dana', 10_000, () => seen);
      await waitUntil(() => speaker.peer.peers().some((p) => p.name === 'Dana' && p.connection === 'connected'), 'the page and the headless peer to connect', 15_000);
      let heard = -200;
      for (const deadline = Date.now() + 10_000; heard <= HEARD_DB && Date.now() < deadline; await sleep(200)) heard = (await toneInPage(page, 'speaker', 620)) ?? -200;
      expect(heard, 'the page hearing the headless peer').toBeGreaterThan(HEARD_DB);
      expect(seen.some((line) => line.includes('impostor'))).toBe(false);
      // Offers from the page reach the observer (it is a roommate): none of it carries the token.
      expect(seen.some((line) => line.startsWith('signal'))).toBe(true);
      expect(seen.filter((line) => line.includes(token))).toEqual([]);
      expect(seen.filter((line) => line.includes(token.split('.')[2]!))).toEqual([]);
    } finally {
      observer.disconnect();
      await guarded.close();
    }
  });

  it('shows an admin\'s server-mute on the muted member\'s row and stops playing it; a kicked page says so and stays out', async () => {
    const secret = randomBytes(32).toString('base64');
    const signer = RoomTokenSigner.fromSecret(secret);
    const mint = (name: string, grants: Grant[]): Promise<string> => signer.mint({ name, scope: { room: 'club' }, grants, ttlSeconds: 600 });
    const guarded = await startTestServer({ tokens: RoomTokenVerifier.fromSecret(secret) });
    const boss = await connectClient(guarded.url);
    try {
      await joinOk(boss, 'club', 'boss', { token: await mint('boss', ['speak', 'listen', 'admin']) });
      const loud = makePeer(guarded.url, 'club', 'loud', 620, { token: await mint('loud', ['speak', 'listen']) });
      peers.push(loud);
      await loud.peer.start();
      const page = await (await launchBrowser(440)).newPage();
      await page.goto(`${guarded.url}/r/club#token=${await mint('Dana', ['speak', 'listen'])}`);
      await page.click('#join');
      await page.waitForSelector('#in-room:not([hidden])', { timeout: 15_000 });
      await waitUntil(() => loud.peer.peers().some((p) => p.name === 'Dana' && p.connection === 'connected'), 'the page and loud to connect', 15_000);
      let heard = -200;
      for (const deadline = Date.now() + 10_000; heard <= HEARD_DB && Date.now() < deadline; await sleep(200)) heard = (await toneInPage(page, 'loud', 620)) ?? -200;
      expect(heard, 'the page hearing loud before the mute').toBeGreaterThan(HEARD_DB);

      expect(await adminRequest(boss, 'server-mute', { id: loud.peer.identity!.id, muted: true })).toEqual({ ok: true });
      const row = await page.waitForSelector('.peer[data-name="loud"][data-server-muted="true"]', { timeout: 5_000 });
      expect(await row.$eval('.member-state', (el) => el.textContent)).toMatch(/muted by an admin/);
      await sleep(1000);
      expect((await toneInPage(page, 'loud', 620)) ?? -200, 'the page playing loud after the mute').toBeLessThan(HEARD_DB);

      const dana = loud.peer.peers().find((p) => p.name === 'Dana')!;
      expect(await adminRequest(boss, 'kick', { id: dana.id })).toEqual({ ok: true });
      await page.waitForSelector('#status:text-matches("You were removed from the room")', { timeout: 5_000 });
      // It does not come back: a kicked page does not reconnect.
      await sleep(1500);
      expect(loud.peer.peers().some((p) => p.name === 'Dana')).toBe(false);
    } finally {
      boss.disconnect();
      await guarded.close();
    }
  });

  it('explains a full room and an insecure page', async () => {
    const small = await startTestServer({ maxPeersPerRoom: 1 });
    const sitter = makePeer(small.url, 'tiny', 'sitter', null);
    peers.push(sitter);
    try {
      await sitter.peer.start();
      const browser = await launchBrowser(440);
      const page = await browser.newPage();
      await page.goto(`${small.url}/r/tiny?name=late`);
      await page.click('#join');
      await page.waitForSelector('#problem:not([hidden])');
      expect(await page.textContent('#problem')).toMatch(/Room "tiny" is full/);
    } finally {
      await sitter.peer.stop();
      await small.close();
    }
    // A plain-http page from a non-local name is not a secure context: no microphone.
    const insecure = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--host-resolver-rules=MAP voxroom.test 127.0.0.1'] });
    browsers.push(insecure);
    const page = await insecure.newPage();
    await page.goto(`${server.url.replace('127.0.0.1', 'voxroom.test')}/r/lobby?name=x`);
    await page.click('#join');
    await page.waitForSelector('#problem:not([hidden])');
    expect(await page.textContent('#problem')).toMatch(/not a secure context.*https.*localhost/);
  });

  it('explains a refused microphone', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--deny-permission-prompts'] });
    browsers.push(browser);
    const context = await browser.newContext({ permissions: [] });
    const page = await context.newPage();
    await page.goto(`${server.url}/r/denied?name=x`);
    await page.click('#join');
    await page.waitForSelector('#problem:not([hidden])');
    expect(await page.textContent('#problem')).toMatch(/Microphone access was denied|microphone could not be opened/);
  });
});
