"""Running the short host commands the libvirt driver needs (qemu-img, mkfs, mkswap)."""
import subprocess

from herder import exception

TIMEOUT = 300.0   # seconds: these touch metadata only, grow a file sparsely, or format one


def run(host: str, step: str, *command: str, what: str | None = None) -> str:
    """The command's output; a DriverError of `step` naming `what` (default: the program)
    and its error output if it cannot run, times out or fails."""
    what = what or command[0]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise exception.DriverError(step=step, host=host,
                                    reason=f"{command[0]}: {error}") from error
    if done.returncode != 0:
        raise exception.DriverError(step=step, host=host,
                                    reason=f"{what}: {done.stderr.strip()}")
    return done.stdout
