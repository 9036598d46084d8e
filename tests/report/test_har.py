import json

import pytest
from mitmproxy import io
from mitmproxy.test import tflow

from auditor.errors import UsageError
from auditor.report import har


def write_mitm(path, flows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in flows:
            w.add(f)
    return path


def http_flow(url: str, body: bytes = b""):
    f = tflow.tflow(resp=True)
    f.request.url = url
    f.request.method = "POST"
    f.request.content = body
    return f


@pytest.fixture
def run_dirs(tmp_path):
    unset = tmp_path / "capture" / "unset"
    write_mitm(unset / "flows.mitm", [
        http_flow("https://telemetry.polite-tool.example/v1/collect", b'{"user":"jdoe"}'),
        tflow.ttcpflow(),  # no HAR form: stays in flows.mitm only
        tflow.tdnsflow(),
        http_flow("http://cdn.polite-tool.example/config.json"),
    ])
    return {"unset": unset, "denied": tmp_path / "capture" / "denied"}  # denied: no flows file


def test_one_har_per_run_with_http_flows_only(build, run_dirs, tmp_path):
    audit = build.audit(runs=(build.run("unset", dir=run_dirs["unset"]),
                              build.run("denied", dir=run_dirs["denied"]),
                              build.run("dnt")))  # dir None: imported capture, nothing to export
    out = tmp_path / "out"
    written = har.render(audit, out)
    assert written == [out / "runs" / "polite-tool" / "unset" / "flows.har"]
    log = json.loads(written[0].read_text())["log"]
    assert log["version"] == "1.2"
    assert log["creator"]["name"] == "mitmproxy"
    assert [e["request"]["url"] for e in log["entries"]] == [
        "https://telemetry.polite-tool.example/v1/collect", "http://cdn.polite-tool.example/config.json"]
    assert log["entries"][0]["request"]["postData"]["text"] == '{"user":"jdoe"}'  # raw, like flows.mitm
    assert log["comment"] == "egress-auditor: polite-tool/unset, HTTP flows only"


def test_in_place_when_the_run_dir_is_under_out(build, tmp_path):
    run_dir = tmp_path / "runs" / "polite-tool" / "unset"
    write_mitm(run_dir / "flows.mitm", [http_flow("https://a.example/")])
    (path,) = har.render(build.audit(runs=(build.run("unset", dir=run_dir),)), tmp_path)
    assert path == run_dir / "flows.har"


def test_truncated_capture_keeps_the_flows_before_the_damage(build, tmp_path):
    src = write_mitm(tmp_path / "cap" / "flows.mitm",
                     [http_flow("https://a.example/"), http_flow("https://b.example/")])
    data = src.read_bytes()
    src.write_bytes(data[: len(data) - 40])  # a capture killed mid-write
    (path,) = har.render(build.audit(runs=(build.run("unset", dir=src.parent),)), tmp_path / "out")
    log = json.loads(path.read_text())["log"]
    assert [e["request"]["url"] for e in log["entries"]] == ["https://a.example/"]
    assert "torn after 1 whole flow(s)" in log["comment"]


def test_undecodable_body_stays_valid_json(build, tmp_path):
    src = write_mitm(tmp_path / "cap" / "flows.mitm",
                     [http_flow("https://a.example/", b"\xff\xfe\x00binary\xc3")])
    (path,) = har.render(build.audit(runs=(build.run("unset", dir=src.parent),)), tmp_path / "out")
    assert json.loads(path.read_bytes().decode("ascii"))["log"]["entries"]


@pytest.mark.parametrize("name", ["..", ".", "a/b", "", "x\x00"])
def test_run_names_cannot_escape_the_output_dir(build, tmp_path, name):
    src = write_mitm(tmp_path / "cap" / "flows.mitm", [http_flow("https://a.example/")])
    audit = build.audit(runs=(build.run(name, "unset", dir=src.parent),))
    with pytest.raises(UsageError, match="not a plain"):
        har.render(audit, tmp_path / "out")
    assert not (tmp_path / "out").exists()
