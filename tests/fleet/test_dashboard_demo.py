"""``reconcile-fleet demo --keep-open`` prints the dashboard's URL and the admin token's file, serves, and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support.fleet import end_demo, wait_demo_gone, wait_for

pytestmark = pytest.mark.slow


def test_keep_open_prints_the_dashboard_and_waits_for_ctrl_c(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconcile.fleet.cli", "demo", "--keep-open"],
            stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: "press Ctrl-C" in out.read_text(), 240, 0.2, message="the demo to keep the fleet open")
        text = out.read_text()
        root = text.split("demo in ", 1)[1].split()[0]
        url = re.search(r"^dashboard: (\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
        token_file = pathlib.Path(re.search(r"^admin token file: (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
        assert token_file.read_text().strip() not in text  # the path is shown, never the token
        # Still open after the story: the dashboard answers, behind its login form.
        time.sleep(1.0)
        assert proc.poll() is None
        with urllib.request.urlopen(url, timeout=5) as page:
            assert page.url.startswith(url + "login?next=")
            body = page.read().decode()
        assert "Sign in to the fleet dashboard" in body
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', body).group(1)  # type: ignore[union-attr]
        cookie = page.headers["set-cookie"].split(";")[0]
        form = urllib.parse.urlencode({"login_csrf": login_csrf, "token": token_file.read_text().strip(), "next": "/"})
        request = urllib.request.Request(url + "login", data=form.encode(), headers={"Cookie": cookie}, method="POST")
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(request, timeout=5)
        assert redirect.value.code == 303
        session = redirect.value.headers["set-cookie"].split(";")[0]
        live = urllib.request.Request(url + "live?view=overview", headers={"Cookie": session})
        with urllib.request.urlopen(live, timeout=5) as answer:
            data = json.loads(answer.read())["data"]
        # every cell on a release (which ones depend on the stories the demo tells; test_demo checks them)
        assert data["total"] == 5 and sum(data["counts"]["release"].values()) == 5
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        end_demo(proc)  # after a failed assertion, so nothing the demo started is left running
    wait_demo_gone(root)
    assert "every process stopped" in out.read_text()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
