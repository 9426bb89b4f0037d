// Headless Chromium (Debian's package) driven by playwright-core, for the web UI's tests. It reaches
// nothing but loopback: every host name but 127.0.0.1 fails to resolve inside the browser, and Chromium's
// background services (updates, sync, safe browsing) are off.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.HOOKWIRE_CHROMIUM ?? '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', // tests run as root in CI containers, where Chromium's sandbox cannot start
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-domain-reliability', '--no-pings', '--disable-features=OptimizationHints,MediaRouter,Translate',
    ],
  });
}

// A page that records what must never happen: an uncaught error, a console error, a CSP violation, a dialog.
export async function newPage(browser, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('dialog', async (d) => {
    if (page.acceptDialogs) await d.accept();
    else { problems.push(`dialog: ${d.message()}`); await d.dismiss(); }
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window.__cspViolations ??= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { context, page, problems };
}
