"""Run a study and publish its result into experiments/<name>/.

    python experiments/publish.py symmetry [more names ...]

Runs ``shallownet -m experiment=<name>`` in a fresh folder (its own SQLite
store), then ``shallownet-report``, copies the table and figures here, and
replaces the block between the result markers of the study's README. The
numbers in the READMEs come only from here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
START, END = "<!-- result:start -->", "<!-- result:end -->"


def publish(name: str) -> None:
    folder = HERE / name
    readme = folder / "README.md"
    env = dict(os.environ)
    if name == "custom_plugins":
        env["SHALLOWNET_PLUGINS"] = str(HERE / "custom_plugins" / "plugins.py")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "shallownet"), "-m", f"experiment={name}"],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - start
        out = Path(tmp) / "report"
        subprocess.run(
            [str(BIN / "shallownet-report"), "--out", str(out), "--no-attach"],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        for png in ("cost_curves.png", "summary.png"):
            shutil.copy(out / png, folder / png)
        shutil.copy(out / "table.csv", folder / "table.csv")
        table = (out / "table.md").read_text()
    result = (
        f"{START}\n"
        f"Produced by `python experiments/publish.py {name}` on "
        f"{time.strftime('%Y-%m-%d')} ({seconds:.0f} s for the sweep); "
        f"medians over seeds with [min–max]:\n\n{table}\n"
        f"![cost curves](cost_curves.png)\n\n![symmetry and saturation](summary.png)\n{END}"
    )
    text = readme.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    readme.write_text(before + result + after)
    print(f"{name}: published ({seconds:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="+")
    for name in parser.parse_args().names:
        publish(name)


if __name__ == "__main__":
    main()
