"""The `egress-audit` command line: parses, calls the pipeline, prints, maps errors to exit codes.

The only module that prints, together with progress.py (the live display it drives). Every user
mistake ends in one line and exit code 2, never a traceback. Tracebacks of real bugs never show
local variables: the process holds captured secrets, and CI logs keep tracebacks.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperArgument, TyperCommand
from typer.exceptions import TyperException

from . import __version__, outfiles
from .errors import AuditorError, UsageError
from .findings import SEVERITIES
from .identity import Identity
from .safetext import is_host_name, printable


class _Command(TyperCommand):
    """Plain help that reads like a man page: arguments by name, options with their choices or
    value name and default, then one example (the command's epilog)."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if isinstance(p, TyperArgument):
                name = p.metavar or p.name.upper()
                pieces.append(name if p.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter) -> None:
        args, opts = [], []
        for p in self.get_params(ctx):
            if isinstance(p, TyperArgument):
                args.append((p.metavar or p.name.upper(), (p.help or "") + ("  [required]" if p.required else "")))
            else:
                record = p.get_help_record(ctx)
                if record:
                    opts.append(record)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


def _example(*lines: str) -> str:
    # "\b" keeps click from re-wrapping the example lines into one paragraph.
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


app = typer.Typer(
    name="egress-audit", add_completion=True, no_args_is_help=True, rich_markup_mode=None,
    pretty_exceptions_show_locals=False, context_settings={"help_option_names": ["-h", "--help"]},
    help="Observe what software sends home: run it in a capture sandbox once per consent variant "
         "and report telemetry, personal and confidential data.",
    epilog=_example("egress-audit demo", "egress-audit run my-tool.yaml --fail-on critical"))
err = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)
FAIL_ON = (*SEVERITIES, "never")
FailOn = Literal[FAIL_ON]  # type: ignore[valid-type]
Capture = Literal["auto", "tun", "proxy"]
VERBOSITY = {"level": 1}  # 0 quiet, 1 normal, 2 verbose: set by the global -q/-v options


def _say(message: str, level: int = 1, style: str = "") -> None:
    """One line on stderr at verbosity `level` or more; the message is plain text, never markup."""
    if VERBOSITY["level"] >= level:
        err.print(Text(message, style=style))


def _version(value: bool) -> None:
    if value:
        out_console.print(f"egress-audit {__version__}", markup=False)
        raise typer.Exit(0)


@app.callback()
def _global(
        version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                              help="Print the version and exit.")] = False,
        quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the verdict and errors.")] = False,
        verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Also print the program's output and "
                                              "each connection as they happen.")] = False) -> None:
    if quiet and verbose:
        raise UsageError("-q and -v: choose one")
    VERBOSITY["level"] = 0 if quiet else 2 if verbose else 1


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


def _jobs(text: str) -> int:
    """0 for auto (decided where the work is known: runs planned, captures sized), else the number."""
    if text == "auto":
        return 0
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--jobs {text}: expected auto or a number of 1 or more")
    return int(text)


def _cache(text: str) -> Path | None:
    from .download_cache import default_dir

    if text == "off":
        return None
    return Path(text).expanduser() if text else default_dir()


def _finish(audit, out: Path | None, formats: tuple[str, ...]) -> int:
    from .report import render_all

    if out is not None:
        written = render_all(audit, out, formats)
        for p in written:
            if p.parent == out:
                _say(f"  wrote {printable(p)}")
    counted = audit.counted()
    by_sev = {s: sum(1 for f in counted if f.severity == s) for s in SEVERITIES}
    summary = ", ".join(f"{n} {s}" for s, n in by_sev.items() if n) or "no findings"
    from .report.view import uncontained

    summary += uncontained(audit)
    if not audit.complete:
        _say(f"INCOMPLETE: the audit could not capture fully — not a clean result ({summary})", 0, "bold red")
        for p in audit.problems[:10]:
            _say(f"  - {printable(p)}")
    elif audit.failing():
        _say(f"FAIL: {len(audit.failing())} finding(s) at or above {audit.fail_on} ({summary})", 0, "bold red")
    elif audit.fail_on == "never":
        _say(f"DONE: complete audit, --fail-on never ({summary})", 0, "bold")
    else:
        _say(f"PASS: nothing at or above {audit.fail_on} ({summary})", 0, "bold green")
    for f in audit.failing()[:15]:
        where = f" at {f.evidence.location}" if f.evidence else ""
        _say(printable(f"  {f.severity:8} {f.rule:11} {f.scenario}/{f.variant} {f.host}{where}"))
    return audit.exit_code


