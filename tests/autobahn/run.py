#!/usr/bin/env python3
"""Run the Autobahn TestSuite fuzzing client against a running server and judge it.

Usage (the server, e.g. examples/echo, must already listen on 127.0.0.1:PORT):

    python3 tests/autobahn/run.py --port PORT \
        [--outdir tests/autobahn/reports] [--wstest .venv-autobahn/bin/wstest] \
        [--timeout 300] [--cases 1.*,2.*] [--exclude-cases 12.*,13.*]
        [--min-cases 517] [--no-run] [--strict] [--unimplemented 12.*,13.*]
        [--jobs 2]

Steps:
  1. render tests/autobahn/fuzzingclient.json ({port}, {outdir} placeholders)
     into <outdir>/fuzzingclient.json;
  2. run `wstest -m fuzzingclient -s <that file>` with a time limit, its output
     going to <outdir>/wstest.log;
  3. parse <outdir>/index.json (wstest exits 0 even when cases fail, so the
     report is the only verdict).

With --jobs N (the whole suite only) the cases are split into N disjoint parts
(PARTS below), each run by its own wstest in <outdir>/part-K at the same time,
and their reports merged: the compression cases (12.*, 13.*) take most of the
time, and one wstest process keeps only one core busy.

A case fails when its `behavior` or `behaviorClose` is FAILED, WRONG CODE,
UNCLEAN or FAILED BY CLIENT; OK, NON-STRICT, INFORMATIONAL and UNIMPLEMENTED
pass (anything unknown fails). With --strict only OK and INFORMATIONAL pass,
in both fields, except UNIMPLEMENTED for the cases --unimplemented names
(an extension the server does not offer yet). Prints the behaviour distribution, the first 50
failing cases, and finally "N passed, M failed" alone on a line. Exits non-zero
when a case failed, when fewer than --min-cases cases are in the report (517
is the full suite), or when wstest timed out / left no report. Before it, a line
"counts: cases=N ok=N informational=N unimplemented=N non_strict=N failed=N"
counts each case once by its worse field, for a test to assert on.

Stdlib only; runs with any Python 3.8+.
"""

import argparse
import collections
import fnmatch
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PASSING = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}
FAILING = {"FAILED", "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT"}
FULL_SUITE = 517
MAX_LISTED = 50
# The suite in disjoint parts of about equal running time for --jobs (the chapters
# before 12 are quick; each compression case sends 1000 messages).
PARTS = {
    1: [["*"]],
    2: [
        [f"{n}.*" for n in range(1, 12)] + ["12.*", "13.1.*"],
        [f"13.{n}.*" for n in range(2, 8)],
    ],
    # Balanced on the case durations of one run on the 2-core machine (seconds, with
    # 2 parts): 12.2 168, 12.3 154, 12.5 151, 13.5 124, 13.7 123, 13.3 117, 13.4 115,
    # 13.2 93, 12.1 88, 13.6 87, 12.4 86, 13.1 71, chapters 1-11 together 25.
    3: [
        [f"{n}.*" for n in range(1, 12)] + ["12.1.*", "12.2.*", "12.4.*", "13.3.*"],
        ["12.3.*", "13.2.*", "13.6.*", "13.7.*"],
        ["12.5.*", "13.1.*", "13.4.*", "13.5.*"],
    ],
}


def default_wstest():
    venv = os.environ.get("WSFRAME_AUTOBAHN_VENV", os.path.join(ROOT, ".venv-autobahn"))
    return os.path.join(venv, "bin", "wstest")


