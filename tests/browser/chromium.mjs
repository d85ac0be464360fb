// Debian's Chromium (CHROMIUM overrides the binary, default /usr/bin/chromium), headless,
// in a fresh profile: what the browser tests share.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Run `body(context)` in a fresh browser context; the browser and its profile are gone
// afterwards, whatever happens.
export async function withChromium(body) {
  const profile = mkdtempSync(join(tmpdir(), "wsframe-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    await body(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
