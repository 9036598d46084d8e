"""Under a terminal (variant `tty`) the audit presses Enter when output stops without a newline, as a
hurried user would; output.jsonl says whether a question was waiting or the program only paused
(a spinner, a progress bar), so a reviewer is not told of a prompt that never was."""

import json
import sys

from .conftest import run_cli

PAUSE = "import sys,time; sys.stdout.write('\\x1b[32m- installing\\x1b[0m'); sys.stdout.flush(); time.sleep(2.5); print(' done')"
ASK = "import sys; sys.stdout.write('\\x1b[1mProceed? (y/N) \\x1b[0m'); sys.stdout.flush(); print('got', repr(sys.stdin.readline()))"


def test_enter_is_logged_as_an_answer_only_where_a_question_waited(write_scenario, tmp_path):
    py = json.dumps(sys.executable)[1:-1]
    s = write_scenario(
        "schema_version: 1\nname: ttyish\nvariants: [tty]\nsteps:\n"
        f"  - name: pause\n    run: {json.dumps(py + ' -c ' + json.dumps(PAUSE))}\n    timeout: 60\n"
        f"  - name: ask\n    run: {json.dumps(py + ' -c ' + json.dumps(ASK))}\n    timeout: 60\n")
    out = tmp_path / "out"
    r = run_cli("run", s, "--out", out, "--fail-on", "never", "--capture", "proxy")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(l) for l in (out / "runs/ttyish/tty/output.jsonl").read_text().splitlines() if l]
    audit = [(o["step"], o["text"]) for o in lines if o["stream"] == "audit"]
    assert ("pause", "pressed Enter (output paused without a newline)") in audit, audit
    assert ("ask", "pressed Enter at an unanswered prompt") in audit, audit
    assert not [a for a in audit if a == ("pause", "pressed Enter at an unanswered prompt")], audit
    assert any("got '\\n'" in o["text"] for o in lines if o["step"] == "ask"), lines