def _default_out(label: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / f"{label}-{stamp}"


def _run(scenarios: list[Path], out: Path | None, variants: str | None, capture: str, policy: Path | None,
         baseline: Path | None, fail_on: str, fmt: str, jobs: str, shard: str | None, seed: int | None,
         default_name: str = "audit", cache: str = "") -> int:
    from . import scenario
    from .policy import load_baseline, load_policy

    # Every input is checked before the capture machinery (mitmproxy) is even imported: a typo
    # costs the user a fraction of a second.
    fail_on = _fail_on(fail_on)
    formats = _formats(fmt)
    names = _variants(variants)
    loaded = [scenario.load(p) for p in scenarios]
    pol = load_policy(policy)
    base = load_baseline(baseline)
    n_jobs = _jobs(jobs)
    cache_dir = _cache(cache)

    from . import analysis, pipeline, progress
    from .sandbox import get_backend, select_mode

    mode, why = select_mode(capture)
    if out is None:
        out = _default_out(loaded[0].name if len(loaded) == 1 else default_name)
    # Steps and capture helpers run in other working directories: a relative --out would point
    # somewhere else for them (strace's witness file, for one).
    out = out.absolute()
    outfiles.make_dirs(out)
    ident = pipeline.new_identity(seed)
    plans = pipeline.shard(pipeline.plan(loaded, names, ident), shard)
    if not plans:
        raise UsageError("nothing to run: no applicable variant (denied/granted need consent in the scenario)")
    n_jobs = n_jobs or pipeline.auto_jobs(len(pipeline.groups_of(plans)))
    _say(printable(f"egress-audit {__version__}: {len(plans)} run(s), {n_jobs} at a time, capture {mode} ({why}), "
                   f"output {out}"))
    level = VERBOSITY["level"]
    live = level >= 1 and err.is_terminal and not err.is_dumb_terminal
    with ExitStack() as stack:
        events = None
        if level >= 1:
            events = stack.enter_context(progress.Display(err, len(plans), live=live, verbose=level >= 2,
                                                          header="egress-audit"))
        try:
            dirs = pipeline.execute(plans, get_backend(mode), out, jobs=n_jobs, cache=cache_dir,
                                    **({"events": events} if events else {}))
        except KeyboardInterrupt:
            stack.close()
            _say("interrupted: sandboxes and processes cleaned up; the partial audit is incomplete", 0, "red")
            return 130
    with err.status(f"analysing {len(dirs)} run(s)") if live else ExitStack():
        audit = analysis.analyze_run_dirs(dirs, policy=pol, baseline=base, fail_on=fail_on, out=out,
                                          expected_runs=len(plans))
    return _finish(audit, out, formats)


ScenarioArgs = Annotated[list[Path], typer.Argument(help="Scenario files (YAML, schema_version 1).",
                                                     metavar="SCENARIO.yaml...", show_default=False)]
OutOpt = Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Output directory.")]
FailOpt = Annotated[FailOn, typer.Option("--fail-on", metavar="|".join(FAIL_ON),
                                         help="Exit 1 when a finding reaches this severity.")]
FORMAT_HELP = "Comma list of html, json, sarif, junit, md, har."
FormatOpt = Annotated[str, typer.Option("--format", metavar="LIST", help=FORMAT_HELP)]
PolicyOpt = Annotated[Optional[Path], typer.Option("--policy", metavar="FILE",
                                                   help="Policy overrides (YAML: allow, severities, ignore).")]
BaselineOpt = Annotated[Optional[Path], typer.Option("--baseline", metavar="FILE",
                                                     help="Baseline from `egress-audit baseline`: its findings "
                                                          "are reported as baselined, not counted.")]
CaptureOpt = Annotated[Capture, typer.Option("--capture", metavar="auto|tun|proxy",
                                             help="tun: full capture in a network namespace; proxy: clients "
                                                  "that honour proxy variables; auto: tun where it works.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", metavar="N",
                                                help="Reproducible canary identity (default: random).")]
ALL_FORMATS = "html,json,sarif,junit,md,har"


@app.command(cls=_Command, epilog=_example(
    "egress-audit run my-tool.yaml --variants unset,denied,dnt --fail-on critical --out reports/my-tool"))
def run(scenarios: ScenarioArgs,
        out: Annotated[Optional[Path], typer.Option(
            "--out", metavar="DIR", help="Output directory [default: reports/SCENARIO-UTCTIME/].")] = None,
        variants: Annotated[Optional[str], typer.Option(
            metavar="LIST", help="Comma list of unset, denied, dnt, granted, ci, tty, untrusted-ca "
                                 "[default: the scenario's variants, else every applicable one].")] = None,
        capture: CaptureOpt = "auto",
        policy: PolicyOpt = None, baseline: BaselineOpt = None, fail_on: FailOpt = "high",
        format: FormatOpt = ALL_FORMATS,
        jobs: Annotated[str, typer.Option(metavar="N|auto", help="Runs in parallel: a number, or auto "
                                          "(one per core, as memory allows).")] = "auto",
        shard: Annotated[Optional[str], typer.Option(metavar="I/N", help="Run only shard I of N; "
                                                     "combine the shards with `egress-audit merge`.")] = None,
        seed: SeedOpt = None,
        cache: Annotated[str, typer.Option(metavar="DIR|off", help="Download cache for immutable package "
                                           "files, shared by audits [default: ~/.cache/egress-auditor]; off: "
                                           "fetch every download live.")] = "") -> None:
    """Run scenarios in the capture sandbox, once per consent variant; analyse; write the reports."""
    raise typer.Exit(_run(scenarios, out, variants, capture, policy, baseline, fail_on, format, jobs,
                          shard, seed, cache=cache))


@app.command(cls=_Command, epilog=_example("egress-audit demo --out reports/demo"))
def demo(out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Output directory.")] = Path("reports/demo"),
         capture: CaptureOpt = "auto", fail_on: FailOpt = "never", seed: SeedOpt = None) -> None:
    """Audit the bundled demo program (a deliberately careless tool) and write its reports."""
    if out.exists():
        import shutil

        shutil.rmtree(out / "runs", ignore_errors=True)  # a re-run replaces the previous demo
    # The demo ships inside the package, so it runs from a wheel or pipx install as from a checkout.
    with resources.as_file(resources.files("auditor") / "demo") as folder:
        scenario_file = folder / "scenario.yaml"
        if not scenario_file.is_file():
            raise UsageError(f"{scenario_file}: the demo scenario is missing from this installation")
        code = _run([scenario_file], out, None, capture, None, None, fail_on, ALL_FORMATS, "auto", None, seed)
    if code in (0, 1):
        _say(f"open {out / 'report.html'}")
    raise typer.Exit(code)


IDENTITY_KEYS = ", ".join([*(k for k in Identity.__dataclass_fields__ if k != "real"), "mac"])


@app.command(cls=_Command, epilog=_example(
    "egress-audit analyze capture.mitm --identity me.yaml --out reports/capture"))
def analyze(inputs: Annotated[list[Path], typer.Argument(help="Run directories, mitmproxy .mitm files or HAR files.",
                                                         metavar="INPUT...", show_default=False)],
            identity: Annotated[Optional[Path], typer.Option(
                metavar="FILE", help=f"YAML of known personal or confidential values to look for; keys: "
                                     f"{IDENTITY_KEYS}.")] = None,
            out: Annotated[Optional[Path], typer.Option(
                "--out", metavar="DIR", help="Write reports here [default: print the findings as JSON].")] = None,
            policy: PolicyOpt = None, baseline: BaselineOpt = None,
            fail_on: FailOpt = "high", format: FormatOpt = "json,md,html",
            jobs: Annotated[str, typer.Option(metavar="N|auto", help="Worker processes for captures over "
                                              "64 MB: a number, or auto (one per core).")] = "auto") -> None:
    """Analyse captured traffic without running anything."""
    from . import analysis, flowstore
    from .identity import load_file
    from .policy import load_baseline, load_policy

    fail_on = _fail_on(fail_on)
    formats = _formats(format)
    n_jobs = _jobs(jobs)
    ident = load_file(identity) if identity else None
    kinds = {p: flowstore.detect_kind(p) for p in inputs}
    pol, base = load_policy(policy), load_baseline(baseline)
    if all(k == "rundir" for k in kinds.values()):
        dirs = [d for p in inputs for d in analysis.find_run_dirs(p)]
        audit = analysis.analyze_run_dirs(dirs, policy=pol, baseline=base, fail_on=fail_on,
                                          identity=ident, out=out, jobs=n_jobs)
    elif any(k == "rundir" for k in kinds.values()):
        raise UsageError("give either run directories or capture files (.mitm, HAR), not both")
    else:
        audit = analysis.analyze_captures(list(inputs), ident, policy=pol, baseline=base, fail_on=fail_on,
                                          jobs=n_jobs)
    if out is None:
        out_console.print_json(data={"complete": audit.complete,  # ASCII: C1 and bidi as escapes
                                     "findings": [f.to_json() for f in audit.findings]}, ensure_ascii=True)
    raise typer.Exit(_finish(audit, out, tuple(f for f in formats if f != "har")))


@app.command(cls=_Command, epilog=_example("egress-audit report reports/my-tool-20250102T030405Z --fail-on medium"))
def report(run_dir: Annotated[Path, typer.Argument(help="An audit output directory.", metavar="AUDIT_DIR")],
           out: Annotated[Optional[Path], typer.Option(
               "--out", metavar="DIR", help="Write the reports here [default: AUDIT_DIR].")] = None,
           policy: PolicyOpt = None, baseline: BaselineOpt = None, fail_on: FailOpt = "high",
           format: FormatOpt = ALL_FORMATS) -> None:
    """Re-render the reports of an audit directory from its run directories."""
    from . import analysis
    from .policy import load_baseline, load_policy

    target = out or run_dir
    audit = analysis.analyze_run_dirs(analysis.find_run_dirs(run_dir), policy=load_policy(policy),
                                      baseline=load_baseline(baseline), fail_on=_fail_on(fail_on), out=target)
    raise typer.Exit(_finish(audit, target, _formats(format)))


@app.command(cls=_Command, epilog=_example("egress-audit baseline reports/my-tool-20250102T030405Z --out baseline.json"))
def baseline(run_dir: Annotated[Path, typer.Argument(help="An audit output directory.", metavar="AUDIT_DIR")],
             out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE",
                                               help="Baseline file to write.")]) -> None:
    """Accept today's findings: later audits report them as baselined."""
    from . import analysis
    from .policy import write_baseline

    audit = analysis.analyze_run_dirs(analysis.find_run_dirs(run_dir))
    n = write_baseline(audit.findings, out)
    err.print(f"wrote {n} finding id(s) to {out}", markup=False)


