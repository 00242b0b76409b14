"""Running `herder serve` as a real process, for tests that need one (CLI, kill -9)."""
import os
import signal
import socket
import subprocess
import sys
import time

BIN_DIR = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    def __init__(self, state_dir: str, port: int, *extra_args: str,
                 env: dict[str, str] | None = None, config_file: str | None = None):
        self.state_dir, self.port = state_dir, port
        self.endpoint = f"http://127.0.0.1:{port}"
        config = ["--config-file", config_file] if config_file else []
        self.process = subprocess.Popen(
            [os.path.join(BIN_DIR, "herder"), *config, "serve", "--state-dir", state_dir, "--port",
             str(port), *extra_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env)
        self.banner = self._read_banner()
        # keep draining the log so the server never blocks on a full pipe
        self._drain = subprocess.Popen(["cat"], stdin=self.process.stdout,
                                       stdout=subprocess.DEVNULL)

    def _read_banner(self, timeout: float = 30) -> str:
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            lines.append(line)
            if "Stop with Ctrl-C" in line:
                return "".join(lines)
            if self.process.poll() is not None:
                break
        self.kill()
        raise RuntimeError("herder serve did not start:\n" + "".join(lines))

    def stop(self) -> None:
        """SIGTERM, as an operator would; SIGKILL if it does not go."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._drain.wait(5)

    def kill(self) -> None:
        """kill -9: no chance to clean anything up."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
