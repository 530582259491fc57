// Signs and verifies with the providers' official npm libraries, for TestInterop in
// internal/provider: each library checks what hookvault signs, and hookvault checks what
// each library signs.
//
// stdin:  {"cases": [{"op": "<library>.<sign|verify…>", …arguments}]}
// stdout: {"results": [{"ok": bool, "value": string, "error": string}]}, one per case.
// Verifiers that read the clock run with Date fixed at the case's nowMs.
"use strict";

const RealDate = Date;

// withNow runs fn with Date.now() and new Date() fixed at ms, as jest's fake timers do.
async function withNow(ms, fn) {
  if (ms === undefined) return fn();
  class FakeDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(ms);
      else super(...args);
    }
    static now() {
      return ms;
    }
  }
  global.Date = FakeDate;
  try {
    return await fn();
  } finally {
    global.Date = RealDate;
  }
}

const ops = {
  "stripe.sign": (c) => {
    const stripe = require("stripe")("sk_test_unused");
    return stripe.webhooks.generateTestHeaderString({ payload: c.payload, secret: c.secret, timestamp: c.timestamp });
  },
  "stripe.verify": (c) => {
    const stripe = require("stripe")("sk_test_unused");
    stripe.webhooks.signature.verifyHeader(c.payload, c.header, c.secret, c.tolerance, undefined, c.nowMs);
    return "";
  },
  "standardwebhooks.sign": (c) => {
    const { Webhook } = require("standardwebhooks");
    return new Webhook(c.secret).sign(c.id, new RealDate(c.timestamp * 1000), c.payload);
  },
  "standardwebhooks.verify": (c) =>
    withNow(c.nowMs, () => {
      const { Webhook } = require("standardwebhooks");
      new Webhook(c.secret).verify(c.payload, c.headers);
      return "";
    }),
  "svix.sign": (c) => {
    const { Webhook } = require("svix");
    return new Webhook(c.secret).sign(c.id, new RealDate(c.timestamp * 1000), c.payload);
  },
  "svix.verify": (c) =>
    withNow(c.nowMs, () => {
      const { Webhook } = require("svix");
      new Webhook(c.secret).verify(c.payload, c.headers);
      return "";
    }),
  "twilio.sign": (c) => require("twilio").getExpectedTwilioSignature(c.secret, c.url, c.params),
  "twilio.verify": (c) => {
    if (!require("twilio").validateRequest(c.secret, c.signature, c.url, c.params)) throw new Error("validateRequest: false");
    return "";
  },
  "twilio.verifyBody": (c) => {
    if (!require("twilio").validateRequestWithBody(c.secret, c.signature, c.url, c.payload)) {
      throw new Error("validateRequestWithBody: false");
    }
    return "";
  },
  "slack.verify": (c) => {
    const { verifySlackRequest } = require("@slack/bolt");
    verifySlackRequest({
      signingSecret: c.secret,
      body: c.payload,
      headers: { "x-slack-signature": c.signature, "x-slack-request-timestamp": Number(c.timestamp) },
      nowMilliseconds: c.nowMs,
    });
    return "";
  },
  "octokit.sign": async (c) => (await import("@octokit/webhooks-methods")).sign(c.secret, c.payload),
  "octokit.verify": async (c) => {
    if (!(await (await import("@octokit/webhooks-methods")).verify(c.secret, c.payload, c.signature))) {
      throw new Error("verify: false");
    }
    return "";
  },
  "discord.verify": async (c) => {
    const { verifyKey } = require("discord-interactions");
    if (!(await verifyKey(c.payload, c.signature, c.timestamp, c.publicKey))) throw new Error("verifyKey: false");
    return "";
  },
  "paddle.verify": (c) =>
    withNow(c.nowMs, async () => {
      // As the SDK's own test does: the validator needs the runtime's crypto.
      const { WebhooksValidator, NodeRuntime } = require("@paddle/paddle-node-sdk");
      NodeRuntime.initialize();
      if (!(await new WebhooksValidator().isValidSignature(c.payload, c.secret, c.signature))) {
        throw new Error("isValidSignature: false");
      }
      return "";
    }),
};

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { cases } = JSON.parse(input);
  const results = [];
  for (const c of cases) {
    const op = ops[c.op];
    try {
      if (!op) throw new Error(`unknown op ${c.op}`);
      results.push({ ok: true, value: String(await op(c)), error: "" });
    } catch (err) {
      results.push({ ok: false, value: "", error: String((err && err.message) || err) });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err));
  process.exit(1);
});