WriteOpt = Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE",
                                                  help="Write to this file instead of standard output.")]


@app.command(cls=_Command, epilog=_example("egress-audit allowlist reports/my-tool-20250102T030405Z --format harden-runner"))
def allowlist(run_dir: Annotated[Path, typer.Argument(help="An audit output directory.", metavar="AUDIT_DIR")],
              format: Annotated[Literal["plain", "harden-runner"], typer.Option(
                  metavar="plain|harden-runner", help="host:port lines, or the `with:` of "
                                                      "step-security/harden-runner.")] = "plain",
              out: WriteOpt = None) -> None:
    """Functional endpoints the audit let through, as host:port, for egress firewalls."""
    from . import analysis
    from .policy import firewall_entries

    audit = analysis.analyze_run_dirs(analysis.find_run_dirs(run_dir))
    entries = firewall_entries(audit.endpoints)
    # Host names are captured text: a newline in a DNS label must not add a line to a firewall.
    for e in [e for e in entries if not is_host_name(e.rpartition(":")[0])]:
        _say(printable(f"skipped {e}: not a valid host name or address"), 0)
        entries.remove(e)
    if format == "plain":
        text = "".join(f"{e}\n" for e in entries)
    elif entries:
        text = "egress-policy: block\nallowed-endpoints: >\n" + "".join(f"  {e}\n" for e in entries)
    else:
        text = "egress-policy: block\nallowed-endpoints: ''\n"
    if out is not None:
        outfiles.write_text(out, text)
        err.print(f"wrote {len(entries)} endpoint(s) to {out}", markup=False)
    else:
        sys.stdout.write(text)
    if not audit.complete:
        err.print("note: the audit is incomplete: endpoints it could not observe are missing", markup=False)


