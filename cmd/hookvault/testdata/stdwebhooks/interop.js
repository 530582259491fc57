// Signs and verifies with the reference `standardwebhooks` package, an implementation
// independent of ours, for TestInteropWithStandardwebhooksNpm in internal/signature.
//
// stdin:  {"cases": [{"secret", "raw", "id", "timestamp", "body", "goSignature"}]}
//         raw: the secret is raw bytes (our rule for a secret without `whsec_`); the
//         package would otherwise base64-decode it.
// stdout: {"results": [{"signature", "goVerified", "goError"}]}
"use strict";

const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  input += chunk;
});
process.stdin.on("end", () => {
  const { cases } = JSON.parse(input);
  const results = cases.map((c) => {
    const wh = c.raw ? new Webhook(Buffer.from(c.secret, "utf8"), { format: "raw" }) : new Webhook(c.secret);
    const signature = wh.sign(c.id, new Date(c.timestamp * 1000), c.body);
    let goVerified = false;
    let goError = "";
    try {
      // verify checks the timestamp against Date.now() with the package's own 5-minute tolerance.
      wh.verify(
        c.body,
        { "webhook-id": c.id, "webhook-timestamp": String(c.timestamp), "webhook-signature": c.goSignature },
        { jsonParse: false },
      );
      goVerified = true;
    } catch (err) {
      goError = String(err && err.message);
    }
    return { signature, goVerified, goError };
  });
  process.stdout.write(JSON.stringify({ results }));
});
