"""Groups `perf report --no-children --sort sym --stdio` lines (stdin, demangled) by kind of work."""
import re, sys

GROUPS = [
    ("sgemm kernel (OpenBLAS)", r"sgemm_(small_)?kernel"),
    ("sgemm packing (OpenBLAS)", r"sgemm_\w*copy"),
    ("attention products (MicroGEMM)", r"MicroGEMM"),
    ("attention softmax, packing", r"headAttention"),
    ("grouped linear: dispatch gather, GELU, bias", r"groupedLinear"),
    ("memcpy / memset", r"__mem(move|set|cpy)"),
    ("layer norm", r"layerNorm"),
    ("scatter-add, combine", r"scatterAdd|combineRows"),
    ("elementwise (unary, binary)", r"unary|binary"),
    ("AdamW", r"AdamW"),
    ("kernel: page clearing", r"clear_page"),
    ("kernel: other", r"^\[k\]"),
]

def main():
    rows = []
    for line in sys.stdin:
        m = re.match(r"\s+([0-9.]+)%\s+(\[[.k]\])\s+(.*)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3).strip()))
    total = {name: 0.0 for name, _ in GROUPS}
    top = {name: [] for name, _ in GROUPS}
    other, other_top = 0.0, []
    for pct, kind, sym in rows:
        for name, rx in GROUPS:
            if re.search(rx, f"{kind} {sym}" if name.startswith("kernel") else sym):
                total[name] += pct; top[name].append((pct, sym)); break
        else:
            other += pct; other_top.append((pct, sym))
    def short(sym):   # "closure #1 in static Tensor.attention(q:k:…)" -> "Tensor.attention"
        s = re.sub(r"^(specialized |static |closure #\d+ in |implicit closure #\d+ in )+", "", sym)
        s = re.sub(r"\(.*", "", s)
        return s[:40]
    print("| work | share of samples | largest symbols |")
    print("|---|---|---|")
    for name, _ in GROUPS:
        if total[name] >= 0.05:
            syms = ", ".join(f"`{short(s)}` {p:.1f}%" for p, s in sorted(top[name], reverse=True)[:2] if p >= 0.05)
            print(f"| {name} | {total[name]:.1f}% | {syms} |")
    syms = ", ".join(f"`{short(s)}` {p:.1f}%" for p, s in sorted(other_top, reverse=True)[:3])
    print(f"| other | {other:.1f}% | {syms} |")

if __name__ == "__main__":
    main()
