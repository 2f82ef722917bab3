"""``shallownet-report``: compare the runs of a sweep, write tables and figures, attach them.

shallownet-report                                   the latest sweep in ./mlflow.db
shallownet-report --parent-run-id ID --threshold 0.2
shallownet-report --tracking-uri http://127.0.0.1:5000 --experiment mine
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import interrupts
from ..errors import USER_ERRORS, ConfigError, first_line, working_folder
from ..schema import positive_number
from .tables import DEFAULT_THRESHOLD

# MLflow (seconds to import) is imported in _report, once Ctrl-C is handled


def _parser(here: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shallownet-report",
        description="Compare the runs of a shallownet sweep recorded in MLflow.",
    )
    parser.add_argument(
        "--tracking-uri",
        default=f"sqlite:///{here / 'mlflow.db'}",
        help="MLflow store (default: sqlite:///<here>/mlflow.db)",
    )
    parser.add_argument("--experiment", default="shallownet", help="MLflow experiment name")
    parser.add_argument(
        "--parent-run-id", help="the sweep's parent run (default: the latest sweep)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"cost a run must reach to count as learning (default {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: reports/<parent run id>)"
    )
    parser.add_argument(
        "--no-attach", action="store_true", help="do not attach outputs to the parent run"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console entry point: the report, or one line saying why not (Ctrl-C included)."""
    try:
        here = working_folder()
    except ConfigError as exc:
        print(f"shallownet-report: error: {exc}", file=sys.stderr)
        sys.exit(2)
    args = _parser(here).parse_args(argv)
    allowed = positive_number(args.threshold)
    if allowed is not None:
        print(
            f"shallownet-report: error: --threshold={args.threshold!r} is invalid: {allowed} "
            f"(a cost, e.g. {DEFAULT_THRESHOLD})",
            file=sys.stderr,
        )
        sys.exit(2)
    interrupts.install()
    interrupts.quiet_when_stdout_closes()  # shallownet-report | head
    try:
        _report(args)
    except KeyboardInterrupt as exc:
        print(f"\nshallownet-report: {interrupts.reason(exc)}", file=sys.stderr)
        sys.exit(interrupts.exiting(exc))


def _report(args: argparse.Namespace) -> None:
    from mlflow.tracking import MlflowClient

    from ..tracking.store import check_reachable, served, sqlite_path, ui_command, ui_port
    from ..tracking.view import saved_urls
    from .frames import load_sweep
    from .write import attach, best, headline, incomplete, left_alone, write_report

    try:
        db = sqlite_path(args.tracking_uri)
        if db is not None and not (db.is_file() and db.stat().st_size > 0):
            what = "an empty file" if db.is_file() else "no MLflow store"
            msg = f"--tracking-uri: {what} at {db}; run a sweep here first (shallownet -m)"
            raise ConfigError(msg)  # the report reads: it builds no store in an empty file
        check_reachable(args.tracking_uri)
        sweep = load_sweep(args.tracking_uri, args.experiment, args.parent_run_id)
    except USER_ERRORS as exc:
        line = first_line(exc).replace("tracking.uri=", "--tracking-uri=", 1)  # as typed here
        print(f"shallownet-report: error: {line}", file=sys.stderr)
        sys.exit(2)
    out = args.out or Path("reports") / sweep.parent_id
    try:
        paths = write_report(sweep, out, args.threshold)
    except OSError as exc:
        print(
            f"shallownet-report: error: --out={str(out)!r} is invalid: cannot write "
            f"{exc.filename or out}: {exc.strerror or exc}; choose a writable folder",
            file=sys.stderr,
        )
        sys.exit(2)
    print(f"sweep {sweep.parent_id}: {headline(sweep)}\n")
    for said in (best(sweep), left_alone(sweep)):
        if said is not None:
            print(said + "\n")
    print(paths["table.md"].read_text())
    if sweep.unfinished:
        print(incomplete(sweep) + "\n")
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    client = MlflowClient(args.tracking_uri)
    if not args.no_attach:
        attach(client, sweep, paths)
        print(f"attached to parent run {sweep.parent_id} (artifacts/report/, description)")
    port = ui_port()  # the printed serve and open lines agree on a port free now
    if not served(args.tracking_uri):
        print(f"serve: {ui_command(args.tracking_uri, port)}")
    for link in saved_urls(client, args.tracking_uri, sweep.parent_id, port):
        print(f"open:  {link}")


if __name__ == "__main__":
    main()
