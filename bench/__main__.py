"""Run the benchmarks and print figures and ratios: `.venv/bin/python -m bench [names] [n]`.

Names choose a subset (intake, memory, endtoend, recovery, verify; default all); a bare number
is the intake's message count (default 1000). `--rate R --seconds S` set the end-to-end load.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import endtoend, intake, memory, recovery, verify
from bench.common import percentile

NAMES = ("intake", "memory", "endtoend", "recovery", "verify")


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    target: str
    ratio: float  # measured / target, oriented so that <= 1.0 meets the target

    def line(self) -> str:
        verdict = "-" if math.isnan(self.ratio) else "ok" if self.ratio <= 1.0 else "MISSED"
        return (
            f"  {self.figure:<42} {self.value:>12} {self.target:>10} {self.ratio:7.2f}  {verdict}"
        )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("what", nargs="*", help=f"{', '.join(NAMES)} and/or the intake count")
    parser.add_argument("--rate", type=float, default=2.0, help="end-to-end items/s offered")
    parser.add_argument("--seconds", type=float, default=20.0, help="end-to-end duration")
    args = parser.parse_args()
    numbers = [w for w in args.what if w.isdigit()]
    names = [w for w in args.what if not w.isdigit()]
    for name in names:
        if name not in NAMES:
            parser.error(f"unknown benchmark {name!r} (known: {', '.join(NAMES)})")
    args.messages = int(numbers[0]) if numbers else 1000
    args.names = names or list(NAMES)
    return args


def keeping_up(load: endtoend.Load) -> float:
    """The finishing rate of a setup that keeps up with the offered load: the offered rate,
    less 5 % for when the first and the last of a few dozen items happen to finish."""
    return 0.95 * load.offered_rate


def say(lines: list[str]) -> None:
    for line in lines:
        print(line, flush=True)


def main() -> None:
    args = arguments()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - Postfix runs as its own user and must enter it
        work = Path(tmp)
        if "intake" in args.names:
            rates = intake.run(work / "intake", args.messages)
            say(intake.report(rates))
            for ours, theirs in rates:
                share = ours.per_second / theirs.per_second
                rows.append(
                    Row(f"intake {ours.sessions} sessions x{ours.processes}, poststelle/postfix",
                        f"{share:.2f}",
                        ">= 1.00" if ours.sessions == 10 else "-",
                        1.0 / share if ours.sessions == 10 else math.nan)
                )  # fmt: skip
        if "memory" in args.names:
            peaks = memory.run(work / "memory")
            say(memory.report(peaks))
            rows += [
                Row(f"memory {p.mode} {p.size / memory.MB:.0f} MB, RSS growth/size",
                    f"{p.ratio:.2f}", f"<= {memory.TARGET}", p.ratio / memory.TARGET)
                for p in peaks
            ]  # fmt: skip
        if "endtoend" in args.names:
            loads = endtoend.run(work / "endtoend", args.rate, args.seconds)
            say(endtoend.report(loads))
            for load in loads:
                p99 = percentile(load.latencies, 0.99)
                rows += [
                    Row(f"end to end {load.setup}, p99 250->delivery", f"{p99:.1f} s",
                        f"<= {endtoend.TARGET_P99:.0f} s", p99 / endtoend.TARGET_P99),
                    Row(f"end to end {load.setup}, items/s finished",
                        f"{load.throughput:.2f}", f">= {keeping_up(load):.2f}",
                        keeping_up(load) / load.throughput if load.throughput else math.inf),
                ]  # fmt: skip
        if "recovery" in args.names:
            result = recovery.run(work / "recovery")
            say(recovery.report(result))
            rows.append(
                Row("recovery, kill -> all items finished", f"{result.seconds:.1f} s",
                    f"<= {recovery.TARGET:.0f} s", result.ratio)
            )  # fmt: skip
            rows.append(
                Row("recovery, items delivered twice", str(result.duplicates), "0",
                    0.0 if result.duplicates == 0 else math.inf)
            )  # fmt: skip
        if "verify" in args.names:
            checked = verify.run(work / "verify")
            say(verify.report(checked))
            openssl_rate = checked.openssl.per_second
            for rate in checked.smime:
                share = rate.per_second / openssl_rate
                cached = rate.key == "cached"
                rows.append(
                    Row(f"verify S/MIME {rate.key}, poststelle/openssl", f"{share:.2f}",
                        f">= {verify.TARGET:.2f}" if cached else "-",
                        verify.TARGET / share if cached else math.nan)
                )  # fmt: skip
            rows += [
                Row(f"verify PDF {rate.key}, PDFs/s", f"{rate.per_second:.1f}", "-", math.nan)
                for rate in checked.pdfs
            ]
    say(["", "summary (ratio = measured / target, <= 1.00 meets it):"])
    say([f"  {'figure':<42} {'measured':>12} {'target':>10} {'ratio':>7}"])
    say([row.line() for row in rows])


if __name__ == "__main__":
    main()
