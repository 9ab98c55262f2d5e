// fal's official JS client (@fal-ai/client, pinned in package.json) against fal-mock.
//
// Run `fal-mock`, export the variables it prints, `npm ci` here, then
// `node conformance.mjs [EXPECTED_COUNT]`. Any exception fails the run (exit status 1).
//
// Pointing @fal-ai/client 1.10.1 at another host: its URLs are fixed (https://queue.fal.run,
// https://fal.run, https://rest.fal.ai), but every API call goes through `requestMiddleware`,
// which may rewrite the URL; uploads then go to the upload URLs the mock's storage hands out.
// (`proxyUrl` would also work, with a proxy that reads the `x-fal-target-url` header.)
//
// With FAL_PROXY_URL and FAL_PROXY_CALLER_SECRET set (conformance/run.sh starts
// examples/proxy_server.rs, fal_models::proxy::FalProxy with an endpoint allow-list and a
// caller check), everything runs a second time through that proxy: a client without the key
// whose requests go to the proxy with `x-fal-target-url` (what fal-js's `proxyUrl` middleware
// does) and the caller's bearer secret; a caller without it must get 401.

import { createHash, randomBytes } from "node:crypto";
import { createFalClient, ValidationError } from "@fal-ai/client";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: export what fal-mock prints`);
  return value;
};
const QUEUE = env("FAL_QUEUE_URL");
const HOSTS = [
  ["https://queue.fal.run", QUEUE],
  ["https://fal.run", env("FAL_RUN_URL")],
  ["https://rest.fal.ai", env("FAL_REST_URL")],
];
const toMock = (url) => {
  for (const [fal, mock] of HOSTS) if (url.startsWith(fal + "/")) return mock + url.slice(fal.length);
  return url;
};

const fal = createFalClient({
  credentials: env("FAL_KEY"),
  requestMiddleware: async (request) => ({ ...request, url: toMock(request.url) }),
});
const POLL_MS = 10; // the mock advances one step per status poll

const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489" +
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082",
  "hex",
);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

function* urlsIn(value) {
  if (typeof value === "string" && /^https?:\/\//.test(value)) yield value;
  else if (Array.isArray(value)) for (const v of value) yield* urlsIn(v);
  else if (value && typeof value === "object") for (const v of Object.values(value)) yield* urlsIn(v);
}

// The input with every URL replaced by `url` (an uploaded file).
function withUrl(value, url) {
  if (typeof value === "string" && /^https?:\/\//.test(value)) return url;
  if (Array.isArray(value)) return value.map((v) => withUrl(v, url));
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withUrl(v, url)]));
  return value;
}

async function downloadAll(output, label) {
  const urls = [...urlsIn(output)];
  check(urls.length > 0, `${label}: the output has no file URL`);
  for (const url of urls) {
    check(url.startsWith(QUEUE), `${label}: ${url} is not served by the mock`);
    const response = await fetch(url);
    check(response.ok, `${label}: GET ${url}: ${response.status}`);
    check((await response.arrayBuffer()).byteLength > 0, `${label}: ${url} is empty`);
    check(response.headers.get("content-type"), `${label}: ${url} has no content type`);
  }
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

// A small upload and a multipart one (over the client's 90 MB threshold); returns the small URL.
async function uploads(fal, { multipart = true } = {}) {
  const url = await fal.storage.upload(new Blob([PNG], { type: "image/png" }));
  const back = Buffer.from(await (await fetch(url)).arrayBuffer());
  check(back.equals(PNG), "the uploaded PNG does not come back");
  if (!multipart) return url;
  const big = Buffer.concat(Array.from({ length: 91 }, () => randomBytes(1 << 20)));
  const started = performance.now();
  const bigUrl = await fal.storage.upload(new Blob([big], { type: "application/octet-stream" }));
  const bigBack = Buffer.from(await (await fetch(bigUrl)).arrayBuffer());
  check(sha256(bigBack) === sha256(big), "the multipart upload comes back different");
  console.log(`  multipart upload of ${big.length >> 20} MiB: ${((performance.now() - started) / 1000).toFixed(2)}s`);
  return url;
}

async function endpointSequence(fal, endpointId, input) {
  const updates = [];
  const out = await fal.subscribe(endpointId, {
    input,
    logs: true,
    pollInterval: POLL_MS,
    onQueueUpdate: (update) => updates.push(update),
  });
  check(out.requestId, "subscribe: no request id (x-fal-request-id)");
  const statuses = new Set(updates.map((u) => u.status));
  check(statuses.has("IN_QUEUE") && statuses.has("IN_PROGRESS"), `subscribe saw ${[...statuses]}`);
  check(updates.some((u) => u.logs?.length && u.logs[0].source === "USER"), "no USER logs");
  check(updates.every((u) => u.response_url), "a status without response_url");
  await downloadAll(out.data, endpointId);

  const streamed = await fal.subscribe(endpointId, { input, logs: true, mode: "streaming" });
  check(JSON.stringify(streamed.data) === JSON.stringify(out.data), "streaming subscribe differs");

  const run = await fal.run(endpointId, { input });
  check(JSON.stringify(run.data) === JSON.stringify(out.data), "run and subscribe differ");
  check(run.requestId, "run: no request id");

  const { request_id: requestId } = await fal.queue.submit(endpointId, { input });
  const first = await fal.queue.status(endpointId, { requestId, logs: false });
  check(first.status === "IN_QUEUE" && first.queue_position === 0, `first status ${first.status}`);
  let status;
  let sawLogs = false;
  do {
    status = await fal.queue.status(endpointId, { requestId, logs: true });
    sawLogs ||= Array.isArray(status.logs) && status.logs.length > 0;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  } while (status.status !== "COMPLETED");
  check(sawLogs, "status with logs returned none");
  const done = await fal.queue.status(endpointId, { requestId, logs: false });
  check(done.status === "COMPLETED" && done.logs === null && done.metrics, "completed status");
  const result = await fal.queue.result(endpointId, { requestId });
  check(result.requestId === requestId, "result: x-fal-request-id differs");
  check(JSON.stringify(result.data) === JSON.stringify(out.data), "result differs");

  const { request_id: toCancel } = await fal.queue.submit(endpointId, { input });
  await fal.queue.cancel(endpointId, { requestId: toCancel });

  if ("prompt" in input) {
    let error;
    try {
      await fal.queue.submit(endpointId, { input: { ...input, prompt: 12345 } });
    } catch (e) {
      error = e;
    }
    check(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
    check(error.status === 422 && error.getFieldErrors("prompt").length > 0, "422 details");
  }
}

const expected = process.argv[2] ? Number(process.argv[2]) : undefined;
const endpoints = await (await fetch(`${QUEUE}/.well-known/fal-mock/endpoints`)).json();
if (expected !== undefined) {
  check(endpoints.length === expected, `${endpoints.length} endpoints, expected ${expected}`);
}
console.log(`@fal-ai/client against ${QUEUE}`);
const imageUrl = await uploads(fal);
for (const { endpoint_id: id, example_input: input } of endpoints) {
  const started = performance.now();
  await endpointSequence(fal, id, withUrl(input, imageUrl));
  console.log(`  ok ${id} (${((performance.now() - started) / 1000).toFixed(2)}s)`);
}
console.log(`js: ${endpoints.length} endpoints passed`);

if (process.env.FAL_PROXY_URL) {
  const PROXY = env("FAL_PROXY_URL");
  const SECRET = env("FAL_PROXY_CALLER_SECRET");
  const throughProxy = (secret) =>
    createFalClient({
      requestMiddleware: async (request) => ({
        ...request,
        url: PROXY,
        headers: {
          ...(request.headers ?? {}),
          "x-fal-target-url": toMock(request.url),
          // fal-js adds `Authorization: Key` when it finds FAL_KEY; a browser has none, and
          // this header (same spelling, spread after it) replaces it.
          Authorization: secret ? `Bearer ${secret}` : "",
        },
      }),
    });
  console.log(`@fal-ai/client through FalProxy at ${PROXY}`);
  let refused;
  try {
    await throughProxy(undefined).run(endpoints[0].endpoint_id, { input: endpoints[0].example_input });
  } catch (e) {
    refused = e;
  }
  check(refused?.status === 401, `a caller without the secret: expected 401, got ${refused}`);
  const proxied = throughProxy(SECRET);
  const proxiedImage = await uploads(proxied, { multipart: false });
  for (const { endpoint_id: id, example_input: input } of endpoints) {
    const started = performance.now();
    await endpointSequence(proxied, id, withUrl(input, proxiedImage));
    console.log(`  ok ${id} through the proxy (${((performance.now() - started) / 1000).toFixed(2)}s)`);
  }
  console.log(`js through FalProxy: ${endpoints.length} endpoints passed`);
}
