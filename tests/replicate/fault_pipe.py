#!/usr/bin/env python3
"""fault_pipe.py: copies stdin to stdout, injecting one fault per session
into a replication stream (used as FAKE_SSH_FILTER).  The state file
counts sessions; FAULTS lists what session N suffers:
  flip:OFF  flips one bit of the byte at stream offset OFF
  cut:OFF   ends the stream at OFF (a dropped connection mid-message)
  ok        passes everything
Sessions past the list pass everything."""
import os
import sys

state = os.environ["FAULT_STATE"]
faults = os.environ.get("FAULTS", "").split()
try:
    with open(state) as f:
        n = int(f.read() or "0")
except FileNotFoundError:
    n = 0
with open(state, "w") as f:
    f.write(str(n + 1))
fault = faults[n] if n < len(faults) else "ok"
kind, _, arg = fault.partition(":")
at = int(arg) if arg else -1
pos = 0
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    if kind == "cut" and pos + len(chunk) > at:
        os.write(1, chunk[: at - pos])
        sys.exit(0)
    if kind == "flip" and pos <= at < pos + len(chunk):
        b = bytearray(chunk)
        b[at - pos] ^= 0x10
        chunk = bytes(b)
    mv = memoryview(chunk)
    while mv:
        k = os.write(1, mv)
        mv = mv[k:]
    pos += len(chunk)
