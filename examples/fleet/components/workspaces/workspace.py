"""One workspace: a long-running process that keeps a heartbeat file in its home until it is stopped."""

from __future__ import annotations

import pathlib
import signal
import sys
import time


def main() -> None:
    home = pathlib.Path(sys.argv[1])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    beats = 0
    while not stop:
        beats += 1
        (home / "files" / "heartbeat").write_text(f"{beats} {time.time():.3f}\n")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
