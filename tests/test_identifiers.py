"""What a sent identifier follows, from the runs of one scenario (hand-built facts)."""

import pytest

from auditor.flowstore import Exchange
from auditor.identifiers import TRACKING, attribute, looks_like_id
from auditor.rules import ExchangeFacts, RunFacts

@pytest.mark.parametrize("value, is_id", [
    ("c7e516e11ea94bd6a4c6c0f0e1a9b2d3", True),           # uuid4 hex
    ("0f8fad5b-d9cb-469f-a165-70867728950e", True),       # uuid
    ("ad91c3" + "0" * 58, False),                         # too few distinct characters
    ("Zq3kR9vX2mLp7TwY4nB8sQ1a", True),                   # mixed token
    ("Python-urllib/3.11", False),                        # user agent
    ("1.4.2", False), ("2026-11-30T04:00:00Z", False),    # versions and times
    ("application/json", False), ("hello world", False),
    ("aaaaaaaaaaaaaaaaaaaaaaaa", False),
])
def test_identifier_candidates(value, is_id):
    assert looks_like_id(value) is is_id


KEY = "POST t.example/v1/e"


def sent(value, ts=10.0, loc="body:$.id"):
    ex = Exchange(id=f"x{ts}", kind="http", host="t.example", method="POST", url="https://t.example/v1/e",
                  path="/v1/e", timestamp=ts)
    return ExchangeFacts(ex, "undeclared", "", [], {loc: value}, key=KEY)


def run(name, *exchanges, variant=None, twin="", same_home="", steps=(("one", 0.0, 100.0),), stored=(),
        planted=frozenset({"machine_id"})):
    variant = variant or name.split("-")[0]
    return RunFacts("s", name, variant, same_home, list(exchanges), [], None, "", True, "tun", twin=twin,
                    planted=planted, steps=tuple(steps), stored=list(stored))


def kind(runs, **kw):
    [v] = attribute(runs, **kw)
    return v.kind, v.confidence, v.follows


M, U, P, C = "machine-derived-0001", "user-derived-0002", "project-derived-03", "vendor-api-key-0004"


def twins(machine, user, project):
    return [run("unset-twin-machine", sent(machine), variant="unset", twin="machine"),
            run("unset-twin-user", sent(user), variant="unset", twin="user"),
            run("unset-twin-project", sent(project), variant="unset", twin="project")]


@pytest.mark.parametrize("twin_values, expected", [
    (("other-1", M, M), ("machine", "certain", ("machine",))),
    ((M, "other-2", M), ("user", "certain", ("user",))),
    ((M, M, "other-3"), ("project", "certain", ("project",))),
    ((M, M, M), ("constant", "certain", ())),  # a key shipped in the program: never changes
    (("other-1", "other-2", M), ("machine", "certain", ("machine", "user"))),  # e.g. hash(machine-id + user)
])
def test_twins_tell_what_a_stable_value_follows(twin_values, expected):
    runs = [run("unset", sent(M)), run("denied", sent(M)), run("ci", sent(M)), *twins(*twin_values)]
    assert kind(runs) == expected


def test_the_same_value_in_three_fresh_homes_without_twins_is_a_fingerprint_not_attributed():
    v, = attribute([run("unset", sent(M)), run("dnt", sent(M)), run("ci", sent(M))])
    assert (v.kind, v.confidence, v.homes) == ("stable", "likely", 3)
    assert "no machine or user or project twin" in v.detail


def test_missing_only_the_project_twin_points_at_the_project():
    runs = [run("unset", sent(M)), run("dnt", sent(M)),
            run("unset-twin-machine", sent(M), variant="unset", twin="machine"),
            run("unset-twin-user", sent(M), variant="unset", twin="user")]
    assert kind(runs)[:2] == ("project", "likely")


def test_an_id_stored_in_home_and_sent_by_two_steps_is_persistent():
    steps = (("first", 0.0, 20.0), ("second", 20.0, 40.0))
    runs = [run("unset", sent("home-a-0001", 10.0), sent("home-a-0001", 30.0), steps=steps),
            run("denied", sent("home-b-0002", 10.0), sent("home-b-0002", 30.0), steps=steps)]
    v, = attribute(runs)
    assert (v.kind, v.confidence) == ("stored", "certain")
    assert "Sent by two invocations of one run" in v.detail and "a different value in each of 2 fresh HOMEs" in v.detail


