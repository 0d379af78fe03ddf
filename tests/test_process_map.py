"""utils.dist.process_map: worker results in job order, a progress bar only where asked and on a
terminal."""

import io

from videomt.utils.dist import process_map


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_results_in_job_order_with_workers():
    jobs = list(range(-30, 0))
    assert process_map(abs, jobs, 2) == process_map(abs, jobs, 1) == [abs(j) for j in jobs]


def test_progress_bar_on_a_terminal_only(monkeypatch):
    for stream, desc, shown in (
        (_Terminal(), "videos", True),
        (io.StringIO(), "videos", False),
        (_Terminal(), None, False),
    ):
        monkeypatch.setattr("sys.stderr", stream)
        assert process_map(abs, list(range(-12, 0)), 2, desc=desc) == list(range(12, 0, -1))
        assert ("videos: 100%" in stream.getvalue() and "12/12" in stream.getvalue()) == shown
