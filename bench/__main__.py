"""``python -m bench <name> [options]``: run one benchmark; ``python -m bench`` lists them."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: dict[str, str] = {
    "matching": "bench.matching",
    "poll": "bench.poll",
    "parse": "bench.parse",
    "delivery": "bench.delivery",
    "latency": "bench.latency",
    "memory": "bench.memory",
    "clustering": "bench.clustering",
    "watches": "bench.watches",
}
"""Benchmark name -> module; the module has ``main(argv: list[str]) -> int`` and a docstring
whose first line describes it. Add new benchmarks here."""


def _usage() -> str:
    lines = ["usage: python -m bench <name> [--quick] [options]   (<name> --help for options)", ""]
    width = max(map(len, BENCHMARKS))
    for name, module in BENCHMARKS.items():
        doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<{width}}  {doc[0] if doc else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[name])
    return int(module.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
