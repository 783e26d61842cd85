"""The README's packaged-store example runs as printed: a payment, then half refunded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("## The packaged order store") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    (tmp_path / "shop.py").write_text(match.group(1), "utf-8")
    ran = subprocess.run(
        [sys.executable, "shop.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["SUCCESS", "PROCESSING"]
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "wxpay_mw.cli",
            "orders",
            "show",
            "T1",
            "--url",
            "sqlite:///shop.db",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert '"status": "paid"' in shown.stdout and '"refund_fee": 640' in shown.stdout
