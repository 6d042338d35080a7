"""bench/matrix.py in its quickest form, one cell: it runs ringmon and tcpdump side by side on a veth flood it
creates, and writes the table, the JSON and the plots it promises (numbers, not their size: no timing here)."""
import json
import subprocess
import sys
from pathlib import Path

MATRIX = Path(__file__).resolve().parents[2] / "bench" / "matrix.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_quick_matrix_of_one_cell_writes_its_table_json_and_plots_and_the_table_into_its_page(tmp_path):
    page = tmp_path / "PERFORMANCE.md"
    page.write_text("# before\n<!-- matrix.py: table begin -->\nold\n<!-- matrix.py: table end -->\nafter\n")
    out = tmp_path / "perf"
    done = subprocess.run([sys.executable, str(MATRIX), "--quick", "--modes", "copy", "--strategies", "adaptive",
                           "--rate", "10k", "--matrix-only", "--out", str(out)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    (cell,) = json.loads((out / "matrix.json").read_text())["cells"]
    assert (cell["mode"], cell["strategy"], cell["rate"], cell["error"]) == ("copy", "adaptive", "10k", None)
    assert cell["arrived"] > 0 and cell["captured_pct"] is not None and cell["tcpdump_captured_pct"] is not None
    assert cell["latency_p50_us"] <= cell["latency_p99_us"]
    table = (out / "matrix.md").read_text()
    assert "| copy | adaptive | 10k |" in table
    assert page.read_text().startswith("# before\n<!-- matrix.py: table begin -->\n" + table)
    assert page.read_text().endswith("<!-- matrix.py: table end -->\nafter\n")
    for plot in ("cpu_per_mpkt.png", "latency.png"):
        assert (out / plot).read_bytes().startswith(PNG_SIGNATURE)


def test_an_unknown_mode_is_one_line_on_stderr_and_a_usage_error():
    done = subprocess.run([sys.executable, str(MATRIX), "--modes", "copy,teleport"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "unknown mode teleport" in done.stderr and "Traceback" not in done.stderr
