"""The documentation site builds without a warning (``mkdocs build --strict``).

A broken link, a page missing from the nav, a docstring that the API pages cannot render
(unknown cross-reference, malformed section) or anything fetched from the network fails this
test with mkdocs' own messages.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    # The site must build offline: any attempt to fetch (fonts, inventories) hits a dead proxy.
    dead_proxy = "http://127.0.0.1:9"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", HTTP_PROXY=dead_proxy, HTTPS_PROXY=dead_proxy,
               http_proxy=dead_proxy, https_proxy=dead_proxy, NO_PROXY="", no_proxy="")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    for page in ("index.html", "api/envs/index.html", "api/modules/index.html", "training/index.html"):
        assert (tmp_path / "site" / page).is_file(), f"{page} was not built"
