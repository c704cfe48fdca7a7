"""Shared pieces of the serving benchmarks (compare-serve, metering-overhead): model paths,
free ports, and a server process that is up once /health answers."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.environ.get("TOKENMILL_MODELS", os.path.expanduser("~/.cache/tokenmill/models"))
SHIPPED = {
    "smollm2-135m": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
}
PROGRAM = os.path.basename(sys.argv[0])


def log(msg):
    print(f"{PROGRAM}: {msg}", file=sys.stderr, flush=True)


def model_path(name):
    path = os.path.join(MODELS_DIR, SHIPPED[name]) if name in SHIPPED else name
    if not os.path.exists(path):
        sys.exit(f"{PROGRAM}: no model file {path} (scripts/fetch-models)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, cmd, port, log_path):
        self.name, self.cmd, self.port = name, cmd, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_file = open(log_path, "w")
        log(f"starting {name}: {' '.join(cmd)}")
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{PROGRAM}: {name} exited ({self.proc.returncode}); see {log_path}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        sys.exit(f"{PROGRAM}: {name} not healthy after 300 s; see {log_path}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