@app.command("diff", cls=_Command, epilog=_example("egress-audit diff reports/v1.4 reports/v1.5 --fail-on high",
                                                   "egress-audit diff reports/v1.4 reports/v1.5 --format md"))
def diff_cmd(old: Annotated[Path, typer.Argument(help="Older audit directory or findings.json.", metavar="OLD")],
             new: Annotated[Path, typer.Argument(help="Newer audit directory or findings.json.", metavar="NEW")],
             fail_on: FailOpt = "high",
             format: Annotated[Literal["text", "json", "md"], typer.Option(metavar="text|json|md",
                                                                           help="Output format.")] = "text",
             out: WriteOpt = None) -> None:
    """What changed per endpoint between two audits; exit 1 when new findings reach --fail-on."""
    from . import diff as diff_mod

    fail_on = _fail_on(fail_on)
    d = diff_mod.diff(diff_mod.load_findings(old), diff_mod.load_findings(new))
    if format == "json":
        text = json.dumps(diff_mod.to_json(d), indent=2) + "\n"  # ASCII: lone surrogates stay escapes
    elif format == "md":
        text = diff_mod.to_markdown(d)
    else:
        text = diff_mod.to_text(d) + "\n"
    if out is not None:
        outfiles.write_text(out, text, errors="backslashreplace")
        err.print(diff_mod.headline(d), markup=False)
    else:
        sys.stdout.write(text)
    raise typer.Exit(1 if d.failing(fail_on) else 0)


