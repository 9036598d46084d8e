"""The `egress-audit` command line: parses, calls the pipeline, prints, maps errors to exit codes.

The only module that prints. Tracebacks never show local variables: the process holds captured
secrets, and CI logs keep tracebacks.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__
from .errors import AuditorError, UsageError
from .findings import SEVERITIES

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Observe what software sends home: run it in a capture sandbox per consent "
                       "variant and report telemetry, personal and confidential data.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)
FAIL_ON = (*SEVERITIES, "never")
REPO = Path(__file__).resolve().parent.parent
DEMO_SCENARIO = REPO / "scenarios" / "demo" / "scenario.yaml"


def _formats(text: str) -> tuple[str, ...]:
    from .report import FORMATS

    items = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise UsageError(f"--format {text}: unknown format {', '.join(bad) or '(none)'} "
                         f"(expected a comma list of {', '.join(FORMATS)})")
    return items


def _fail_on(value: str) -> str:
    if value not in FAIL_ON:
        raise UsageError(f"--fail-on {value}: expected one of {', '.join(FAIL_ON)}")
    return value


def _variants(text: str | None) -> tuple[str, ...]:
    from .scenario import VARIANT_NAMES

    if not text:
        return ()
    items = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in items if v not in VARIANT_NAMES]
    if bad:
        raise UsageError(f"--variants {text}: unknown variant {', '.join(bad)} "
                         f"(expected some of {', '.join(VARIANT_NAMES)})")
    return items


def _finish(audit, out: Path | None, formats: tuple[str, ...]) -> int:
    from .report import render_all

    if out is not None:
        written = render_all(audit, out, formats)
        for p in written:
            if p.parent == out:
                err.print(f"  wrote {p}")
    counted = audit.counted()
    by_sev = {s: sum(1 for f in counted if f.severity == s) for s in SEVERITIES}
    summary = ", ".join(f"{n} {s}" for s, n in by_sev.items() if n) or "no findings"
    if not audit.complete:
        err.print(f"[bold red]INCOMPLETE[/]: the audit could not capture fully — not a clean result ({summary})")
        for p in audit.problems[:10]:
            err.print(f"  - {p}")
    elif audit.failing():
        err.print(f"[bold red]FAIL[/]: {len(audit.failing())} finding(s) at or above {audit.fail_on} ({summary})")
    elif audit.fail_on == "never":
        err.print(f"[bold]DONE[/]: complete audit, --fail-on never ({summary})")
    else:
        err.print(f"[bold green]PASS[/]: nothing at or above {audit.fail_on} ({summary})")
    for f in audit.failing()[:15]:
        where = f" at {f.evidence.location}" if f.evidence else ""
        err.print(f"  {f.severity:8} {f.rule:11} {f.scenario}/{f.variant} {f.host}{where}", markup=False)
    return audit.exit_code


def _run(scenarios: list[Path], out: Path | None, variants: str | None, capture: str, policy: Path | None,
         baseline: Path | None, fail_on: str, fmt: str, jobs: int, shard: str | None, seed: int | None,
         default_name: str = "audit") -> int:
    from . import analysis, pipeline, scenario
    from .policy import load_baseline, load_policy
    from .sandbox import get_backend, select_mode

    fail_on = _fail_on(fail_on)
    formats = _formats(fmt)
    names = _variants(variants)
    loaded = [scenario.load(p) for p in scenarios]
    pol = load_policy(policy)
    base = load_baseline(baseline)
    if jobs < 1:
        raise UsageError("--jobs: expected 1 or more")
    mode, why = select_mode(capture)
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        label = loaded[0].name if len(loaded) == 1 else default_name
        out = Path("reports") / f"{label}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    ident = pipeline.new_identity(seed)
    plans = pipeline.shard(pipeline.plan(loaded, names, ident), shard)
    if not plans:
        raise UsageError("nothing to run: no applicable variant (denied/granted need consent in the scenario)")
    err.print(f"egress-audit {__version__}: {len(plans)} run(s), capture {mode} ({why}), output {out}")

    def progress(plan, run_dir):
        m = json.loads((run_dir / "run.json").read_text())
        state = "ok" if m.get("complete") else "INCOMPLETE"
        codes = ",".join("-" if c is None else str(c) for c in m.get("exit_codes", []))
        err.print(f"  {plan.scenario.name}/{plan.name}: {state}, exit codes [{codes}]", markup=False)

    try:
        dirs = pipeline.execute(plans, get_backend(mode), out, jobs=jobs, on_done=progress)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]: sandboxes and processes cleaned up; the partial audit is incomplete")
        return 130
    audit = analysis.analyze_run_dirs(dirs, policy=pol, baseline=base, fail_on=fail_on, out=out,
                                      expected_runs=len(plans))
    return _finish(audit, out, formats)


ScenarioArgs = Annotated[list[Path], typer.Argument(help="Scenario files (YAML, schema_version 1).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Output directory.")]
FailOpt = Annotated[str, typer.Option("--fail-on", help="critical|high|medium|low|info|never")]
FormatOpt = Annotated[str, typer.Option("--format", help="Comma list of html,json,sarif,junit,md,har.")]
PolicyOpt = Annotated[Optional[Path], typer.Option("--policy", help="Policy overrides (YAML).")]
BaselineOpt = Annotated[Optional[Path], typer.Option("--baseline", help="Baseline file from `egress-audit baseline`.")]
ALL_FORMATS = "html,json,sarif,junit,md,har"


@app.command()
def run(scenarios: ScenarioArgs, out: OutOpt = None,
        variants: Annotated[Optional[str], typer.Option(help="Comma list of variants.")] = None,
        capture: Annotated[str, typer.Option(help="auto|tun|proxy")] = "auto",
        policy: PolicyOpt = None, baseline: BaselineOpt = None, fail_on: FailOpt = "high",
        format: FormatOpt = ALL_FORMATS,
        jobs: Annotated[int, typer.Option(help="Variants run in parallel.")] = 1,
        shard: Annotated[Optional[str], typer.Option(help="Run only shard I/N.")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Reproducible canary identity.")] = None) -> None:
    """Run scenarios in the capture sandbox, analyse, report."""
    raise typer.Exit(_run(scenarios, out, variants, capture, policy, baseline, fail_on, format, jobs,
                          shard, seed))


@app.command()
def demo(out: Annotated[Path, typer.Option("--out")] = Path("reports/demo"),
         capture: Annotated[str, typer.Option(help="auto|tun|proxy")] = "auto",
         fail_on: FailOpt = "never", seed: Annotated[Optional[int], typer.Option()] = None) -> None:
    """Audit the bundled demo program (a deliberately careless tool) into reports/demo/."""
    if not DEMO_SCENARIO.is_file():
        raise UsageError(f"{DEMO_SCENARIO}: the demo scenario is missing (run from a source checkout)")
    if out.exists():
        import shutil

        shutil.rmtree(out / "runs", ignore_errors=True)  # a re-run replaces the previous demo
    code = _run([DEMO_SCENARIO], out, None, capture, None, None, fail_on, ALL_FORMATS, 1, None, seed)
    if code in (0, 1):
        err.print(f"open {out / 'report.html'}")
    raise typer.Exit(code)


@app.command()
def analyze(inputs: Annotated[list[Path], typer.Argument(help="Run directories, .mitm or HAR files.")],
            identity: Annotated[Optional[Path], typer.Option(help="YAML of values to look for (SPEC §5 keys).")] = None,
            out: OutOpt = None, policy: PolicyOpt = None, baseline: BaselineOpt = None,
            fail_on: FailOpt = "high", format: FormatOpt = "json,md,html") -> None:
    """Analyse captured traffic without running anything."""
    from . import analysis, flowstore
    from .identity import load_file
    from .policy import load_baseline, load_policy

    fail_on = _fail_on(fail_on)
    formats = _formats(format)
    ident = load_file(identity) if identity else None
    kinds = {p: flowstore.detect_kind(p) for p in inputs}
    pol, base = load_policy(policy), load_baseline(baseline)
    if all(k == "rundir" for k in kinds.values()):
        dirs = [d for p in inputs for d in analysis.find_run_dirs(p)]
        audit = analysis.analyze_run_dirs(dirs, policy=pol, baseline=base, fail_on=fail_on,
                                          identity=ident, out=out)
    elif any(k == "rundir" for k in kinds.values()):
        raise UsageError("give either run directories or capture files (.mitm, HAR), not both")
    else:
        audit = analysis.analyze_captures(list(inputs), ident, policy=pol, baseline=base, fail_on=fail_on)
    if out is None:
        out_console.print_json(data={"complete": audit.complete,
                                     "findings": [f.to_json() for f in audit.findings]})
    raise typer.Exit(_finish(audit, out, tuple(f for f in formats if f != "har")))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="An audit output directory.")],
           policy: PolicyOpt = None, baseline: BaselineOpt = None, fail_on: FailOpt = "high",
           format: FormatOpt = ALL_FORMATS) -> None:
    """Re-render the reports of an audit directory from its run directories."""
    from . import analysis
    from .policy import load_baseline, load_policy

    audit = analysis.analyze_run_dirs(analysis.find_run_dirs(run_dir), policy=load_policy(policy),
                                      baseline=load_baseline(baseline), fail_on=_fail_on(fail_on), out=run_dir)
    raise typer.Exit(_finish(audit, run_dir, _formats(format)))


@app.command()
def baseline(run_dir: Annotated[Path, typer.Argument()],
             output: Annotated[Path, typer.Option("-o", "--output", help="Baseline file to write.")]) -> None:
    """Accept today's findings: later audits report them as baselined."""
    from . import analysis
    from .policy import write_baseline

    audit = analysis.analyze_run_dirs(analysis.find_run_dirs(run_dir))
    n = write_baseline(audit.findings, output)
    err.print(f"wrote {n} finding id(s) to {output}")


