#!/usr/bin/env python3
# Regenerates Tests/Fixtures/io/*: safetensors and .npy files written by the Python
# libraries, read back by Tests/ModSquadKitTests/IOTests.swift. Needs numpy and
# safetensors (pip install numpy safetensors). Every value is a formula or a list
# that IOTests.swift recomputes; keep the two in step.
# The library writes __metadata__ keys in hash order, so mixed.safetensors may differ
# byte-wise between runs; its contents do not.
import os
import sys

import numpy as np
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import load_file, save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "io")

# Float16 specials: signed zero, a subnormal, the smallest normal, the max, infinities, NaN.
F16_VALUES = [0.0, -0.0, 1.0, -2.5, 65504.0, 2.0**-24, 2.0**-14, float("inf"), float("-inf"), 1.0 / 3.0, float("nan"), -1.0e-3]
# BFloat16 values that are exact in bf16 (upper 16 bits of their float32): includes
# a float32 subnormal (2**-130) and a large power of two.
BF16_VALUES = [(i - 6) / 4 for i in range(12)] + [2.0**100, 2.0**-130, -0.0, float("inf")]


def safetensors_fixtures():
    tensors = {
        # float32: arange(20) / 7, shape (4, 5)
        "blocks.0.w": (np.arange(20, dtype=np.float32) / np.float32(7)).reshape(4, 5),
        # float32 vector: 1 - arange(5) * 0.25
        "blocks.0.b": np.float32(1) - np.arange(5, dtype=np.float32) * np.float32(0.25),
        # float64: arange(6) / 3 - 1, shape (2, 3)
        "f64": (np.arange(6, dtype=np.float64) / 3 - 1).reshape(2, 3),
        # float16 specials, shape (12,)
        "half": np.array(F16_VALUES, dtype=np.float16),
        # int64: (arange(12) - 5) * 1000, shape (3, 4)
        "i64": ((np.arange(12, dtype=np.int64) - 5) * 1000).reshape(3, 4),
        # int32: arange(6) - 3, shape (6,)
        "i32": np.arange(6, dtype=np.int32) - 3,
        # an empty float32 tensor, shape (0, 3)
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    metadata = {"format": "pt", "note": "ModSquad fixture \u00fc \"quoted\""}
    save_file(tensors, os.path.join(OUT, "mixed.safetensors"), metadata=metadata)

    # numpy has no bfloat16: build the bytes from float32 bit patterns and hand them to
    # the library's own serializer.
    f32 = np.array(BF16_VALUES, dtype=np.float32)
    bits = f32.view(np.uint32)
    assert np.all(bits & 0xFFFF == 0), "BF16 fixture values must be exact in bfloat16"
    bf = (bits >> 16).astype("<u2").reshape(4, 4)
    serialize_file({"bf": TensorSpec(dtype="bfloat16", shape=list(bf.shape), data_ptr=bf.ctypes.data, data_len=bf.nbytes)},
                   os.path.join(OUT, "bf16.safetensors"), metadata={"kind": "bf16"})

    # Check the files read back in Python.
    back = load_file(os.path.join(OUT, "mixed.safetensors"))
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        assert np.array_equal(back[k], v, equal_nan=True), k


def npy_fixtures():
    # float32: arange(24) / 7, shape (2, 3, 4)
    np.save(os.path.join(OUT, "f4.npy"), (np.arange(24, dtype=np.float32) / np.float32(7)).reshape(2, 3, 4))
    # float64: arange(6) / 3 - 1, shape (3, 2)
    np.save(os.path.join(OUT, "f8.npy"), (np.arange(6, dtype=np.float64) / 3 - 1).reshape(3, 2))
    # int64: (arange(12) - 3) * 1000, shape (4, 3)
    np.save(os.path.join(OUT, "i8.npy"), ((np.arange(12, dtype=np.int64) - 3) * 1000).reshape(4, 3))
    # int32: arange(5) - 2, shape (5,)
    np.save(os.path.join(OUT, "i4.npy"), np.arange(5, dtype=np.int32) - 2)
    # bool: arange(6) % 3 == 0, shape (2, 3)
    np.save(os.path.join(OUT, "bool.npy"), (np.arange(6) % 3 == 0).reshape(2, 3))
    # uint8: arange(0, 256, 51), shape (6,)
    np.save(os.path.join(OUT, "u1.npy"), np.arange(0, 256, 51, dtype=np.uint8))
    # big-endian float32: arange(6) / 7, shape (6,)
    np.save(os.path.join(OUT, "be_f4.npy"), (np.arange(6, dtype=np.float32) / np.float32(7)).astype(">f4"))
    # 0-d float32 scalar 3.5
    np.save(os.path.join(OUT, "scalar.npy"), np.array(3.5, dtype=np.float32))
    # empty float32, shape (0, 4)
    np.save(os.path.join(OUT, "empty.npy"), np.zeros((0, 4), dtype=np.float32))
    # Fortran-order float32 (must be rejected): arange(6).reshape(2, 3)
    np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    safetensors_fixtures()
    npy_fixtures()
    print("wrote", ", ".join(sorted(os.listdir(OUT))), "to", OUT, file=sys.stderr)
