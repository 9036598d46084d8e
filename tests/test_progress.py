"""The live progress display: what it counts, what it prints, and that captured text stays inert."""

import io
import json

import pytest
from mitmproxy import io as mio
from mitmproxy.test import tflow
from rich.console import Console

from auditor import progress, scenario
from auditor.identity import generate
from auditor.runner import RunPlan
from auditor.variants import resolve

HOSTILE = "\x1b[31mred\x1b]0;title\x07 [bold]markup[/bold] :smile: \u202eevil"


def test_flow_counter_walks_records_and_waits_for_a_partial_one(tmp_path):
    path = tmp_path / "flows.mitm"
    counter = progress.FlowCounter(path)
    assert counter.poll() == 0  # not written yet
    buf = io.BytesIO()
    writer = mio.FlowWriter(buf)
    for _ in range(3):
        writer.add(tflow.tflow(resp=True))
    writer.add(tflow.tdnsflow(resp=True))
    data = buf.getvalue()
    path.write_bytes(data[:-10])  # the last record half written
    assert counter.poll() == 3
    path.write_bytes(data)
    assert counter.poll() == 4
    assert counter.poll() == 4  # incremental: nothing counted twice
    with open(path, "rb") as fo:
        assert len(list(mio.FlowReader(fo).stream())) == 4


def test_flow_counter_stops_at_garbage(tmp_path):
    path = tmp_path / "flows.mitm"
    path.write_bytes(b"not a flow file at all")
    assert progress.FlowCounter(path).poll() == 0


def test_line_tail_returns_complete_lines_only(tmp_path):
    path = tmp_path / "output.jsonl"
    tail = progress.LineTail(path)
    path.write_text('{"text": "a"}\n{"text": "b"}\n{"text": "c')
    assert [i["text"] for i in tail.poll()] == ["a", "b"]
    with open(path, "a") as fo:
        fo.write('"}\nnot json\n')
    assert [i["text"] for i in tail.poll()] == ["c"]


@pytest.mark.parametrize("result, ok, text", [
    ({"started": 1.0, "ended": 3.5, "exit_code": 0, "expect_exit": 0, "timed_out": False}, True, "exit 0, 2.5 s"),
    ({"started": 1.0, "ended": 2.0, "exit_code": 1, "expect_exit": None, "timed_out": False}, True, "exit 1, 1.0 s"),
    ({"started": 1.0, "ended": 2.0, "exit_code": 1, "expect_exit": 0, "timed_out": False}, False,
     "exit 1 (expected 0), 1.0 s"),
    ({"started": 0.0, "ended": 30.0, "exit_code": None, "expect_exit": 0, "timed_out": True}, False,
     "timed out after 30.0 s"),
])
def test_step_outcome(result, ok, text):
    assert progress.step_outcome(result) == (ok, text)


def test_elapsed():
    assert [progress.elapsed(s) for s in (0, 59.9, 61, 3600 + 62)] == ["0:00", "0:59", "1:01", "1:01:02"]


@pytest.fixture
def plans(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("schema_version: 1\nname: tool\nsteps:\n"
                 f"  - {{name: install, run: 'true'}}\n  - {{name: {json.dumps(HOSTILE)}, run: 'true'}}\n")
    sc = scenario.load(p)
    ident = generate(1)
    return [RunPlan(sc, v, v.name, ident) for v in resolve(("unset", "dnt"), sc)]


def drive(display, plan, run_dir, step_results):
    display.run_started(plan, run_dir)
    for step, result in zip(plan.scenario.steps, step_results):
        display.step_started(plan, step)
        display.step_ended(plan, step, result)


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, force_terminal=False, color_system=None), buf


OK = {"started": 0.0, "ended": 0.5, "exit_code": 0, "expect_exit": 0, "timed_out": False}
BAD = {"started": 0.0, "ended": 0.5, "exit_code": 3, "expect_exit": 0, "timed_out": False}


def test_plain_lines_for_ci_logs(plans, tmp_path):
    con, buf = console()
    run_dir = tmp_path / "runs" / "tool" / "unset"
    run_dir.mkdir(parents=True)
    display = progress.Display(con, 2, live=False)
    with display:
        drive(display, plans[0], run_dir, [OK, BAD])
        (run_dir / "run.json").write_text(json.dumps({"complete": True}))
        display.run_ended(plans[0], run_dir)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "[1/2] tool/unset: started"
    assert lines[1] == "[1/2] tool/unset: step 1/2 install ..."
    assert lines[2] == "[1/2] tool/unset: step 1/2 install: ok (exit 0, 0.5 s), 0 flows so far"
    assert "step 2/2" in lines[4] and "NOT AS EXPECTED (exit 3 (expected 0), 0.5 s)" in lines[4]
    assert lines[5].startswith("[1/2] tool/unset: done in 0:0") and "install ok · " in lines[5]
    assert "FAILED" in lines[5]


def test_captured_and_scenario_text_is_never_obeyed(plans, tmp_path):
    con, buf = console()
    con = Console(file=buf, width=300, force_terminal=True, color_system="truecolor")  # a real terminal
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "output.jsonl").write_text(json.dumps({"stream": "stdout", "text": HOSTILE}) + "\n")
    (run_dir / "events.jsonl").write_text(json.dumps({"event": "sinkhole", "host": HOSTILE, "port": 443}) + "\n")
    display = progress.Display(con, 1, live=False, verbose=True)
    drive(display, plans[0], run_dir, [OK, OK])
    display.run_ended(plans[0], run_dir)
    text = buf.getvalue()
    plain = text.replace("\x1b[31m", "").replace("\x1b[0m", "")  # the display's own styles
    for bad in ("\x1b]0;", "\x07", "\u202e", "😄"):
        assert bad not in text
    assert "\\x1b[31mred\\x1b]0;title\\x07 [bold]markup[/bold] :smile: \\u202eevil" in text
    assert "stdout> " in plain and "connection " in plain and "→ sinkhole" in plain
    assert "INCOMPLETE" in plain  # no run.json: never reported as done


def test_live_panel_shows_every_running_variant(plans, tmp_path):
    buf = io.StringIO()
    con = Console(file=buf, width=160, force_terminal=True, color_system=None)
    display = progress.Display(con, 9, live=True, header="egress-audit")
    dirs = []
    for i, plan in enumerate(plans):
        d = tmp_path / plan.name
        d.mkdir()
        dirs.append(d)
        display.run_started(plan, d)
        display.step_started(plan, plan.scenario.steps[0])
    display.step_ended(plans[0], plans[0].scenario.steps[0], OK)
    display.step_started(plans[0], plans[0].scenario.steps[1])
    probe = Console(file=io.StringIO(), width=160, color_system=None)
    probe.print(display._render())
    panel = probe.file.getvalue()
    assert "runs 0/9 done, 2 running" in panel
    unset, dnt = (next(line for line in panel.splitlines() if f"tool/{n} " in line) for n in ("unset", "dnt"))
    assert "step 2/2 \\x1b[31mred" in unset and "install ✓" in unset and "0 flows" in unset
    assert "step 1/2 install" in dnt
