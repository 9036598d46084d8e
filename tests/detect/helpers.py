from auditor.detect import heuristic_hits


def kinds(text: str | bytes) -> list[tuple[str, str]]:
    """(kind, matched text) of every verified heuristic hit in text."""
    data = text.encode() if isinstance(text, str) else text
    return [(h.match, data[h.start:h.end].decode()) for h in heuristic_hits(data)]