@app.command(cls=_Command, epilog=_example("egress-audit merge shard-1 shard-2 --out reports/merged"))
def merge(run_dirs: Annotated[list[Path], typer.Argument(help="Audit directories (e.g. one per --shard).",
                                                         metavar="AUDIT_DIR...")],
          out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Merged audit directory.")],
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
            # Links are copied as links, never followed (a run directory is the program's output),
            # and a linked run directory is not merged at all.
            if any(p.is_symlink() for p in (src / "runs", d.parent, d)):
                raise UsageError(f"{d}: is (inside) a symbolic link; refusing to merge through it")
            target = outfiles.make_dirs(out, "runs", d.parent.name) / d.name
            if target.exists() or target.is_symlink():
                raise UsageError(f"{d}: run {d.parent.name}/{d.name} is in more than one input")
            shutil.copytree(d, target, symlinks=True)
            target.chmod(outfiles.DIR_MODE)
            dirs.append(target)
    audit = analysis.analyze_run_dirs(dirs, policy=load_policy(policy), baseline=load_baseline(baseline),
                                      fail_on=fail_on, out=out)
    raise typer.Exit(_finish(audit, out, formats))


@app.command(cls=_Command, epilog=_example("egress-audit init my-tool", "egress-audit init my-app --tool nextjs",
                                           "egress-audit run my-tool.yaml"))
def init(name: Annotated[str, typer.Argument(help="Scenario name: lower-case letters, digits, '.', '_', '-'.",
                                             metavar="NAME")],
         out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE",
                                                     help="Scenario file to write [default: NAME.yaml].")] = None,
         tool: Annotated[Optional[str], typer.Option(
             "--tool", metavar="ID", help="A tool of the consent catalog (e.g. nextjs, dvc): its documented "
                                          "opt-out and opt-in fill consent.denied/granted.")] = None) -> None:
    """Scaffold a scenario file to edit, then run."""
    from . import optouts
    from .scenario import NAME_RE

    if not NAME_RE.fullmatch(name):
        raise UsageError(f"{name}: use only a-z, 0-9, '.', '_' and '-'")
    path = out or Path(f"{name}.yaml")
    if path.exists():
        raise UsageError(f"{path}: already exists")
    text = SCAFFOLD.replace("NAME", name)
    if tool is not None:
        product = optouts.find(tool)
        if product is None:
            near = optouts.suggestions(tool)
            raise UsageError(f"--tool {tool}: not in the consent catalog"
                             + (f" (did you mean {', '.join(near)}?)" if near else ""))
        text = optouts.scaffold(name, product)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    _say(f"wrote {path}: edit the steps, then `egress-audit run {path}`")


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
  functional: []                          # declared non-telemetry egress (update checks)
