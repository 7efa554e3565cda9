#!/usr/bin/env python3
"""Prints pycelestia's share commitment for each blob of a batch file, one base64 line per blob.

pycelestia (PyPI `pycelestia`, pinned in requirements.txt) computes commitments in its Rust extension
with celestia-types (the Lumina project's Rust implementation), independently of celestia-node's Go
code and of ours; `celestia.types.blob.Blob` calls it when a blob is built.

Usage: commitments.py FILE      (FILE, or - for standard input)

FILE is a sequence of records, each:
    share_version   1 byte (0, or 1 for a blob with a signer)
    namespace       29 bytes
    signer          20 bytes, only when share_version is 1
    length          4 bytes, unsigned big-endian
    data            `length` bytes

Output: one line per record, in order: the commitment in standard base64. Exit status 1 with a one-line
message on standard error for a malformed file or a blob pycelestia refuses.
"""

import base64
import struct
import sys

from celestia.types.blob import Blob

NAMESPACE_SIZE = 29
SIGNER_SIZE = 20


def records(payload: bytes):
    offset = 0
    index = 0
    while offset < len(payload):
        def take(count: int, what: str) -> bytes:
            nonlocal offset
            if offset + count > len(payload):
                raise ValueError(f"record {index}: truncated {what} at byte {offset}")
            chunk = payload[offset:offset + count]
            offset += count
            return chunk

        version = take(1, "share version")[0]
        if version not in (0, 1):
            raise ValueError(f"record {index}: share version must be 0 or 1, got {version}")
        namespace = take(NAMESPACE_SIZE, "namespace")
        signer = take(SIGNER_SIZE, "signer") if version == 1 else None
        (length,) = struct.unpack(">I", take(4, "length"))
        data = take(length, "data")
        yield index, namespace, signer, data
        index += 1


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: commitments.py FILE (or - for standard input)", file=sys.stderr)
        return 64
    if argv[1] == "-":
        payload = sys.stdin.buffer.read()
    else:
        with open(argv[1], "rb") as handle:
            payload = handle.read()
    out = []
    try:
        for index, namespace, signer, data in records(payload):
            try:
                blob = Blob(namespace, data, signer=signer)
            except Exception as error:  # pycelestia raises ValueError or RuntimeError
                raise ValueError(f"record {index}: pycelestia refused the blob: {error}") from error
            out.append(base64.b64encode(bytes(blob.commitment)).decode("ascii"))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
