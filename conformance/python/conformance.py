"""fal's official Python client (fal-client, pinned in requirements.txt) against fal-mock.

Run `fal-mock`, export the variables it prints, then `python conformance.py [EXPECTED_COUNT]`.
Any exception fails the run (exit status 1).

Pointing fal-client 1.0.3 at another host: `FAL_RUN_HOST` / `FAL_QUEUE_RUN_HOST` change only
the host name (the scheme stays https) and the REST and CDN hosts are module constants, so the
script sets the module's URL constants before the first client is built. Status, result and
cancel follow the URLs the submit answer carries, which the mock points at itself.
"""

import hashlib
import os
import sys
import time

import httpx
import fal_client
from fal_client import client as fal_module

QUEUE, RUN = os.environ["FAL_QUEUE_URL"], os.environ["FAL_RUN_URL"]
fal_module.QUEUE_URL_FORMAT = QUEUE + "/"
fal_module.RUN_URL_FORMAT = RUN + "/"
fal_module.REST_URL = os.environ["FAL_REST_URL"]
fal_module.CDN_URL = os.environ["FAL_CDN_URL"]

client = fal_client.SyncClient(key=os.environ["FAL_KEY"])
POLL = 0.01  # seconds between status polls (the mock advances one step per poll)

# A 1x1 PNG to upload and use as every input URL.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def urls_in(value):
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from urls_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from urls_in(item)


def with_url(value, url):
    """The input with every URL replaced by `url` (an uploaded file)."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return url
    if isinstance(value, dict):
        return {k: with_url(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [with_url(v, url) for v in value]
    return value


def download_all(output, label):
    urls = list(urls_in(output))
    check(urls, f"{label}: the output has no file URL")
    for url in urls:
        check(url.startswith(QUEUE), f"{label}: {url} is not served by the mock")
        response = httpx.get(url)
        response.raise_for_status()
        check(response.content, f"{label}: {url} is empty")
        check(response.headers.get("content-type"), f"{label}: {url} has no content type")


def uploads():
    """Small uploads through both routes, and one multipart upload; returns a small URL."""
    url = client.upload(PNG, "image/png", file_name="cat.png")  # CDN v3: token + /files/upload
    check(httpx.get(url).content == PNG, "the uploaded PNG does not come back")
    legacy = client.upload(PNG, "image/png", repository="fal")  # /storage/upload/initiate
    check(httpx.get(legacy).content == PNG, "the PNG uploaded through storage does not come back")
    big = os.urandom(1 << 20) * (fal_module.MULTIPART_THRESHOLD // (1 << 20) + 1)
    started = time.monotonic()
    big_url = client.upload(big, "application/octet-stream", file_name="big.bin")
    back = httpx.get(big_url).content
    check(hashlib.sha256(back).digest() == hashlib.sha256(big).digest(), "multipart upload differs")
    print(f"  multipart upload of {len(big) >> 20} MiB: {time.monotonic() - started:.2f}s")
    return url


def endpoint_sequence(endpoint_id, example_input):
    updates = []
    out = client.subscribe(
        endpoint_id, example_input, with_logs=True, on_queue_update=updates.append, interval=POLL
    )
    kinds = {type(u).__name__ for u in updates}
    check({"Queued", "InProgress"} <= kinds, f"subscribe saw {kinds}")
    check(any(isinstance(u, fal_client.InProgress) and u.logs for u in updates), "no logs")
    download_all(out, endpoint_id)

    check(client.run(endpoint_id, example_input) == out, "run and subscribe answer differently")

    handle = client.submit(endpoint_id, example_input)
    check(isinstance(handle.status(with_logs=False), fal_client.Queued), "first status not queued")
    seen_logs = False
    while True:
        status = handle.status(with_logs=True)
        seen_logs |= bool(getattr(status, "logs", None))
        if isinstance(status, fal_client.Completed):
            break
        time.sleep(POLL)
    check(seen_logs, "status(with_logs=True) returned no logs")
    done = handle.status(with_logs=False)
    check(isinstance(done, fal_client.Completed) and done.logs is None, f"{done}")
    check(handle.get() == out, "result differs from subscribe")

    to_cancel = client.submit(endpoint_id, example_input)
    to_cancel.cancel()

    try:
        client.submit(endpoint_id, {**example_input, "prompt": 12345, "no_such_field": True})
        bad = None
    except fal_client.FalClientHTTPError as e:
        bad = e
    if "prompt" in example_input:
        check(bad is not None and bad.status_code == 422, f"no 422: {bad}")
        check(any(d["loc"] == ["body", "prompt"] for d in bad.message), f"422 detail: {bad}")


def main():
    expected = int(sys.argv[1]) if len(sys.argv) > 1 else None
    endpoints = httpx.get(QUEUE + "/.well-known/fal-mock/endpoints").json()
    if expected is not None:
        check(len(endpoints) == expected, f"{len(endpoints)} endpoints, expected {expected}")
    print(f"fal-client {fal_client.__version__} against {QUEUE}")
    image_url = uploads()
    for endpoint in endpoints:
        started = time.monotonic()
        endpoint_sequence(endpoint["endpoint_id"], with_url(endpoint["example_input"], image_url))
        print(f"  ok {endpoint['endpoint_id']} ({time.monotonic() - started:.2f}s)")
    print(f"python: {len(endpoints)} endpoints passed")


if __name__ == "__main__":
    main()