@app.command()
def allowlist(run_dir: Annotated[Path, typer.Argument()],
              format: Annotated[str, typer.Option(help="plain|harden-runner")] = "plain") -> None:
    """Endpoints seen, for egress firewalls."""
    from . import analysis

    if format not in ("plain", "harden-runner"):
        raise UsageError(f"--format {format}: expected plain or harden-runner")
    audit = analysis.analyze_run_dirs(analysis.find_run_dirs(run_dir))
    hosts = sorted({e.host for e in audit.endpoints if e.host})
    if format == "plain":
        for h in hosts:
            out_console.print(h, markup=False)
    else:
        out_console.print("allowed-endpoints: >", markup=False)
        for h in hosts:
            out_console.print(f"  {h}:443", markup=False)


@app.command("diff")
def diff_cmd(old: Annotated[Path, typer.Argument(help="Older audit directory or findings.json.")],
             new: Annotated[Path, typer.Argument(help="Newer audit directory or findings.json.")],
             fail_on: FailOpt = "high",
             format: Annotated[str, typer.Option(help="text|json")] = "text") -> None:
    """What changed between two audits; exit 1 when new findings reach --fail-on."""
    from . import diff as diff_mod

    fail_on = _fail_on(fail_on)
    if format not in ("text", "json"):
        raise UsageError(f"--format {format}: expected text or json")
    d = diff_mod.diff(diff_mod.load_findings(old), diff_mod.load_findings(new))
    if format == "json":
        out_console.print_json(data=diff_mod.to_json(d))
    else:
        out_console.print(diff_mod.to_text(d), markup=False)
    raise typer.Exit(1 if d.failing(fail_on) else 0)


