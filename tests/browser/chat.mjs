// Two real browser pages on the chat example: they negotiate permessage-deflate, one
// sends, the other shows `Client #1: hello`; closing the first shows `Client #1 left`
// on the other.
//
// usage: node chat.mjs http://127.0.0.1:PORT
// CHROMIUM overrides the browser binary (default /usr/bin/chromium).
import { check, finish } from "./check.mjs";
import { withChromium } from "./chromium.mjs";

const base = process.argv[2];
if (!base) {
  console.error("usage: node chat.mjs http://HOST:PORT");
  process.exit(2);
}
const TIMEOUT = 15000;

await withChromium(async (context) => {
  const first = await context.newPage();
  const second = await context.newPage();
  await check("both pages load and connect", async () => {
    await first.goto(`${base}/?client_id=1`);
    await second.goto(`${base}/?client_id=2`);
    await first.locator('body[data-connected="true"]').waitFor({ timeout: TIMEOUT });
    await second.locator('body[data-connected="true"]').waitFor({ timeout: TIMEOUT });
  });
  await check("the browser negotiated permessage-deflate", async () => {
    const extensions = await first.evaluate(() => document.body.dataset.extensions);
    if (!extensions.startsWith("permessage-deflate")) {
      throw new Error(`extensions as the page sees them: ${JSON.stringify(extensions)}`);
    }
  });
  await check("a long message (compressed both ways) from page 2 shows on page 1", async () => {
    const long = "compressible chat text ".repeat(20).trim();
    await second.fill("#messageText", long);
    await second.click("button[type=submit]");
    await first
      .locator("#messages li", { hasText: `Client #2: ${long}` })
      .waitFor({ timeout: TIMEOUT });
  });
  await check("a message from page 1 shows on page 2", async () => {
    await first.fill("#messageText", "hello");
    await first.click("button[type=submit]");
    await second
      .locator("#messages li", { hasText: "Client #1: hello" })
      .waitFor({ timeout: TIMEOUT });
  });
  await check("closing page 1 shows `Client #1 left` on page 2", async () => {
    await first.close();
    await second
      .locator("#messages li", { hasText: "Client #1 left" })
      .waitFor({ timeout: TIMEOUT });
  });
});
finish();
