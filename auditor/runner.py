"""Run one scenario variant in a capture sandbox and write its run directory.

Per run: fresh HOME and project dir with the canary identity planted → capture up → consent
commands and steps (timeouts, process-tree kill, output with timestamps) → linger for detached
senders → capture down → run.json. Everything later is computed from the run directory alone.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import __version__, homefiles, outfiles, proctree
from .errors import CaptureError
from .identity import Identity
from .sandbox import Backend, SessionInfo, isolation
from .sandbox.box import BoxSpec
from .sandbox.mitm import CACHE_LINK
from .scenario import Answer, Scenario, Step
from .variants import Variant, consent_for, variant_env

RUN_SCHEMA = 1
LINGER = float(os.environ.get("EGRESS_AUDIT_LINGER", "3"))
# Host variables a toolchain needs to work at all; everything else of the host stays out.
PASS_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYENV_ROOT", "PYENV_VERSION", "NVM_DIR", "JAVA_HOME",
            "GOROOT", "GOPATH", "CARGO_HOME", "RUSTUP_HOME", "GOPROXY", "GOFLAGS")
PASS_PREFIXES = ("PIP_", "npm_config_", "UV_")
NEVER_PASS = ("PIP_CERT", "npm_config_cafile", "PIP_CLIENT_CERT")
GIT_DATE = "2024-01-02T03:04:05+00:00"
# Set when the audit is interrupted: runs in worker threads (--jobs) stop at their next check.
CANCEL = threading.Event()


# What a line left open on a terminal looks like when it asks something (a spinner or a progress
# bar also pauses without a newline, but asks nothing).
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.)")
_PROMPT = re.compile(r"(?i)([?:>\])]\s*$|\(y/n\)|\[y/n\]|\by(es)?/no?\b|press (enter|return|any key)|continue\b)")


def _check_cancel() -> None:
    if CANCEL.is_set():
        raise KeyboardInterrupt("audit cancelled")


@dataclass
class RunPlan:
    scenario: Scenario
    variant: Variant
    name: str  # run directory name: unset, unset-2, …
    identity: Identity
    same_home_as: str = ""  # name of the run whose HOME is reused (PRIV-004 rerun)
    twin: str = ""  # machine | user | project: the identity part this extra base run changes


class RunEvents(Protocol):
    """What a run tells an onlooker while it happens (the CLI's live progress).

    Called at the run and step boundaries only, from the thread running the plan (several at once
    with --jobs); implementations must be quick and thread-safe and must not raise. Flows captured
    so far are not reported here: the onlooker counts them in the run directory itself.
    """

    def run_started(self, plan: RunPlan, run_dir: Path) -> None: ...
    def step_started(self, plan: RunPlan, step: Step) -> None: ...
    def step_ended(self, plan: RunPlan, step: Step, result: dict) -> None: ...
    def run_ended(self, plan: RunPlan, run_dir: Path) -> None: ...


class NoEvents:
    def run_started(self, plan: RunPlan, run_dir: Path) -> None:
        pass

    def step_started(self, plan: RunPlan, step: Step) -> None:
        pass

    def step_ended(self, plan: RunPlan, step: Step, result: dict) -> None:
        pass

    def run_ended(self, plan: RunPlan, run_dir: Path) -> None:
        pass


class OutputLog:
    """output.jsonl: one line per line of output, with time, stream and step."""

    def __init__(self, path: Path):
        self._fo = outfiles.open_append(path)
        self._lock = threading.Lock()

    def write(self, stream: str, step: str, text: str) -> None:
        line = json.dumps({"t": round(time.time(), 6), "stream": stream, "step": step, "text": text})
        with self._lock:
            if not self._fo.closed:  # a reader of a killed background process may be late
                self._fo.write(line + "\n")
                self._fo.flush()

    def close(self) -> None:
        with self._lock:
            self._fo.close()


def _host_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if (k in PASS_ENV or k.startswith(PASS_PREFIXES)) and k not in NEVER_PASS}
    real_home = Path(os.path.expanduser("~"))
    # Toolchain managers find themselves through HOME, which the sandbox replaces.
    for var, sub in (("PYENV_ROOT", ".pyenv"), ("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup"),
                     ("NVM_DIR", ".nvm")):
        if var not in env and (real_home / sub).is_dir():
            env[var] = str(real_home / sub)
    return env


def plant(identity: Identity, home: Path, work: Path, files: tuple[tuple[str, str], ...]) -> list[str]:
    """Create HOME and the project (a git repo with a canary remote); return notes."""
    notes = []
    (home / ".config").mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        f"[user]\n\tname = {identity.full_name}\n\temail = {identity.email}\n"
        "[init]\n\tdefaultBranch = main\n", encoding="utf-8")
    for rel, content in files:
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    git = shutil.which("git")
    if not git:
        return ["git not found: the project is not a git repository, git_remote not planted"]
    # A fixed commit time: every run of the same project has the same root commit, as a real project
    # does, so that an identifier derived from it follows the project and not the run.
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE}
    if not (work / ".git").exists():
        if not (work / "README.md").exists():
            (work / "README.md").write_text(f"# {identity.project_name}\n", encoding="utf-8")
        for argv in (["init", "-q"], ["remote", "add", "origin", identity.git_remote],
                     ["add", "-A"], ["commit", "-q", "-m", "initial import"]):
            r = subprocess.run([git, *argv], cwd=work, env=env, capture_output=True, text=True)
            if r.returncode:
                notes.append(f"git {argv[0]} failed: {r.stderr.strip()[:200]}")
    return notes


def _reap(proc: subprocess.Popen) -> None:
    """Collect the step's exit status; a step that ignores its tree's SIGKILL cannot exist, but a
    zombie-holding parent can, so do not wait forever."""
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _git_root_commit(work: Path) -> str:
    git = shutil.which("git")
    if not git:
        return ""
    r = subprocess.run([git, "rev-list", "--max-parents=0", "HEAD"], cwd=work, capture_output=True,
                       text=True, env={"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1"})
    return r.stdout.split()[0] if r.returncode == 0 and r.stdout.strip() else ""


class StepRunner:
    def __init__(self, run_id: str, env: dict[str, str], cwd: Path | str, log: OutputLog,
                 session, prefix: list[str], exclude: set[int], launch=None, pidns: str = ""):
        self.run_id, self.env, self.cwd, self.log = run_id, env, cwd, log
        self.session, self.prefix, self.exclude = session, prefix, exclude
        # A contained run starts its steps in its sandbox (same interface as subprocess.Popen);
        # its processes are the members of the sandbox's PID namespace.
        self.launch, self.pidns = launch or subprocess.Popen, pidns
        self.roots: set[int] = set()
        self.notice_at: float | None = None

    def run(self, step: Step, tty: bool) -> dict:
        started = time.time()
        argv = [*self.prefix, "bash", "-c", step.run]
        result = {"name": step.name, "run": step.run, "started": started, "tty": tty}
        if tty:
            code, timed_out = self._run_pty(argv, step)
        else:
            code, timed_out = self._run_pipes(argv, step)
        result.update(ended=time.time(), exit_code=code, timed_out=timed_out,
                      expect_exit=step.expect_exit)
        if timed_out:
            self.log.write("audit", step.name, f"step timed out after {step.timeout:g} s; process tree killed")
        return result

    def _spawn(self, argv, **kw) -> subprocess.Popen:
        proc = self.launch(argv, cwd=self.cwd, env=self.env, start_new_session=True, **kw)
        self.roots.add(proc.pid)
        return proc

    def _run_pipes(self, argv, step: Step) -> tuple[int | None, bool]:
        proc = self._spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        readers = [threading.Thread(target=self._pump, args=(pipe, name, step.name), daemon=True)
                   for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
        for t in readers:
            t.start()
        timed_out = not self._wait(proc, step.timeout)
        # A detached child may keep the pipes open: its output is still logged while it runs, but
        # the next step does not wait for it (the linger at the end does).
        deadline = time.monotonic() + 1.0
        for t in readers:
            t.join(max(0.0, deadline - time.monotonic()))
        return (None if timed_out else proc.returncode), timed_out

    def _wait(self, proc: subprocess.Popen, timeout: float) -> bool:
        """Wait for the step; on timeout kill its whole tree. Checks the capture is alive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                proc.wait(0.2)
                return True
            except subprocess.TimeoutExpired:
                self.session.check()
                if CANCEL.is_set():
                    self.kill_tree(proc)
                    _check_cancel()
        self.kill_tree(proc)
        _reap(proc)
        return False

    def kill_tree(self, proc) -> None:
        proctree.kill(self.run_id, {proc.pid}, self.exclude, pidns=self.pidns)

    def _pump(self, pipe, stream: str, step: str) -> None:
        for raw in iter(pipe.readline, b""):
            self.log.write(stream, step, raw.decode("utf-8", "replace").rstrip("\r\n"))
        pipe.close()

    def _run_pty(self, argv, step: Step) -> tuple[int | None, bool]:
        master, slave = pty.openpty()
        env = dict(self.env, TERM="xterm-256color")
        proc = self.launch(argv, cwd=self.cwd, env=env, stdin=slave, stdout=slave,
                           stderr=slave, start_new_session=True)
        self.roots.add(proc.pid)
        os.close(slave)
        answers: list[Answer] = list(step.answers)
        pending, text, last_output, enters = "", "", time.monotonic(), 0
        deadline = time.monotonic() + step.timeout
        timed_out = False
        while True:
            if time.monotonic() > deadline:
                timed_out = True
                break
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536).decode("utf-8", "replace")
                except OSError:  # EIO: the terminal closed
                    break
                if not chunk:
                    break
                last_output = time.monotonic()
                pending += chunk
                text += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    self.log.write("tty", step.name, line.rstrip("\r"))
                for a in list(answers):
                    if a.expect.search(text):
                        os.write(master, (a.send + "\n").encode())
                        self.log.write("audit", step.name, f"answered prompt /{a.expect.pattern}/")
                        answers.remove(a)
                        text = ""
            elif proc.poll() is not None:
                break
            elif time.monotonic() - last_output > 1.0 and pending.strip() and enters < 5:
                # A prompt is waiting with no scripted answer: press Enter, as a hurried user would.
                os.write(master, b"\n")
                self.log.write("audit", step.name, "pressed Enter at an unanswered prompt" if _PROMPT.search(_ANSI.sub("", pending))
                               else "pressed Enter (output paused without a newline)")
                enters += 1
                last_output = time.monotonic()
            self.session.check()
            if CANCEL.is_set():
                self.kill_tree(proc)
                os.close(master)
                _check_cancel()
        if pending:
            self.log.write("tty", step.name, pending.rstrip("\r"))
        if timed_out:
            self.kill_tree(proc)
        _reap(proc)
        os.close(master)
        return (None if timed_out else proc.returncode), timed_out


