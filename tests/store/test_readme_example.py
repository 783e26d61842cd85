"""A host project on the installed wheel (not this checkout) runs the README's shop:
under 40 lines, it takes a payment, refunds half, and ``wxpay-mw orders show`` shows both.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_readme_shop_runs_on_the_installed_wheel(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("## The packaged order store") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    shop = match.group(1)
    assert len(shop.strip().splitlines()) < 40

    # Build the wheel from this checkout and install it (no dependencies: they are this
    # environment's) into a directory that comes first on the host project's path.
    wheels, site, project = tmp_path / "wheels", tmp_path / "site", tmp_path / "project"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("wxpay_mw-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    project.mkdir()
    (project / "shop.py").write_text(shop, "utf-8")

    where = _run(
        [sys.executable, "-c", "import wxpay_mw.store as s; print(s.__file__)"], project, site
    )
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr

    ran = _run([sys.executable, "shop.py"], project, site)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["SUCCESS", "PROCESSING"]
    url = "sqlite:///shop.db"
    shown = _run(
        [sys.executable, "-m", "wxpay_mw.cli", "orders", "show", "T1", "--url", url], project, site
    )
    assert shown.returncode == 0, shown.stderr
    assert '"status": "paid"' in shown.stdout and '"refund_fee": 640' in shown.stdout
