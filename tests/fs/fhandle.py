#!/usr/bin/env python3
"""fhandle.py encode PATH... | decode MOUNTPOINT - file handles through
name_to_handle_at(2) / open_by_handle_at(2) (root only).  encode prints
one hex handle per PATH; decode reads them from stdin, opens each by its
handle and prints the first line of the file it names (or the errno)."""
import ctypes
import errno
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100


class FH(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]


def encode(path):
    fh, mid = FH(), ctypes.c_int()
    fh.handle_bytes = 128
    if libc.name_to_handle_at(AT_FDCWD, path.encode(), ctypes.byref(fh),
                              ctypes.byref(mid), 0) < 0:
        return "ERR:" + errno.errorcode[ctypes.get_errno()]
    raw = bytes(fh.f_handle[:fh.handle_bytes])
    return "%d:%s" % (fh.handle_type, raw.hex())


def decode(mnt, line):
    if line.startswith("ERR:"):
        return line
    t, h = line.split(":")
    raw = bytes.fromhex(h)
    fh = FH()
    fh.handle_bytes, fh.handle_type = len(raw), int(t)
    ctypes.memmove(fh.f_handle, raw, len(raw))
    mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    fd = libc.open_by_handle_at(mfd, ctypes.byref(fh), os.O_RDONLY)
    e = ctypes.get_errno()
    os.close(mfd)
    if fd < 0:
        return "ERR:" + errno.errorcode[e]
    with os.fdopen(fd, "rb") as f:
        return f.readline().decode().strip() or "(empty)"


if sys.argv[1] == "encode":
    for p in sys.argv[2:]:
        print(encode(p))
else:
    for ln in sys.stdin.read().split():
        print(decode(sys.argv[2], ln))
