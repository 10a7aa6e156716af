#!/usr/bin/env python3
"""Seed corpus for the parser fuzz tests (Tests/ModSquadKitTests/FuzzTests.swift):
a gzipped IDX file, a PNG, a folder manifest and small notebooks. Standard library only."""
import gzip, os, struct, zlib

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")

# IDX: unsigned bytes, 3 images of 4x4
data = bytes(range(48))
with open(os.path.join(here, "idx", "images.idx.gz"), "wb") as f:
    f.write(gzip.compress(struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", 3, 4, 4) + data, mtime=0))


def png(path, w, h, rgb):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb[(y * w) * 3:(y * w + w) * 3]) for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


px = [(x * 40) % 256 for x in range(8 * 8 * 3)]
png(os.path.join(here, "png", "tile.png"), 8, 8, px)
png(os.path.join(here, "manifest", "a.png"), 8, 8, px)
png(os.path.join(here, "manifest", "b.png"), 8, 8, list(reversed(px)))
with open(os.path.join(here, "manifest", "manifest.csv"), "w") as f:
    f.write("image,label:class,score:value,split\na.png,1,0.5,train\nb.png,0,1.25,test\n")

with open(os.path.join(here, "msq", "toy.msq"), "w") as f:
    f.write('# %% toy\ndata = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)\n'
            'step(m, data, n: 1, batch: 4)\n# %% more\nx = [1, 2.5e-1, "s", true]\nx[0] + 2 * (3 - 1)\nm.params\nhelp("step")\n')
print("corpus written to", here)
