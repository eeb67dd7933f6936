"""``scripts/benchlib.py``: how every benchmark script writes its section of docs/benchmarks.md, and the command
line a section says it was produced by."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from scripts.benchlib import REPO, add_before_after, add_no_write, command_line, markers, write_section

DOC = "# Benchmarks\n\nintro\n\n<!-- claim:start -->\nold claim\n<!-- claim:end -->\n\n## Notes\n\nkept\n"


def test_markers() -> None:
    assert markers("worker-cpu") == ("<!-- worker-cpu:start -->", "<!-- worker-cpu:end -->")


def test_a_section_replaces_its_markers_and_what_stands_between(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC, "utf-8")
    write_section("<!-- claim:start -->\nnew × claim\n<!-- claim:end -->", "claim", doc)
    assert doc.read_text("utf-8") == DOC.replace("old claim", "new × claim")


def test_a_section_without_markers_in_the_file_is_appended_after_a_blank_line(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC, "utf-8")
    write_section("<!-- hostile:start -->\nh\n<!-- hostile:end -->", "hostile", doc)
    assert doc.read_text("utf-8") == DOC + "\n<!-- hostile:start -->\nh\n<!-- hostile:end -->\n"


def test_a_missing_file_is_created_with_a_title(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "benchmarks.md"
    write_section("<!-- budgets:start -->\nb\n<!-- budgets:end -->", "budgets", doc)
    assert doc.read_text("utf-8") == "# Benchmarks\n\n<!-- budgets:start -->\nb\n<!-- budgets:end -->\n"


def test_an_end_marker_before_the_start_marker_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    text = "<!-- claim:end -->\nkept\n<!-- claim:start -->\nold\n"
    doc.write_text(text, "utf-8")
    with pytest.raises(ValueError, match="stands before"):
        write_section("<!-- claim:start -->\nnew\n<!-- claim:end -->", "claim", doc)
    assert doc.read_text("utf-8") == text


@pytest.mark.parametrize(("argv", "expected"), [
    ([], "python scripts/bench_x.py"),
    (["--no-write"], "python scripts/bench_x.py"),
    (["--jobs", "3000", "--no-write", "--workers", "2"], "python scripts/bench_x.py --jobs 3000 --workers 2"),
])
def test_command_line_leaves_out_no_write(argv: list[str], expected: str) -> None:
    assert command_line("bench_x.py", argv) == expected


def test_the_shared_options() -> None:
    parser = argparse.ArgumentParser()
    add_before_after(parser)
    add_no_write(parser)
    args = parser.parse_args([])
    assert (args.code_root, args.before_json, args.json_out, args.no_write) == (REPO, None, None, False)
    args = parser.parse_args(["--code-root", "/tmp/base", "--before-json", "b.json", "--json-out", "a.json",
                              "--no-write"])
    assert (args.code_root, args.before_json, args.json_out, args.no_write) == (
        Path("/tmp/base"), Path("b.json"), Path("a.json"), True)
