#!/usr/bin/env python3
"""Regenerates fuzz/corpus/gguf/: crafted malformed GGUF files, one per known attack class,
plus a few small valid seeds. The files are committed; tests/gguf/corpus_test.cpp expects
each bad-*.gguf to be rejected with a message naming the field, and each valid-*.gguf to
parse. Stdlib only, so it runs anywhere:  tools/make-gguf-bad-corpus.py [OUT_DIR]
"""
import os
import struct
import sys

# GGUF metadata value type ids.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
# Tensor type ids (ggml): a few the tests use.
T_F32, T_F16, T_Q4_0, T_Q8_0, T_I8, T_F64 = 0, 1, 2, 8, 24, 28
TYPE_BYTES = {T_F32: 4, T_F16: 2, T_I8: 1, T_F64: 8}
BLOCKS = {T_Q4_0: (32, 18), T_Q8_0: (32, 34)}

SCALAR_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f",
              BOOL: "?", U64: "Q", I64: "q", F64: "d"}


class G:
    """Little-endian GGUF field writer; no validation, so anything can be expressed."""

    def __init__(self):
        self.b = bytearray()

    def raw(self, data):
        self.b += data
        return self

    def u32(self, v):
        self.b += struct.pack("<I", v)
        return self

    def u64(self, v):
        self.b += struct.pack("<Q", v)
        return self

    def string(self, s):
        data = s.encode() if isinstance(s, str) else s
        return self.u64(len(data)).raw(data)

    def header(self, n_tensors, n_kv, version=3, magic=b"GGUF"):
        return self.raw(magic).u32(version).u64(n_tensors).u64(n_kv)

    def value(self, t, v):
        if t == STR:
            return self.string(v)
        if t == ARR:
            elem_type, items = v
            self.u32(elem_type).u64(len(items))
            for item in items:
                self.value(elem_type, item)
            return self
        self.b += struct.pack("<" + SCALAR_FMT[t], v)
        return self

    def kv(self, key, t, v):
        return self.string(key).u32(t).value(t, v)

    def tensor(self, name, dims, ttype, offset):
        self.string(name).u32(len(dims))
        for d in dims:
            self.u64(d)
        return self.u32(ttype).u64(offset)

    def pad(self, alignment=32):
        while len(self.b) % alignment:
            self.b.append(0)
        return self

    def zeros(self, n):
        self.b += bytes(n)
        return self


def tensor_bytes(ttype, dims):
    n = 1
    for d in dims:
        n *= d
    if ttype in BLOCKS:
        bs, bb = BLOCKS[ttype]
        return n // bs * bb
    return n * TYPE_BYTES[ttype]


def file_with_tensors(tensors, kvs=(), alignment=32, version=3):
    """A valid file: kvs = [(key, type, value)], tensors = [(name, dims, type)]."""
    g = G().header(len(tensors), len(kvs), version)
    for k, t, v in kvs:
        g.kv(k, t, v)
    offset, blobs = 0, []
    for name, dims, ttype in tensors:
        g.tensor(name, dims, ttype, offset)
        size = tensor_bytes(ttype, dims)
        blob = bytes((i * 7 + len(name)) & 0xFF for i in range(size))
        blobs.append(blob)
        offset += size + (-size % alignment)
    g.pad(alignment)
    for blob in blobs:
        g.raw(blob).pad(alignment)
    return bytes(g.b)


def one_tensor(dims, ttype=T_F32, offset=0, name="t", data=64):
    """Header + one tensor info + `data` bytes of data section, fields as given."""
    return bytes(G().header(1, 0).tensor(name, dims, ttype, offset).pad().zeros(data).b)


def nested(depth):
    """An array value nested `depth` levels: [[[...[u8; 1]...]]]."""
    v = (U8, [7])
    for _ in range(depth - 1):
        v = (ARR, [v])
    return v


