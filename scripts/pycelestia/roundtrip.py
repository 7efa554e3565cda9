#!/usr/bin/env python3
"""Submits blobs to a Celestia node with pycelestia and reads them back, checking every byte.

pycelestia (PyPI `pycelestia`, pinned in requirements.txt) is an independent client: it speaks JSON-RPC
over WebSocket only, authenticates with `Authorization: Bearer TOKEN` on the upgrade request, and computes
share commitments in its Rust extension (celestia-types). Used by
Tests/DSDNCelestiaTests/PycelestiaRoundTripTests.swift against the Swift test server.

Usage: roundtrip.py URL TOKEN NAMESPACE_B64 N

    URL             ws://HOST:PORT (pycelestia keeps only the scheme, host and port)
    TOKEN           auth token with write permission ("" for none)
    NAMESPACE_B64   the 29-byte namespace, base64
    N               how many blobs (>= 1)

Blob contents and sizes (1 byte up to 100 KiB, share boundaries included) come from a fixed seed; blobs
are submitted in groups of one to three per `blob.Submit`. Every blob is then read back by height with
`blob.get_all` and by commitment with `blob.get`; the bytes, the namespace, and the server's commitment
against pycelestia's must match, and each height must hold exactly the blobs submitted there.

Output: on success, one JSON object on standard output:
    {"namespace": b64, "submits": k, "heights": [h…],
     "blobs": [{"height": h, "commitment": b64, "size": n, "submit": i}…]}   (in submission order)
Exit status 1 with a one-line message on standard error on any mismatch or failure (including a refused
connection, e.g. HTTP 401 for a wrong token); 64 for bad arguments.
"""

import asyncio
import base64
import json
import random
import sys

from celestia.node_api import Client
from celestia.types import Namespace
from celestia.types.blob import Blob

SEED = 0x5EED_B10B
MAX_BLOB = 100 * 1024
# Data bytes of the first share and of each continuation share (share version 0).
FIRST_SHARE = 478
CONTINUATION_SHARE = 482
RESPONSE_TIMEOUT = 60.0


class Mismatch(Exception):
    """A check failed; the message is the one line to print."""


def b64(value: bytes) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def sizes(rng: random.Random, count: int) -> list[int]:
    """Share boundaries first (1 byte, one full share, one byte into the second, two full shares, the
    100 KiB cap), then sizes whose base-2 logarithm is uniform up to the cap, so every scale is seen."""
    fixed = [1, FIRST_SHARE, FIRST_SHARE + 1, FIRST_SHARE + CONTINUATION_SHARE, MAX_BLOB]
    out = fixed[:count]
    while len(out) < count:
        scale = rng.randint(0, MAX_BLOB.bit_length() - 1)
        out.append(min(MAX_BLOB, rng.randint(1 << scale, (2 << scale) - 1)))
    return out


def groups(rng: random.Random, count: int) -> list[int]:
    """How many blobs each submit carries: the first two carry one, then three (one transaction of
    several blobs), then one to three at random."""
    out: list[int] = []
    left = count
    pattern = [1, 3]
    while left > 0:
        take = pattern.pop(0) if pattern else rng.randint(1, 3)
        take = min(take, left)
        out.append(take)
        left -= take
    return out


