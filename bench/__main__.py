"""``python -m bench [core|notify|prepay|memory ...] [--quick] [--output PATH]``.

Runs the chosen parts (all by default), prints a table of every figure with its bar and
verdict, and writes it with the machine, date and method to ``bench/results.md`` (a
full run) or ``bench/results-partial.md`` (``--quick`` or a subset), unless ``--output``
says otherwise. Every server it starts is killed before it returns, even on errors.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from ._report import Section, machine_info, render_markdown, render_table, write_results

HERE = Path(__file__).resolve().parent


def _parts() -> dict[str, tuple[str, Callable[[bool], Section]]]:
    from . import core_ops, memory, notify_throughput, prepay_slow_wechat

    return {
        "core": ("Core operations vs wechatpy", core_ops.run),
        "notify": ("Notification throughput per adapter", notify_throughput.run),
        "prepay": ("Prepay under a slow WeChat", prepay_slow_wechat.run),
        "memory": ("Memory over 10,000 notifications", memory.run),
    }


def main(argv: list[str] | None = None) -> int:
    parts = _parts()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "parts", nargs="*", choices=[*parts, []], help="parts to run (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--output", type=Path, help="where to write the markdown results")
    args = parser.parse_args(argv)
    chosen = args.parts or list(parts)
    full = not args.quick and set(chosen) == set(parts)
    output = args.output or HERE / ("results.md" if full else "results-partial.md")

    info = machine_info()
    sections: list[Section] = []
    started = time.perf_counter()
    for key in chosen:
        title, fn = parts[key]
        print(f"== {key}: {title}{' (quick)' if args.quick else ''} ...", flush=True)
        t0 = time.perf_counter()
        try:
            section = fn(args.quick)
        except KeyboardInterrupt:
            print("interrupted; servers stopped", file=sys.stderr)
            return 130
        except Exception as exc:
            traceback.print_exc()
            section = Section(key=key, title=title, method="", error=f"{type(exc).__name__}: {exc}")
        section.seconds = time.perf_counter() - t0
        sections.append(section)
        print(render_table([section]), flush=True)
        print(f"   ({section.seconds:.0f} s)", flush=True)
    total = time.perf_counter() - started
    argv_shown = [*chosen] if args.parts else []
    if args.quick:
        argv_shown.append("--quick")
    write_results(render_markdown(sections, info, argv_shown, total), output)
    print()
    print(render_table(sections))
    failed = sum(1 for s in sections for f in s.figures if f.ok is False)
    errors = sum(1 for s in sections if s.error)
    print(f"\n{failed} bar(s) failed, {errors} part(s) errored; {total:.0f} s; wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