@app.command()
def merge(run_dirs: Annotated[list[Path], typer.Argument(help="Audit directories (e.g. one per --shard).")],
          out: Annotated[Path, typer.Option("--out", help="Merged audit directory.")],
          policy: PolicyOpt = None, baseline: BaselineOpt = None, fail_on: FailOpt = "high",
          format: FormatOpt = ALL_FORMATS) -> None:
    """Combine shards into one audit and render its reports."""
    import shutil

    from . import analysis
    from .policy import load_baseline, load_policy

    fail_on, formats = _fail_on(fail_on), _formats(format)
    dirs = []
    for src in run_dirs:
        for d in analysis.find_run_dirs(src):
            target = out / "runs" / d.parent.name / d.name
            if target.exists():
                raise UsageError(f"{d}: run {d.parent.name}/{d.name} is in more than one input")
            shutil.copytree(d, target)
            dirs.append(target)
    audit = analysis.analyze_run_dirs(dirs, policy=load_policy(policy), baseline=load_baseline(baseline),
                                      fail_on=fail_on, out=out)
    raise typer.Exit(_finish(audit, out, formats))


@app.command()
def init(name: Annotated[str, typer.Argument(help="Scenario name ([a-z0-9._-]+).")]) -> None:
    """Scaffold a scenario file NAME.yaml in the current directory."""
    from .scenario import NAME_RE

    if not NAME_RE.fullmatch(name):
        raise UsageError(f"{name}: use only a-z, 0-9, '.', '_' and '-'")
    path = Path(f"{name}.yaml")
    if path.exists():
        raise UsageError(f"{path}: already exists")
    path.write_text(SCAFFOLD.replace("NAME", name), encoding="utf-8")
    err.print(f"wrote {path}: edit the steps, then `egress-audit run {path}`")


SCAFFOLD = """\
schema_version: 1
name: NAME
description: Install and first run of NAME
steps:
  - name: install
    run: pip install NAME
    timeout: 300
  - name: first-use
    run: NAME --help
    expect_exit: any
consent:
  denied: {env: {TOOL_TELEMETRY: "0"}}   # how the tool is told "no"; delete if it has no way
network:
  allow: ["@pip-index"]
expect:
  telemetry: []                           # documented telemetry endpoints (host or host/path glob)
repeat: 2
"""


@app.command()
def doctor() -> None:
    """Which capture modes work on this machine, and why not."""
    from .sandbox import doctor_report

    ok = True
    for name, good, detail in doctor_report():
        ok &= good or name.startswith("optional")
        out_console.print(f"{'ok ' if good else 'NO '} {name}: {detail}", markup=False)
    raise typer.Exit(0 if ok else 3)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except AuditorError as e:
        err.print(f"egress-audit: error: {e}", markup=False)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise
    sys.exit(code or 0)