async def roundtrip(url: str, token: str, namespace_b64: str, count: int) -> dict:
    rng = random.Random(SEED)
    namespace = Namespace(namespace_b64)
    if len(namespace) != 29:
        raise Mismatch(f"namespace must be 29 bytes, pycelestia made {len(namespace)} of {namespace_b64}")
    payloads = [rng.randbytes(size) for size in sizes(rng, count)]
    plan = groups(rng, count)

    client = Client(url, auth_token=token or None)
    records = []  # per blob: index, submit number, data, pycelestia's commitment, height
    async with client.connect(response_timeout=RESPONSE_TIMEOUT) as api:
        index = 0
        for submit_number, take in enumerate(plan):
            blobs = [Blob(namespace, payloads[index + k]) for k in range(take)]
            result = await api.blob.submit(*blobs)
            if result is None or not isinstance(result.height, int) or result.height < 1:
                raise Mismatch(f"submit {submit_number}: the server returned no height ({result!r})")
            if len(result.commitments) != take:
                raise Mismatch(f"submit {submit_number}: {len(result.commitments)} commitments for {take} blobs")
            for k, blob in enumerate(blobs):
                if bytes(result.commitments[k]) != bytes(blob.commitment):
                    raise Mismatch(f"submit {submit_number}: commitment {k} changed during submit")
                records.append({
                    "index": index + k, "submit": submit_number, "data": payloads[index + k],
                    "commitment": bytes(blob.commitment), "height": result.height,
                })
            index += take

        heights = sorted({record["height"] for record in records})
        for height in heights:
            mine = [record for record in records if record["height"] == height]
            # The server's own JSON, so its commitment is compared rather than recomputed.
            raw = await api.blob.get_all(height, namespace, deserializer=lambda result: result)
            if not isinstance(raw, list):
                raise Mismatch(f"height {height}: blob.GetAll returned {raw!r}, expected {len(mine)} blobs")
            if len(raw) != len(mine):
                raise Mismatch(f"height {height}: blob.GetAll returned {len(raw)} blobs, pycelestia submitted {len(mine)}")
            by_commitment = {}
            for entry in raw:
                try:
                    served = base64.b64decode(entry["commitment"], validate=True)
                except (KeyError, TypeError, ValueError) as error:
                    raise Mismatch(f"height {height}: a blob without a valid commitment ({error})") from error
                by_commitment[served] = entry
            for record in mine:
                label = f"blob {record['index']} ({len(record['data'])} bytes) at height {height}"
                entry = by_commitment.get(record["commitment"])
                if entry is None:
                    raise Mismatch(f"{label}: blob.GetAll has no blob with pycelestia's commitment {b64(record['commitment'])} (it has {sorted(b64(c) for c in by_commitment)})")
                if base64.b64decode(entry.get("data", "")) != record["data"]:
                    raise Mismatch(f"{label}: blob.GetAll returned different bytes")
                if base64.b64decode(entry.get("namespace", "")) != bytes(namespace):
                    raise Mismatch(f"{label}: blob.GetAll returned namespace {entry.get('namespace')}")
                # pycelestia's own decoding recomputes the commitment and refuses a wrong one.
                try:
                    decoded = Blob(**entry)
                except ValueError as error:
                    raise Mismatch(f"{label}: pycelestia refuses the served blob: {error}") from error
                if bytes(decoded.commitment) != record["commitment"]:
                    raise Mismatch(f"{label}: decoded commitment differs")

                fetched = await api.blob.get(height, namespace, record["commitment"])
                if fetched is None:
                    raise Mismatch(f"{label}: blob.Get by commitment {b64(record['commitment'])} found nothing")
                if bytes(fetched.data) != record["data"]:
                    raise Mismatch(f"{label}: blob.Get returned different bytes")
                if bytes(fetched.namespace) != bytes(namespace):
                    raise Mismatch(f"{label}: blob.Get returned namespace {b64(fetched.namespace)}")
                if bytes(fetched.commitment) != record["commitment"]:
                    raise Mismatch(f"{label}: blob.Get returned commitment {b64(fetched.commitment)}")

    return {
        "namespace": b64(namespace),
        "submits": len(plan),
        "heights": heights,
        "blobs": [
            {"height": record["height"], "commitment": b64(record["commitment"]),
             "size": len(record["data"]), "submit": record["submit"]}
            for record in records
        ],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: roundtrip.py URL TOKEN NAMESPACE_B64 N", file=sys.stderr)
        return 64
    url, token, namespace_b64, count_text = argv[1:]
    try:
        count = int(count_text)
    except ValueError:
        count = 0
    if count < 1:
        print(f"error: N must be a positive integer, got {count_text!r}", file=sys.stderr)
        return 64
    try:
        summary = asyncio.run(roundtrip(url, token, namespace_b64, count))
    except Mismatch as error:
        print(f"mismatch: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # connection refused, HTTP 401 on the upgrade, RPC errors, timeouts
        message = " ".join(str(error).split()) or "no message"
        print(f"error: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