def _snapshot_home(home: Path, run_dir: Path, manifest: dict) -> None:
    """Keep what the run wrote under HOME (bounded) for the analysis: where identifiers live."""
    try:
        homefiles.snapshot(home, run_dir)
    except (OSError, ValueError) as e:
        manifest["notes"].append(f"HOME files not recorded: {e}")


def _audit_paths(out: Path, state_dir: Path) -> tuple[Path, ...]:
    """What a contained program must not see: the run directories, the audit's state (CA key),
    the download cache it links to."""
    paths = [out.resolve() / "runs", state_dir.resolve()]
    cache = state_dir / CACHE_LINK
    if cache.is_dir():
        paths.append(cache.resolve())
    return tuple(paths)


def host_paths(plan: RunPlan, sandbox_root: Path) -> tuple[Path, Path]:
    """Where a run's HOME and work dir are on the host (they stay until the audit ends)."""
    home = sandbox_root / "home" / plan.identity.username
    return home, home / "src" / plan.identity.project_name


def run(plan: RunPlan, backend: Backend, out: Path, state_dir: Path, allow: tuple[str, ...],
        sandbox_root: Path, events: RunEvents = NoEvents()) -> Path:
    """Execute one planned run; return its run directory. Raises CaptureError if capture died."""
    sc, variant = plan.scenario, plan.variant
    run_dir = outfiles.make_dirs(out, "runs", sc.name, plan.name)
    events.run_started(plan, run_dir)
    contained = isolation.problem() is None
    # HOME and work dir on the host (kept until the audit ends, readable by the audit) and as the
    # program sees them: in a sandbox the same path in every run (/home/<user>/src/<project>).
    home, work = host_paths(plan, sandbox_root)
    identity = plan.identity.with_home(f"/home/{plan.identity.username}" if contained else str(home))
    if not plan.same_home_as and sandbox_root.exists():
        shutil.rmtree(sandbox_root / "home", ignore_errors=True)  # a fresh HOME for every run
    notes = plant(identity, home, work, sc.files)
    root = _git_root_commit(work)
    if root:
        identity = Identity.from_json({**identity.to_json(), "git_root_commit": root})
    tmp = sandbox_root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    run_id = f"{sc.name}/{plan.name}/{os.getpid()}/{time.monotonic_ns()}"
    manifest = {
        "schema_version": RUN_SCHEMA, "tool_version": __version__, "scenario": sc.name,
        "scenario_path": str(sc.path), "scenario_root": str(sc.source_root or ""),
        "scenario_lines": sc.lines, "run": plan.name, "variant": variant.name,
        "same_home_as": plan.same_home_as, "twin": plan.twin, "identity": identity.to_json(),
        "expect": {"telemetry": list(sc.expect_telemetry), "functional": list(sc.expect_functional),
                   "notice": sc.notice.pattern if sc.notice else None},
        "allow": list(allow), "declared_allow": list(sc.allow),
        "consent": {"denied": sc.denied is not None, "granted": sc.granted is not None,
                    **{f"{k}_how": {"env": dict(c.env), "run": list(c.run)}
                       for k, c in (("denied", sc.denied), ("granted", sc.granted)) if c is not None}},
        "software": {"name": sc.software.name, "version": sc.software.version},
        "started": time.time(), "steps": [], "problems": [], "notes": notes,
    }
    log = OutputLog(run_dir / "output.jsonl")
    session = runner = None
    steps_out: list[dict] = manifest["steps"]
    box = None
    if contained:
        box = BoxSpec(home=home, home_inside=identity.home, username=identity.username,
                      full_name=identity.full_name, hostname=identity.hostname,
                      scenario_dir=Path(sc.dir).resolve(), hide=_audit_paths(out, state_dir))
    manifest["isolation"] = isolation.current().to_json()
    try:
        session = backend.start(run_dir, allow, state_dir, variant.untrusted_ca, identity=identity, box=box)
        info: SessionInfo = session.info
        manifest.update(capture=info.mode, coverage=list(info.coverage), coverage_note=info.coverage_note)
        if info.isolation is not None:
            manifest["isolation"] = info.isolation.to_json()
        manifest.update(info.manifest)
        manifest["planted"] = list(info.planted)
        env = _host_env()
        env.update(
            HOME=identity.home, USER=identity.username, LOGNAME=identity.username, SHELL="/bin/bash",
            HOSTNAME=identity.hostname, TMPDIR="/tmp" if box else str(tmp), TERM="dumb",
            LANG=env.get("LANG", "C.UTF-8"),
            SCENARIO_DIR=str(sc.dir), AWS_ACCESS_KEY_ID=identity.aws_access_key_id,
            AWS_SECRET_ACCESS_KEY=identity.aws_secret_access_key, GITHUB_TOKEN=identity.github_token,
            NPM_TOKEN=identity.npm_token, PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(info.env)
        env.update(variant_env(variant, sc, identity))
        env[proctree.MARKER] = run_id
        manifest["env"] = {k: ("<planted>" if k in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "NPM_TOKEN") else v)
                           for k, v in sorted(env.items()) if k not in os.environ or os.environ[k] != v}
        runner = StepRunner(run_id, env, identity.project_path if box else work, log, session, info.prefix,
                            set(info.pids), launch=info.launch, pidns=info.pidns)
        consent = consent_for(variant, sc)
        pre = [Step(name=f"consent-{variant.consent}-{i + 1}", run=cmd, expect_exit=0)
               for i, cmd in enumerate(consent.run if consent else ())]
        for step in (*pre, *sc.steps):
            events.step_started(plan, step)
            result = runner.run(step, tty=variant.tty or step.tty)
            steps_out.append(result)
            events.step_ended(plan, step, result)
            if result["timed_out"]:
                manifest["notes"].append(f"step {step.name!r} timed out after {step.timeout:g} s and was killed")
            if step.expect_exit is not None and result["exit_code"] != step.expect_exit:
                # The program did not do what the scenario says (a failed install never reaches its
                # telemetry): observing less than intended must not pass for a clean result.
                code = "no exit code (timed out)" if result["exit_code"] is None else f"exit code {result['exit_code']}"
                manifest["problems"].append(f"step {step.name!r} ended with {code}, expected "
                                            f"{step.expect_exit}: the scenario did not run as written")
        quiet = proctree.wait_quiet(run_id, runner.roots, set(info.pids), LINGER, pidns=info.pidns)
        if not quiet:
            n = proctree.kill(run_id, runner.roots, set(info.pids), pidns=info.pidns)
            log.write("audit", "linger", f"{n} process(es) still running after the {LINGER:g} s linger; killed")
            manifest["notes"].append(f"{n} background process(es) killed after the linger")
        session.check()
    except CaptureError as e:
        manifest["problems"].append(str(e))
    except BaseException as e:  # Ctrl-C / SIGTERM: record, clean up, re-raise
        manifest["problems"].append(f"interrupted ({type(e).__name__})")
        raise
    finally:
        roots = runner.roots if runner else set()
        exclude = set(session.info.pids) if session else set()
        proctree.kill(run_id, roots, exclude, grace=1.0, pidns=session.info.pidns if session else "")
        _snapshot_home(home, run_dir, manifest)
        if session is not None:
            manifest["problems"] += session.stop()
        log.close()
        manifest["ended"] = time.time()
        manifest["exit_codes"] = [s["exit_code"] for s in steps_out]
        manifest["complete"] = not manifest["problems"]
        outfiles.write_text(run_dir / "run.json", json.dumps(manifest, indent=2) + "\n")
    return run_dir