def render(value, subst):
    """Replace {name} placeholders in every string of a JSON value."""
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(subst.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [render(v, subst) for v in value]
    if isinstance(value, dict):
        return {k: render(v, subst) for k, v in value.items()}
    return value


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def wait_for_port(port, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def run_wstest(wstest, spec_path, outdir, timeout):
    """Run wstest; returns (exit status or None on timeout, log path)."""
    log_path = os.path.join(outdir, "wstest.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [wstest, "-m", "fuzzingclient", "-s", spec_path],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=outdir,
            start_new_session=True,  # own process group, so a timeout kills all of it
        )
        try:
            return proc.wait(timeout=timeout), log_path
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return None, log_path


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in lines[-n:])


def case_detail(outdir, entry):
    """One-line explanation from the per-case report, if readable."""
    report = entry.get("reportfile")
    if not report:
        return ""
    try:
        with open(os.path.join(outdir, report)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return ""
    parts = []
    for key in ("result", "resultClose"):
        text = data.get(key)
        if text:
            parts.append(" ".join(str(text).split())[:160])
    return " | ".join(parts)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
    p.add_argument("--outdir", default=os.path.join(HERE, "reports"),
                   help="report directory (default tests/autobahn/reports)")
    p.add_argument("--wstest", default=default_wstest(), help="path to wstest")
    p.add_argument("--config", default=os.path.join(HERE, "fuzzingclient.json"),
                   help="config template with {port}/{outdir} placeholders")
    p.add_argument("--timeout", type=float, default=300, help="time limit for wstest, seconds")
    p.add_argument("--cases", help="comma-separated case patterns overriding the template "
                                   "(e.g. '1.*,9.1.1'); implies --min-cases 1 unless given")
    p.add_argument("--exclude-cases", help="comma-separated case patterns to exclude "
                                           "(e.g. '12.*,13.*' to skip permessage-deflate); "
                                           "implies --min-cases 1 unless given")
    p.add_argument("--min-cases", type=int, help=f"minimum cases in report (default {FULL_SUITE})")
    p.add_argument("--wait", type=float, default=10,
                   help="seconds to wait for the port to accept connections first")
    p.add_argument("--no-run", action="store_true", help="only parse an existing <outdir>/index.json")
    p.add_argument("--strict", action="store_true",
                   help="only OK and INFORMATIONAL pass (NON-STRICT fails), in both fields")
    p.add_argument("--unimplemented", default="",
                   help="with --strict: comma-separated case patterns that may be UNIMPLEMENTED")
    p.add_argument("--jobs", type=int, default=1, choices=sorted(PARTS),
                   help="wstest processes run at once, each on its part of the whole suite")
    args = p.parse_args()
    if args.jobs > 1 and (args.cases or args.exclude_cases):
        p.error("--jobs splits the whole suite; it does not combine with --cases or --exclude-cases")

    outdir = os.path.abspath(args.outdir)
    min_cases = args.min_cases if args.min_cases is not None else (
        1 if args.cases or args.exclude_cases else FULL_SUITE)
    problems = []

    parts = PARTS[args.jobs]
    # The report directory of each part: the outdir itself for a single run.
    part_dirs = [outdir] if len(parts) == 1 else [
        os.path.join(outdir, f"part-{k + 1}") for k in range(len(parts))]

    if not args.no_run:
        with open(args.config) as f:
            template = json.load(f)
        specs = []
        for part, part_dir in zip(parts, part_dirs):
            os.makedirs(part_dir, exist_ok=True)
            spec = render(template, {"port": args.port, "outdir": part_dir})
            if args.cases:
                spec["cases"] = [c.strip() for c in args.cases.split(",") if c.strip()]
            elif len(parts) > 1:
                spec["cases"] = part
            if args.exclude_cases:
                spec["exclude-cases"] = [c.strip() for c in args.exclude_cases.split(",") if c.strip()]
            spec_path = os.path.join(part_dir, "fuzzingclient.json")
            with open(spec_path, "w") as f:
                json.dump(spec, f, indent=2)
            # A stale report from an earlier run must never be judged as this one.
            index = os.path.join(part_dir, "index.json")
            if os.path.exists(index):
                os.remove(index)
            specs.append((spec_path, part_dir))

        if not os.access(args.wstest, os.X_OK):
            print(f"error: wstest not found at {args.wstest} (run .ci/setup-python)", flush=True)
            print("0 passed, 1 failed", flush=True)
            return 2
        if not wait_for_port(args.port, args.wait):
            print(f"error: nothing accepts connections on 127.0.0.1:{args.port}", flush=True)
            print("0 passed, 1 failed", flush=True)
            return 2

        logs = ", ".join(os.path.join(d, "wstest.log") for d in part_dirs)
        print(f"running wstest fuzzingclient against ws://127.0.0.1:{args.port} "
              f"({len(specs)} at once, limit {args.timeout:g} s, log {logs})", flush=True)
        start = time.monotonic()
        results = [None] * len(specs)

        def run_part(k):
            results[k] = run_wstest(args.wstest, specs[k][0], specs[k][1], args.timeout)

        threads = [threading.Thread(target=run_part, args=(k,)) for k in range(len(specs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        for (status, log_path), part_dir in zip(results, part_dirs):
            name = os.path.relpath(part_dir, outdir) if len(part_dirs) > 1 else "wstest"
            if status is None:
                problems.append(f"{name}: wstest timed out after {args.timeout:g} s (killed)")
            elif status != 0:
                problems.append(f"{name}: wstest exited with status {status}")
            if status != 0:
                print(f"last lines of {log_path}:\n" + tail(log_path), flush=True)
        statuses = ", ".join(str(status) for status, _ in results)
        print(f"wstest finished in {elapsed:.1f} s, exit status {statuses}", flush=True)

    # (agent, case id) -> (entry, the directory of its report)
    report = {}
    index = os.path.join(part_dirs[0], "index.json")
    for part_dir in part_dirs:
        index = os.path.join(part_dir, "index.json")
        try:
            with open(index) as f:
                part_report = json.load(f)
        except (OSError, ValueError) as exc:
            problems.append(f"no readable report at {index}: {exc}")
            continue
        for agent, agent_cases in part_report.items():
            for case_id, entry in agent_cases.items():
                if (agent, case_id) in report:
                    problems.append(f"case {case_id} ran in two parts")
                report[(agent, case_id)] = (entry, part_dir)

    cases = {key: entry for key, (entry, _) in report.items()}

    dist = {"behavior": collections.Counter(), "behaviorClose": collections.Counter()}
    failures = []
    passed = failed = 0
    unimplemented_ok = [p.strip() for p in args.unimplemented.split(",") if p.strip()]
    # Each case counted once, by the worse of its two fields.
    rank = ["OK", "INFORMATIONAL", "UNIMPLEMENTED", "NON-STRICT"]
    worst = collections.Counter()
    for (agent, case_id) in sorted(cases, key=lambda k: (k[0], case_key(k[1]))):
        entry = cases[(agent, case_id)]
        b, bc = entry.get("behavior", "?"), entry.get("behaviorClose", "?")
        dist["behavior"][b] += 1
        dist["behaviorClose"][bc] += 1
        if b in rank and bc in rank:
            worst[max(b, bc, key=rank.index)] += 1
        else:
            worst["FAILED"] += 1
        if args.strict:
            allowed = {"OK", "INFORMATIONAL"}
            if any(fnmatch.fnmatchcase(case_id, p) for p in unimplemented_ok):
                allowed.add("UNIMPLEMENTED")
            ok = b in allowed and bc in allowed
        else:
            ok = b in PASSING and bc in PASSING
        if ok:
            passed += 1
        else:
            failed += 1
            failures.append((agent, case_id, entry))

    for field, counter in dist.items():
        text = ", ".join(f"{k}: {v}" for k, v in counter.most_common()) or "(none)"
        print(f"{field}: {text}")
    unknown = sorted((set(dist["behavior"]) | set(dist["behaviorClose"])) - PASSING - FAILING)
    if unknown:
        print(f"note: unknown behaviours counted as failures: {', '.join(unknown)}")

    agents = len({agent for agent, _ in report}) or 1
    for agent, case_id, entry in failures[:MAX_LISTED]:
        who = f"{agent} " if agents > 1 else ""
        detail = case_detail(report[(agent, case_id)][1], entry)
        print(f"FAIL {who}{case_id}: behavior={entry.get('behavior')} "
              f"behaviorClose={entry.get('behaviorClose')} "
              f"remoteCloseCode={entry.get('remoteCloseCode')}"
              + (f" -- {detail}" if detail else ""))
    if len(failures) > MAX_LISTED:
        print(f"... and {len(failures) - MAX_LISTED} more failing cases (see {index})")

    if len(cases) < min_cases:
        problems.append(f"only {len(cases)} cases in the report, expected at least {min_cases}")
    for problem in problems:
        print(f"error: {problem}")
    # Problems that are not per-case failures still must not look like a pass.
    if problems and failed == 0:
        failed_line = f"{passed} passed, {max(1, failed)} failed"
    else:
        failed_line = f"{passed} passed, {failed} failed"
    print(f"counts: cases={len(cases)} ok={worst['OK']} informational={worst['INFORMATIONAL']} "
          f"unimplemented={worst['UNIMPLEMENTED']} non_strict={worst['NON-STRICT']} "
          f"failed={worst['FAILED']}")
    print("report: " + ", ".join(os.path.join(d, "index.html") for d in part_dirs))
    print(failed_line, flush=True)
    return 0 if failed == 0 and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