def bad_files():
    f = {}
    f["bad-empty"] = b""
    f["bad-magic"] = bytes(G().header(0, 0, magic=b"GGML").b)
    f["bad-truncated-header"] = bytes(G().raw(b"GGUF").u32(3).u32(0).b)
    f["bad-version-1"] = bytes(G().raw(b"GGUF").u32(1).u32(0).u32(0).b)
    f["bad-version-99"] = bytes(G().header(0, 0, version=99).b)
    f["bad-big-endian"] = bytes(G().raw(b"GGUF").raw(struct.pack(">IQQ", 3, 0, 0)).b)
    f["bad-huge-tensor-count"] = bytes(G().header(1 << 62, 0).zeros(64).b)
    f["bad-huge-kv-count"] = bytes(G().header(0, 1 << 60).zeros(64).b)
    f["bad-key-length-past-eof"] = bytes(G().header(0, 1).u64(1 << 40).raw(b"general").b)
    f["bad-string-length-past-eof"] = bytes(
        G().header(0, 1).string("general.name").u32(STR).u64(0xFFFFFFFF).raw(b"tiny").b)
    f["bad-array-length-past-eof"] = bytes(
        G().header(0, 1).string("tokenizer.ggml.token_type").u32(ARR).u32(I32).u64(1000)
        .raw(struct.pack("<3i", 1, 2, 3)).b)
    f["bad-huge-string-array"] = bytes(
        G().header(0, 1).string("tokenizer.ggml.tokens").u32(ARR).u32(STR).u64(1 << 61)
        .string("a").string("b").b)
    f["bad-string-in-array-past-eof"] = bytes(
        G().header(0, 1).string("tokenizer.ggml.tokens").u32(ARR).u32(STR).u64(3)
        .string("a").string("b").u64(1 << 33).raw(b"c").b)
    # 64 levels of arrays, each claiming one element: the reader must stop at 8.
    g = G().header(0, 1).string("bomb").u32(ARR)
    for _ in range(64):
        g.u32(ARR).u64(1)
    f["bad-nested-array-depth"] = bytes(g.u32(U8).u64(1).raw(b"\x00").b)
    f["bad-value-type"] = bytes(G().header(0, 1).string("general.name").u32(13).u32(0).b)
    f["bad-array-element-type"] = bytes(
        G().header(0, 1).string("general.tags").u32(ARR).u32(99).u64(1).zeros(8).b)
    f["bad-duplicate-key"] = bytes(
        G().header(0, 2).kv("general.name", STR, "a").kv("general.name", STR, "b").b)
    f["bad-alignment-zero"] = bytes(G().header(0, 1).kv("general.alignment", U32, 0).b)
    f["bad-alignment-npot"] = bytes(G().header(0, 1).kv("general.alignment", U32, 48).b)
    f["bad-alignment-type"] = bytes(G().header(0, 1).kv("general.alignment", U64, 32).b)
    f["bad-n-dims"] = one_tensor([4, 1, 1, 1, 1])
    f["bad-zero-dim"] = one_tensor([4, 0])
    f["bad-dim-too-large"] = one_tensor([1 << 63])
    f["bad-dim-product-overflow"] = one_tensor([1 << 32, 1 << 32], T_F32)
    f["bad-size-overflow"] = one_tensor([1 << 62], T_F64)
    f["bad-tensor-type"] = one_tensor([32], ttype=4)  # id 4 was Q4_2, long removed
    f["bad-block-size"] = one_tensor([33], ttype=T_Q4_0)
    f["bad-misaligned-offset"] = one_tensor([4], offset=7)
    f["bad-offset-outside-file"] = one_tensor([4], offset=1 << 40)
    f["bad-offset-size-overflow"] = one_tensor([64], offset=(1 << 64) - 32)
    f["bad-truncated-data"] = one_tensor([256], data=512)  # needs 1024 bytes
    f["bad-duplicate-tensor"] = bytes(
        G().header(2, 0).tensor("blk.0.attn_q.weight", [4], T_F32, 0)
        .tensor("blk.0.attn_q.weight", [4], T_F32, 32).pad().zeros(64).b)
    f["bad-truncated-tensor-info"] = bytes(
        G().header(1, 0).string("token_embd.weight").u32(2).u64(4).b)
    return f


def valid_files():
    f = {}
    f["valid-minimal"] = bytes(G().header(0, 0).b)
    f["valid-v2"] = file_with_tensors(
        [("token_embd.weight", [8, 4], T_F32)],
        [("general.architecture", STR, "llama"), ("llama.block_count", U32, 1)], version=2)
    f["valid-all-types"] = file_with_tensors(
        [("a.f32", [4, 2], T_F32), ("b.f16", [8], T_F16), ("c.q4_0", [64, 2], T_Q4_0),
         ("d.q8_0", [32], T_Q8_0), ("e.i8", [3, 1, 2], T_I8), ("f.scalar", [], T_F32)],
        [("general.alignment", U32, 64),
         ("k.u8", U8, 200), ("k.i8", I8, -100), ("k.u16", U16, 60000), ("k.i16", I16, -30000),
         ("k.u32", U32, 4000000000), ("k.i32", I32, -2000000000), ("k.f32", F32, 0.5),
         ("k.bool", BOOL, True), ("k.string", STR, "h\u00e9llo \"world\"\n"),
         ("k.u64", U64, (1 << 64) - 1), ("k.i64", I64, -(1 << 63)), ("k.f64", F64, 1e-300),
         ("k.arr.u8", ARR, (U8, [1, 2, 255])), ("k.arr.str", ARR, (STR, ["x", "", "z"])),
         ("k.arr.f32", ARR, (F32, [1.5, -2.25])), ("k.arr.bool", ARR, (BOOL, [True, False])),
         ("k.arr.u64", ARR, (U64, [1 << 63])), ("k.arr.empty", ARR, (I32, [])),
         ("k.arr.nested", ARR, (ARR, [(I16, [1, -2]), (STR, ["deep"]), (ARR, [])]))],
        alignment=64)
    vocab = ["<unk>", "<s>", "</s>"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    f["valid-tiny-llama"] = file_with_tensors(
        [("token_embd.weight", [32, len(vocab)], T_Q8_0), ("output_norm.weight", [32], T_F32),
         ("blk.0.attn_q.weight", [32, 32], T_Q4_0)],
        [("general.architecture", STR, "llama"), ("general.name", STR, "corpus-seed"),
         ("llama.block_count", U32, 1), ("llama.embedding_length", U32, 32),
         ("llama.rope.freq_base", F32, 10000.0), ("tokenizer.ggml.model", STR, "llama"),
         ("tokenizer.ggml.tokens", ARR, (STR, vocab)),
         ("tokenizer.ggml.scores", ARR, (F32, [float(-i) for i in range(len(vocab))])),
         ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3] + [1] * (len(vocab) - 3)))])
    f["valid-depth-8"] = bytes(G().header(0, 1).kv("deep", ARR, nested(8)).b)
    return f


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "fuzz", "corpus", "gguf")
    os.makedirs(out, exist_ok=True)
    files = {**bad_files(), **valid_files()}
    for name, data in sorted(files.items()):
        assert len(data) < 64 * 1024, name
        with open(os.path.join(out, name + ".gguf"), "wb") as fh:
            fh.write(data)
    print(f"wrote {len(files)} files to {out}")


if __name__ == "__main__":
    main()