@pytest.mark.parametrize("sends, persistent", [
    ((5.0, 15.0), False),   # one invocation sending twice: a session id
    ((19.0, 21.0), True),   # a step began between them
    ((20.5, 45.0), True),   # a detached sender of the first step posting during the second, then the second: a step ended between
])
def test_recurrence_needs_two_invocations(sends, persistent):
    steps = (("first", 0.0, 20.0), ("second", 20.0, 40.0))
    a = run("unset", *(sent("home-a-0001", t) for t in sends), steps=steps)
    b = run("dnt", sent("home-b-0002", 10.0), steps=steps)
    assert (kind([a, b])[0] == "stored") is persistent


def test_an_id_found_in_a_home_file_is_persistent_and_cited():
    runs = [run("unset", sent("home-a-0001"), stored=[("~/.config/tool/user_id", "home-a-0001\n")]),
            run("dnt", sent("home-b-0002"), stored=[("~/.config/tool/user_id", "home-b-0002\n")])]
    v, = attribute(runs)
    assert v.kind == "stored" and v.stored_in == ("~/.config/tool/user_id",)


def test_a_rerun_with_the_same_home_shows_a_stored_id():
    runs = [run("unset", sent("home-a-0001")), run("unset-3", sent("home-a-0001"), same_home="unset"),
            run("unset-2", sent("home-b-0002"))]
    assert kind(runs)[:2] == ("stored", "certain")


@pytest.mark.parametrize("runs, expected", [
    # new in every run and never again: a session or request id
    ([run("unset", sent("nonce-00001")), run("dnt", sent("nonce-00002"))], "nonce"),
    # the same HOME twice but a new value: per process
    ([run("unset", sent("nonce-00001")), run("unset-3", sent("nonce-00003"), same_home="unset")], "nonce"),
    # one step of one run: cannot tell (fail-safe: counts as tracking for classification)
    ([run("unset", sent("seen-once-01"))], "unknown"),
])
def test_values_that_do_not_persist(runs, expected):
    assert kind(runs)[0] == expected
    assert (expected in TRACKING) is (expected == "unknown")


def test_a_protocol_key_is_a_constant_without_twins():
    v, = attribute([run("unset", sent(C)), run("dnt", sent(C))], constants={(KEY, "body:$.id"): "segment"})
    assert (v.kind, v.detail) == ("constant", "segment key")


def test_fields_are_judged_separately_and_findings_point_at_a_base_run():
    runs = [run("unset-twin-machine", sent("other-1"), sent(C, loc="header:x-api-key"), variant="unset", twin="machine"),
            run("unset", sent(M), sent(C, loc="header:x-api-key")), run("dnt", sent(M), sent(C, loc="header:x-api-key"))]
    by_loc = {v.location: v for v in attribute(runs)}
    assert by_loc["body:$.id"].kind == "machine" and by_loc["body:$.id"].run.run == "unset"
    assert by_loc["header:x-api-key"].kind == "stable"  # user and project twins missing: not attributed


def test_a_machine_twin_that_could_not_change_the_machine_attributes_nothing():
    """Proxy capture cannot plant a machine-id: a value unchanged there may still follow the machine."""
    blind = run("unset-twin-machine", sent(M), variant="unset", twin="machine", planted=frozenset())
    user = run("unset-twin-user", sent(M), variant="unset", twin="user")
    project = run("unset-twin-project", sent(M), variant="unset", twin="project")
    v, = attribute([run("unset", sent(M)), run("dnt", sent(M)), blind, user, project])
    assert (v.kind, v.confidence) == ("stable", "likely") and "could not change the machine" in v.detail
    seeing = run("unset-twin-machine", sent("other-1"), variant="unset", twin="machine")
    assert kind([run("unset", sent(M)), run("dnt", sent(M)), seeing, user, project])[0] == "machine"


def test_a_digest_of_the_machine_id_stays_an_identifier_other_canaries_do_not():
    from auditor.findings import Evidence
    from auditor.identifiers import candidates
    from auditor.inspection import Field

    value = "9b74c9897bac770ffc029102a200c5de5ba8b3d1e1f1e0e3e4e5e6e7e8e9eaeb"
    fields = {"body:$.anonymousId": Field("body:$.anonymousId", "anonymousId", value),
              "body:$.project": Field("body:$.project", "project", "ab" * 16 + "cd" * 16)}
    evidence = [Evidence("canary", "machine_id", "body:$.anonymousId", form="sha256"),
                Evidence("canary", "project_path", "body:$.project", form="sha256")]
    assert candidates(fields, evidence) == {"body:$.anonymousId": value}
