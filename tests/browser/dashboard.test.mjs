// The marketer's whole job in a real browser (Debian's chromium, headless): sign in, create an
// experiment (after fixing a payload the form refused), start it, watch it fill with data,
// declare a winner. Screenshots go to $SCREENSHOT_DIR for people to look at.
//
// Run by tests/browser/run.sh, which starts a server over a fresh database and sets
// BASE_URL, ADMIN_KEY, CLIENT_KEY and SCREENSHOT_DIR.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const BASE_URL = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const ADMIN_KEY = process.env.ADMIN_KEY ?? "admin-secret-for-local-dev-only";
const CLIENT_KEY = process.env.CLIENT_KEY ?? "client-secret-for-local-dev-only";
const SHOTS = process.env.SCREENSHOT_DIR ?? "target/screenshots";
mkdirSync(SHOTS, { recursive: true });

async function api(method, path, body, key = ADMIN_KEY) {
  const response = await fetch(BASE_URL + path, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Users who get a variant and, at each variant's own rate, open the push. */
async function simulateTraffic(experiment, users, rates) {
  const events = [];
  for (let i = 0; i < users; i++) {
    const user = `browser-user-${i}`;
    const { assignments } = await api("POST", "/api/v1/assign",
      { user_id: user, attributes: { platform: i % 3 ? "ios" : "android" }, experiments: [experiment] }, CLIENT_KEY);
    for (const a of assignments) {
      // Deterministic "randomness", so the test is the same every run.
      if (((i * 7919) % 1000) / 1000 < rates[a.variant]) {
        events.push({ event_id: `browser-${i}`, user_id: user, name: "open" });
      }
    }
  }
  for (let i = 0; i < events.length; i += 500) {
    await api("POST", "/api/v1/track", { events: events.slice(i, i + 500) }, CLIENT_KEY);
  }
}

function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

test("a marketer signs in, creates, starts, watches and decides an experiment", async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const scriptErrors = [];
    page.on("pageerror", (e) => scriptErrors.push(e.message));

    // Unsigned: every page leads to sign-in.
    await page.goto(`${BASE_URL}/dashboard/experiments`);
    assert.match(page.url(), /\/dashboard\/sign-in\?next=/);
    await page.screenshot({ path: `${SHOTS}/01-sign-in.png` });
    await page.getByLabel("Admin key").fill("not-the-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That is not an admin key").waitFor();
    await page.getByLabel("Admin key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/dashboard\/experiments$/);
    const cookie = (await context.cookies()).find((c) => c.name === "posterior_session");
    assert.ok(cookie, "session cookie set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");

    // Create, with a payload that is not JSON first.
    await page.getByRole("link", { name: "New experiment" }).first().click();
    await page.locator("#key").fill("push-time");
    await page.locator("#name").fill("Push send time");
    await page.getByLabel(/^Timing/).check();
    await page.getByLabel("Goal event").fill("open");
    await page.getByLabel(/^Bandit/).check();
    await page.locator("#variant-0-key").fill("morning");
    await page.locator("#variant-0-name").fill("Morning (8:00)");
    await page.locator("#variant-0-payload").fill('{"send_at_hour": 8}');
    await page.locator("#variant-1-key").fill("evening");
    await page.locator("#variant-1-name").fill("Evening (19:00)");
    await page.locator("#variant-1-payload").fill("{send_at_hour: 19}");
    // The script checks JSON while typing...
    await page.locator("#variant-1-payload-error").waitFor();
    // The script adds a row in place; the server would too, without it.
    await page.getByRole("button", { name: "Add a variant" }).click();
    await page.locator("#variant-2-key").fill("noon");
    await page.locator("#variant-2-payload").fill('{"send_at_hour": 12}');
    await page.locator("#rule-0-attribute").fill("platform");
    await page.locator("#rule-0-op").selectOption("in");
    await page.locator("#rule-0-value").fill("ios, android");
    await page.locator("#min_users_per_arm").fill("50");
    // ...and the server refuses it too, with the error next to the field.
    await page.getByRole("button", { name: "Create experiment" }).click();
    await page.locator(".error-summary").waitFor();
    const payloadError = page.locator("#variant-1-payload-error");
    await payloadError.waitFor();
    assert.match(await payloadError.textContent(), /not valid JSON/);
    await page.screenshot({ path: `${SHOTS}/02-form-error.png`, fullPage: true });
    await page.locator("#variant-1-payload").fill('{"send_at_hour": 19}');
    await page.getByRole("button", { name: "Create experiment" }).click();
    await page.waitForURL(/\/dashboard\/experiments\/push-time\?done=created$/);
    await page.getByText("Experiment created").waitFor();

    // Start it.
    await page.getByRole("button", { name: "Start" }).click();
    await page.waitForURL(/done=started/);
    await page.locator(".badge.status-running").first().waitFor();

    // Users arrive; the page shows what the results API says.
    await simulateTraffic("push-time", 400, { morning: 0.06, noon: 0.09, evening: 0.2 });
    const results = await api("GET", "/api/v1/experiments/push-time/results");
    await page.goto(`${BASE_URL}/dashboard/experiments/push-time`);
    for (const v of results.variants) {
      const users = await page.locator(`#variant-${v.key} [data-field=users]`).textContent();
      assert.equal(users.trim(), v.users.toLocaleString("en-US"), `users of ${v.key}`);
    }
    assert.equal(await page.locator("svg[role=img]").count() >= 3, true, "three charts drawn");
    await page.screenshot({ path: `${SHOTS}/03-experiment.png`, fullPage: true });

    // At 1280 pixels the results table shows every column, the p-value last, inside its box.
    const fit = await page.locator("table.results").evaluate((table) => {
      const box = table.closest(".table-scroll");
      const cells = table.querySelectorAll("thead th");
      const pValue = [...cells].find((th) => th.textContent.trim() === "p-value");
      return {
        table: table.getBoundingClientRect().right,
        pValue: pValue.getBoundingClientRect().right,
        box: box.getBoundingClientRect().right,
        scrollWidth: box.scrollWidth,
        clientWidth: box.clientWidth,
      };
    });
    assert.ok(fit.table <= fit.box + 0.5, `the table ends at ${fit.table} px, its box at ${fit.box} px`);
    assert.ok(fit.pValue <= fit.box + 0.5, `the p-value column ends at ${fit.pValue} px, the box at ${fit.box} px`);
    assert.ok(fit.scrollWidth <= fit.clientWidth, `nothing hidden to scroll to: ${JSON.stringify(fit)}`);
    await page.locator("table.results").screenshot({ path: `${SHOTS}/03-results-table-1280.png` });

    // On a phone, the page reads in one column and the tables scroll sideways.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await phone.addCookies([cookie]);
    const phonePage = await phone.newPage();
    await phonePage.goto(`${BASE_URL}/dashboard/experiments/push-time`);
    await phonePage.screenshot({ path: `${SHOTS}/04-experiment-phone.png`, fullPage: true });
    await phone.close();

    // The list shows it with its users.
    await page.getByRole("link", { name: "Experiments" }).first().click();
    await page.locator("#experiment-push-time").waitFor();
    await page.screenshot({ path: `${SHOTS}/05-list.png`, fullPage: true });

    // Declare the leader the winner: a confirmation page, then the box must be ticked.
    await page.goto(`${BASE_URL}/dashboard/experiments/push-time`);
    await page.locator("#variant-evening").getByRole("link", { name: /Declare winner/ }).click();
    await page.waitForURL(/\/stop\?winner=evening$/);
    assert.equal(await page.locator("#winner-evening").isChecked(), true);
    await page.screenshot({ path: `${SHOTS}/06-confirm-stop.png`, fullPage: true });
    await page.getByLabel(/I understand/).check();
    await page.getByRole("button", { name: "Stop the experiment" }).click();
    await page.waitForURL(/done=stopped$/);
    assert.match(await page.locator("#verdict").textContent(), /Winner: Evening \(19:00\)/);
    await page.screenshot({ path: `${SHOTS}/07-stopped.png`, fullPage: true });

    // Sign out: back to sign-in, and the pages are closed again.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("You are signed out.").waitFor();
    await page.goto(`${BASE_URL}/dashboard/experiments`);
    assert.match(page.url(), /\/dashboard\/sign-in/);

    assert.deepEqual(scriptErrors, [], "no script errors");
  } finally {
    await browser.close();
  }
});

test("a marketer defines metrics and picks them for an experiment", async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const scriptErrors = [];
    page.on("pageerror", (e) => scriptErrors.push(e.message));
    await page.goto(`${BASE_URL}/dashboard/sign-in`);
    await page.getByLabel("Admin key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/dashboard\/experiments$/);

    // The Metrics page, beside Segments; its form shows only the chosen type's fields.
    await page.getByRole("link", { name: "Metrics", exact: true }).click();
    await page.waitForURL(/\/dashboard\/metrics$/);
    await page.getByRole("link", { name: "New metric" }).click();
    await page.locator("#key").fill("purchase-rate");
    await page.locator("#name").fill("Purchase rate");
    assert.equal(await page.locator("#numerator").isVisible(), false, "a conversion has no numerator");
    await page.locator("#event").fill("purchase");
    await page.locator("#window").fill("7 days");
    await page.getByRole("button", { name: "Create metric" }).click();
    // Refused beside the window, with what was typed kept.
    const windowError = page.locator("#window-error");
    await windowError.waitFor();
    assert.match(await windowError.textContent(), /not a duration/);
    await page.locator("#window").fill("7d");
    await page.getByRole("button", { name: "Create metric" }).click();
    await page.waitForURL(/done=created$/);

    const create = async (fill) => {
      await page.goto(`${BASE_URL}/dashboard/metrics/new`);
      await fill();
      await page.getByRole("button", { name: "Create metric" }).click();
      await page.waitForURL(/done=created$/);
    };
    await create(async () => {
      await page.locator("#key").fill("revenue");
      await page.locator("#name").fill("Revenue per user");
      await page.locator("#type").selectOption("mean");
      assert.equal(await page.locator("#cap").isVisible(), true, "a mean has a cap");
      await page.locator("#event").fill("purchase");
      await page.locator("#cap_kind").selectOption("percentile");
      await page.locator("#cap").fill("99");
    });
    await create(async () => {
      await page.locator("#key").fill("orders");
      await page.locator("#name").fill("Orders per user");
      await page.locator("#type").selectOption("mean");
      await page.locator("#event").fill("purchase");
      await page.locator("#of").selectOption("count");
    });
    await create(async () => {
      await page.locator("#key").fill("aov");
      await page.locator("#name").fill("Average order value");
      await page.locator("#type").selectOption("ratio");
      assert.equal(await page.locator("#event").isVisible(), false, "a ratio counts through its parts");
      assert.equal(await page.locator("#from").isVisible(), false);
      await page.locator("#numerator").selectOption("revenue");
      await page.locator("#denominator").selectOption("orders");
      await page.screenshot({ path: `${SHOTS}/09-metric-form.png`, fullPage: true });
    });
    await create(async () => {
      await page.locator("#key").fill("uninstalls");
      await page.locator("#name").fill("Uninstall rate");
      await page.locator("#event").fill("uninstall");
      await page.locator("#direction").selectOption("decrease");
    });
    assert.equal((await api("GET", "/api/v1/metrics/aov")).numerator, "revenue");
    await page.locator("#metric-aov").waitFor();
    await page.screenshot({ path: `${SHOTS}/08-metrics.png`, fullPage: true });

    // A new experiment picks its goal, secondary metrics and guardrails from the library.
    await page.goto(`${BASE_URL}/dashboard/new`);
    await page.locator("#key").fill("banner-metrics");
    await page.locator("#name").fill("Banner with metrics");
    assert.equal(await page.locator("#goal_key").isVisible(), false, "the inline goal is the default");
    await page.locator("#goal_source-library").check();
    assert.equal(await page.locator("#goal_event").isVisible(), false);
    await page.locator("#goal_key").selectOption("purchase-rate");
    await page.locator("#secondary-revenue").check();
    await page.locator("#secondary-aov").check();
    await page.locator("#guard-0-metric").selectOption("uninstalls");
    await page.locator("#guard-0-threshold").fill("2");
    // The script adds a guardrail row in place.
    await page.getByRole("button", { name: "Add a guardrail" }).click();
    await page.locator("#guard-1-metric").selectOption("orders");
    await page.locator("#guard-1-threshold").fill("5");
    await page.locator("#variant-0-key").fill("a");
    await page.locator("#variant-0-payload").fill('"Hello"');
    await page.locator("#variant-1-key").fill("b");
    await page.locator("#variant-1-payload").fill('"Hi"');
    await page.screenshot({ path: `${SHOTS}/10-experiment-form.png`, fullPage: true });
    // The part of the form that picks the metrics, from the goal to the guardrails.
    const part = await page.evaluate(() => {
      const top = document.getElementById("goal").getBoundingClientRect().top + window.scrollY;
      const bottom = document.getElementById("guardrails").getBoundingClientRect().bottom + window.scrollY;
      return { x: 0, y: top - 8, width: 1280, height: bottom - top + 16 };
    });
    await page.screenshot({ path: `${SHOTS}/10-experiment-form-metrics.png`, fullPage: true, clip: part });
    await page.getByRole("button", { name: "Create experiment" }).click();
    await page.waitForURL(/\/dashboard\/experiments\/banner-metrics\?done=created$/);
    const stored = await api("GET", "/api/v1/experiments/banner-metrics");
    assert.deepEqual(stored.metrics, {
      goal: "purchase-rate",
      secondary: ["aov", "revenue"],
      // A guardrail's action defaults to an alert.
      guardrails: [
        { metric: "uninstalls", threshold: 0.02, action: "alert" },
        { metric: "orders", threshold: 0.05, action: "alert" },
      ],
    });
    await page.locator("#guardrail-metrics").waitFor();
    await page.locator('section[aria-labelledby="definition-heading"]').screenshot({ path: `${SHOTS}/11-experiment-definition.png` });

    assert.deepEqual(scriptErrors, [], "no script errors");
  } finally {
    await browser.close();
  }
});
