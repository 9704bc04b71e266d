"""``python -m bench``: run the scenarios, print the table, write ``bench/results.json``.

``make bench`` runs the quick profile (sizes scaled down so that a run takes minutes on
this 2-core machine); ``make bench FULL=1`` (``--full``) runs the issue's sizes.
``--only 1,2`` picks scenarios; ``--postgres`` adds PostgreSQL beside SQLite where a
scenario has a database; ``--no-pin`` leaves scheduling to the kernel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from .report import table
from .scenarios import SCENARIOS, Context, Sizes, available
from .servers import BENCH_DIR, Workspace, raise_fd_limit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes (slow)")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--transports", default="websocket,polling")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument("--output", default=str(BENCH_DIR / "results.json"))
    args = parser.parse_args(argv)

    limit = raise_fd_limit()
    services = available(None)  # type: ignore[arg-type]
    databases = ["sqlite"]
    if args.postgres:
        if not services["postgres"]:
            print("PostgreSQL is not reachable: --postgres ignored", file=sys.stderr)
        else:
            databases.append("postgres")
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(SCENARIOS)
    workspace = Workspace(keep=args.keep)
    ctx = Context(
        workspace=workspace,
        sizes=Sizes.full() if args.full else Sizes(),
        databases=databases,
        transports=[name.strip() for name in args.transports.split(",") if name.strip()],
        pin=not args.no_pin and len(os.sched_getaffinity(0)) > 1,
    )
    ctx.extra["services"] = services
    started = time.time()
    run_id = datetime.now(UTC).isoformat(timespec="seconds")
    failures: dict[str, str] = {}
    print(
        f"bench: {'full' if args.full else 'quick'} sizes, databases {databases}, "
        f"scenarios {chosen}, work folder {workspace.path}",
        flush=True,
    )
    try:
        for name in chosen:
            try:
                SCENARIOS[name](ctx)
            except Exception as error:
                traceback.print_exc()
                failures[name] = repr(error)
    finally:
        workspace.close()
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
        "profile": "full" if args.full else "quick",
        "sizes": ctx.sizes.__dict__,
        "databases": databases,
        "pinned": ctx.pin,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
            "open_files_limit": limit,
        },
        "rate_limits": "off (RATELIMIT_ENABLED=false)",
        "rows": [{**row.as_dict(), "run": run_id} for row in ctx.rows],
        "runs": [
            {
                "id": run_id,
                "profile": "full" if args.full else "quick",
                "scenarios": chosen,
                "load_average_at_end": os.getloadavg(),
            }
        ],
        "extra": ctx.extra,
        "failures": failures,
    }
    output = Path(args.output)
    if output.exists() and args.only:
        # A partial run replaces the rows it measured again and keeps the others; each
        # row names the run that measured it.
        try:
            previous = json.loads(output.read_text())
            fresh = {_key(row) for row in document["rows"]}
            kept = [row for row in previous.get("rows", []) if _key(row) not in fresh]
            document["rows"] = kept + document["rows"]
            document["extra"] = {**previous.get("extra", {}), **document["extra"]}
            document["runs"] = [*previous.get("runs", []), *document["runs"]]
        except (ValueError, KeyError):
            pass
    output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print()
    print(table(document["rows"]))
    print(f"\nwritten to {output}; {len(failures)} scenario(s) failed: {failures or 'none'}")
    return 1 if failures else 0


def _key(row: dict) -> tuple[str, str, str]:
    return (row["scenario"], row["metric"], row["variant"])


if __name__ == "__main__":
    raise SystemExit(main())
