// The docs page (`/docs`) in a real browser: on the chat example, fill in the route's
// `client_id`, connect, send a message and see the chat broadcast come back, with the
// negotiated extension shown; on the auth example, connecting without credentials shows
// "handshake refused (1006)".
//
// usage: node docs.mjs http://CHAT_HOST:PORT http://AUTH_HOST:PORT
// CHROMIUM overrides the browser binary (default /usr/bin/chromium).
import { check, finish } from "./check.mjs";
import { withChromium } from "./chromium.mjs";

const [chat, auth] = process.argv.slice(2);
if (!chat || !auth) {
  console.error("usage: node docs.mjs http://CHAT_HOST:PORT http://AUTH_HOST:PORT");
  process.exit(2);
}
const TIMEOUT = 15000;

await withChromium(async (context) => {
  const page = await context.newPage();
  const route = page.locator('section[data-channel="chat"]');
  await check("the chat example's docs page lists its route", async () => {
    await page.goto(`${chat}/docs`);
    await page.locator('body[data-ready="true"]').waitFor({ timeout: TIMEOUT });
    await route.locator("h2", { hasText: "/ws/{client_id}" }).waitFor({ timeout: TIMEOUT });
    await route.locator("td", { hasText: "parsed as u64" }).waitFor({ timeout: TIMEOUT });
  });
  await check("filled in, it connects and shows the negotiated extension", async () => {
    await route.locator('input[data-path="client_id"]').fill("7");
    await route.locator('button[data-action="connect"]').click();
    await route.locator('.status[data-state="open"]').waitFor({ timeout: TIMEOUT });
    const extensions = await route.locator("[data-extensions]").getAttribute("data-extensions");
    if (!extensions.startsWith("permessage-deflate")) {
      throw new Error(`extensions shown: ${JSON.stringify(extensions)}`);
    }
  });
  await check("a message sent from the console comes back as the chat's broadcast", async () => {
    await route.locator("textarea[data-message]").fill("hello from the docs");
    await route.locator('button[data-action="send"]').click();
    await route
      .locator("ol.log li.received", { hasText: "Client #7: hello from the docs" })
      .waitFor({ timeout: TIMEOUT });
  });
  await check("closing shows the close code", async () => {
    await route.locator('button[data-action="close"]').click();
    await route.locator("ol.log li", { hasText: "closed: 1000" }).waitFor({ timeout: TIMEOUT });
  });
  await check("the auth example without credentials shows a refused handshake", async () => {
    await page.goto(`${auth}/docs`);
    const refused = page.locator('section[data-channel="websocket_endpoint"]');
    await refused.locator('button[data-action="connect"]').click();
    await refused.locator(".status", { hasText: "handshake refused (1006)" }).waitFor({ timeout: TIMEOUT });
    await refused.locator("ol.log li", { hasText: "handshake refused (1006)" }).waitFor({ timeout: TIMEOUT });
  });
});
finish();
