// The OpenFeature web SDK with its OFREP provider (bulk evaluation, ETags), in Node 20,
// against a running Posterior. tests/ofrep/run starts the server and creates the experiments,
// then runs this with POSTERIOR_URL and POSTERIOR_CLIENT_KEY set.
//
// The web provider runs in Node as it is: it uses the global fetch, and guards its use of
// `document` and `localStorage` (cacheMode "disabled" leaves storage alone).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { OpenFeature } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";

const BASE = process.env.POSTERIOR_URL;
const KEY = process.env.POSTERIOR_CLIENT_KEY;

function provider(key) {
  return new OFREPWebProvider({
    baseUrl: BASE,
    headers: [["Authorization", `Bearer ${key}`]],
    pollInterval: 0,
    cacheMode: "disabled",
    disableVisibilityRefresh: true,
    changeDetection: "none",
  });
}

async function assigned(user, experiment, attributes = {}) {
  const response = await fetch(`${BASE}/api/v1/assign`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ user_id: user, attributes, experiments: [experiment] }),
  });
  assert.equal(response.status, 200);
  const { assignments } = await response.json();
  return assignments[0];
}

after(async () => {
  await OpenFeature.close();
});

test("bulk evaluation gives the sticky variants of /api/v1/assign", async () => {
  await OpenFeature.setProviderAndWait(provider(KEY), { targetingKey: "js-0", platform: "ios" });
  const client = OpenFeature.getClient();
  for (let i = 0; i < 10; i++) {
    const user = `js-${i}`;
    await OpenFeature.setContext({ targetingKey: user, platform: "ios" });
    const push = client.getObjectDetails("push-time", {});
    assert.equal(push.errorCode, undefined, push.errorMessage);
    assert.equal(push.reason, "SPLIT");
    const a = await assigned(user, "push-time", { platform: "ios" });
    assert.equal(push.variant, a.variant);
    assert.deepEqual(push.value, a.payload);
    assert.equal(push.flagMetadata.experiment, "push-time");

    const text = client.getStringDetails("banner-text", "default");
    assert.equal(text.value, (await assigned(user, "banner-text")).payload);
    const discount = client.getNumberDetails("discount", 0);
    assert.equal(discount.value, (await assigned(user, "discount")).payload);
    const plain = client.getStringDetails("plain", "default");
    assert.equal(plain.value, plain.variant);
  }
});

test("reasons and errors reach the app", async () => {
  const client = OpenFeature.getClient();
  await OpenFeature.setContext({ targetingKey: "js-web", platform: "web" });
  const outside = client.getObjectDetails("push-time", {});
  assert.equal(outside.reason, "DISABLED");
  assert.deepEqual(outside.value, { send_at_hour: 8 });
  const winner = client.getStringDetails("old-winner", "default");
  assert.equal(winner.reason, "TARGETING_MATCH");
  assert.equal(winner.value, "Winner text");
  const missing = client.getStringDetails("no-such-flag", "fallback");
  assert.equal(missing.errorCode, "FLAG_NOT_FOUND");
  assert.equal(missing.value, "fallback");

  // No targeting key: the experiments that need a user answer TARGETING_KEY_MISSING.
  await OpenFeature.setContext({});
  const anonymous = client.getObjectDetails("push-time", { d: 1 });
  assert.equal(anonymous.errorCode, "TARGETING_KEY_MISSING");
  assert.deepEqual(anonymous.value, { d: 1 });
  assert.equal(client.getStringDetails("old-winner", "default").value, "Winner text");
});

test("a wrong key is a fatal provider error, and the app gets its defaults", async () => {
  await OpenFeature.setProviderAndWait("denied", provider("wrong-key")).catch(() => {});
  const client = OpenFeature.getClient("denied");
  const denied = client.getStringDetails("banner-text", "fallback");
  assert.equal(denied.value, "fallback");
  assert.ok(denied.errorCode, "an error code");
});