repeat: 2
"""


@app.command(cls=_Command, epilog=_example("egress-audit doctor"))
def doctor() -> None:
    """Which capture modes work on this machine, and why not."""
    from .sandbox import doctor_report

    ok = True
    for name, good, detail in doctor_report():
        ok &= good or name.startswith("optional")
        out_console.print(f"{'ok ' if good else 'NO '} {name}: {detail}", markup=False)
    raise typer.Exit(0 if ok else 3)


def _usage_line(e: TyperException) -> str:
    """A usage error as one line: which command, what is wrong, where help is."""
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else "egress-audit"
    text = e.format_message().strip()
    message = text.splitlines()[0].replace("Value error, ", "").rstrip(".") if text else "usage error"
    hint = ""
    option = getattr(e, "option_name", "")
    if option in ("-q", "--quiet", "-v", "--verbose", "--version") and command != "egress-audit":
        hint = f"; {option} goes before the command (egress-audit {option} ...)"
    return f"{command}: error: {message}{hint} (see {command} --help)".replace(" (Possible options:", " (did you mean")


def main(argv: list[str] | None = None) -> None:

    try:
        code = app(args=argv, prog_name="egress-audit", standalone_mode=False)
    except AuditorError as e:
        err.print(Text(printable(f"egress-audit: error: {e}")))
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except OSError as e:
        if not e.filename:
            raise
        # A file the user named cannot be read or written (missing folder, permissions, full disk).
        err.print(Text(printable(f"egress-audit: error: {e.filename}: {e.strerror or e}")))
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", markup=False)
        sys.exit(130)
    except TyperException as e:  # click's usage errors (typer ships its own copy of click)
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `egress-audit`: the help, as a usage error
            err.print(Text(e.format_message()))
            sys.exit(2)
        err.print(Text(printable(_usage_line(e))))
        sys.exit(2 if e.exit_code in (1, 2) else e.exit_code)
    sys.exit(code or 0)
