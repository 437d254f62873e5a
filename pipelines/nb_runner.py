"""Executes one Jupyter notebook with the Deno kernel without losing outputs.

Run it with Debian's Python (it needs nbclient, nbformat, jupyter_client):

    JUPYTER_PATH=.cache/jupyter /usr/bin/python3 pipelines/nb_runner.py IN.ipynb OUT.ipynb \
        [--timeout S] [--cwd DIR] [--env KEY=VALUE ...] [--allow-errors] [--grace S]

Why not `jupyter nbconvert --execute`: the Deno kernel sometimes publishes a
cell's outputs on IOPub *after* its `status: idle` message. nbclient stops
reading a cell's messages at idle and discards messages whose parent is not
the cell being executed, so those outputs are silently dropped. This runner
keeps reading the cell's IOPub messages for a grace period after idle (the
period restarts whenever a message arrives), and any message that still comes
later, while another cell runs, is attached to the cell whose request it
answers (by parent msg_id) instead of being discarded.

Progress goes to stderr as plain lines. One JSON summary line goes to stdout:
`{"ok": true, "seconds", "cells", "outputs", "late_outputs", "output"}` or
`{"ok": false, "cell_index", "cell_count", "first_line", "error", "failed_path"}`.

While a cell runs, a line with its running time and the latest line it printed
(e.g. a training progress line with tokens/s and ETA) goes to stderr every
`--heartbeat` seconds (30 by default, or $GSAE_HEARTBEAT_S), so a long cell is never silent.

Nothing outlives this runner: on SIGINT, SIGTERM or SIGHUP it kills the kernel
(and anything else it started) and exits 128 + the signal number; a watchdog
thread does the same when its parent process dies (a SIGKILLed `reproduce`
cannot clean up, so its child must notice: its parent pid changes).

Exit status: 0 success, 1 a cell failed (the partial notebook is written to
`<output stem>.failed.ipynb`, never to the output path), 2 bad usage or
unreadable input, 3 the kernel could not be started or died outside a cell,
125 the parent died, 128 + N signal N.
"""

import argparse
import asyncio
import json
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
import typing as t
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellExecutionError, CellTimeoutError
from nbclient.util import ensure_async

# Late outputs were measured to arrive within about 1 ms of idle, even on a
# loaded machine; 100 ms leaves a wide margin at little cost per cell. Anything
# later still lands in its cell while the next cell runs (see below), except
# after the last cell, which therefore waits longer.
DEFAULT_GRACE_S = 0.1
FINAL_GRACE_S = 0.5
DEFAULT_HEARTBEAT_S = 30.0
EXIT_ORPHANED = 125


def descendants(pid: int) -> t.List[int]:
    """Every live process below `pid` (children first, then theirs), read from /proc."""
    children: t.Dict[int, t.List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may hold spaces, so split after it.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: t.List[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def kill_descendants_and_exit(code: int) -> None:
    """SIGKILLs the kernel and anything else this process started, then exits at once."""
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(code)


def guard_against_orphaning() -> None:
    """Kills the kernel with this runner on SIGINT/SIGTERM/SIGHUP or when the parent dies."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _frame: kill_descendants_and_exit(128 + n))
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                # No log line: stderr is a pipe to the dead parent, and writing would raise.
                kill_descendants_and_exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def log(line: str) -> None:
    """Writes one progress line to stderr at once (the caller streams it)."""
    print(line, file=sys.stderr, flush=True)


def first_line(source: str) -> str:
    """The first non-blank source line, shortened for messages."""
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def failed_path_for(output: str) -> str:
    """`out/x.ipynb` -> `out/x.failed.ipynb` (the partial notebook of a failed run)."""
    stem = output[: -len(".ipynb")] if output.endswith(".ipynb") else output
    return stem + ".failed.ipynb"


def write_notebook_atomic(nb: nbformat.NotebookNode, path: str) -> None:
    """Writes `nb` to a temporary sibling, flushes it, then renames it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def count_outputs(nb: nbformat.NotebookNode) -> int:
    """Total outputs over all code cells."""
    return sum(len(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code")


class DrainingNotebookClient(NotebookClient):
    """A NotebookClient that keeps the outputs the Deno kernel sends after `idle`."""

    def __init__(
        self, nb: nbformat.NotebookNode, grace: float, name: str, heartbeat: float, **kw: t.Any
    ) -> None:
        super().__init__(nb, **kw)
        self.grace = grace
        self.heartbeat = heartbeat
        # The last non-empty line the running cell printed, for the heartbeat.
        self.latest_line = ""
        self.name = name
        # Every executed request, so that a message arriving even later (during
        # another cell) still lands in the cell that produced it.
        self.cells_by_msg_id: t.Dict[str, t.Tuple[nbformat.NotebookNode, int]] = {}
        self.late_outputs = 0
        self.stray_outputs = 0
        # The longest wait from idle to a late output seen, to tune the grace period.
        self.max_late_s = 0.0
        self.current_index: t.Optional[int] = None
        code_indices = [i for i, c in enumerate(nb.cells) if self._runs(c)]
        self.code_cell_total = len(code_indices)
        self.last_code_index = code_indices[-1] if code_indices else -1
        self.code_cell_number = 0
        self.started = time.monotonic()

    def _runs(self, cell: nbformat.NotebookNode) -> bool:
        """Whether nbclient sends `cell` to the kernel (it skips empty and tagged ones)."""
        tags = cell.get("metadata", {}).get("tags", [])
        return (
            cell.cell_type == "code" and bool(cell.source.strip())
            and self.skip_cells_with_tag not in tags
        )

    async def _async_poll_output_msg(
        self, parent_msg_id: str, cell: nbformat.NotebookNode, cell_index: int
    ) -> None:
        # Replaces nbclient's loop, which returns at the first `idle` and drops
        # messages of other parents. Its caller waits for this task (up to
        # iopub_timeout, 4 s by default) after the execute reply, so the grace
        # period delays only the end of the cell, not its result.
        assert self.kc is not None
        self.cells_by_msg_id[parent_msg_id] = (cell, cell_index)
        last = cell_index == self.last_code_index
        grace = max(self.grace, FINAL_GRACE_S) if last else self.grace
        idle = False
        idle_at = 0.0
        while True:
            try:
                msg = await ensure_async(
                    self.kc.iopub_channel.get_msg(timeout=grace if idle else None)
                )
            except Empty:
                return  # quiet for a whole grace period after idle: the cell is done
            parent = msg["parent_header"].get("msg_id")
            if msg.get("msg_type") == "stream":
                lines = [ln.strip() for ln in re.split(r"[\r\n]", msg["content"].get("text", ""))]
                lines = [ln for ln in lines if ln]
                if lines:
                    self.latest_line = lines[-1]
            if parent == parent_msg_id:
                try:
                    out = self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    idle = True
                    idle_at = time.monotonic()
                    continue
                if idle and out is not None:
                    self.late_outputs += 1
                    self.max_late_s = max(self.max_late_s, time.monotonic() - idle_at)
            elif parent in self.cells_by_msg_id:
                self._attach_stray(msg, parent)

    def _attach_stray(self, msg: t.Dict, parent: str) -> None:
        """Attaches a message that answers an earlier cell's request to that cell."""
        old_cell, old_index = self.cells_by_msg_id[parent]
        try:
            out = self.process_message(msg, old_cell, old_index)
        except CellExecutionComplete:
            return
        if out is not None:
            self.stray_outputs += 1
            log(f"nb_runner: {self.name}: late output of cell index {old_index} kept")

    async def async_execute_cell(
        self,
        cell: nbformat.NotebookNode,
        cell_index: int,
        execution_count: t.Optional[int] = None,
        store_history: bool = True,
    ) -> nbformat.NotebookNode:
        if not self._runs(cell):
            return await super().async_execute_cell(
                cell, cell_index, execution_count, store_history
            )
        self.current_index = cell_index
        self.code_cell_number += 1
        self.latest_line = ""
        start = time.monotonic()
        beat = asyncio.ensure_future(self._heartbeat(cell_index, start))
        try:
            result = await super().async_execute_cell(
                cell, cell_index, execution_count, store_history
            )
        finally:
            beat.cancel()
        now = time.monotonic()
        log(
            f"nb_runner: {self.name}: cell {self.code_cell_number}/{self.code_cell_total} "
            f"(index {cell_index}) done in {now - start:.2f}s, elapsed {now - self.started:.1f}s"
        )
        return result


    async def _heartbeat(self, cell_index: int, start: float) -> None:
        """Every `heartbeat` seconds: the running cell's time and its latest printed line."""
        if self.heartbeat <= 0:
            return
        while True:
            await asyncio.sleep(self.heartbeat)
            latest = f"; latest: {self.latest_line}" if self.latest_line else ""
            log(
                f"nb_runner: {self.name}: cell {self.code_cell_number}/{self.code_cell_total} "
                f"(index {cell_index}) running {time.monotonic() - start:.0f}s{latest}"
            )


def error_text(exc: BaseException, cell: t.Optional[nbformat.NotebookNode]) -> str:
    """A one-line description of why a cell failed."""
    if isinstance(exc, CellTimeoutError):
        return str(exc).strip().splitlines()[0]
    if cell is not None:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip()
    if isinstance(exc, CellExecutionError):
        return f"{exc.ename}: {exc.evalue}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


def parse_args(argv: t.List[str]) -> argparse.Namespace:
    """Parses the command line; `--env` may repeat."""
    p = argparse.ArgumentParser(description="Execute a notebook with the Deno kernel.")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per cell (<= 0: none)")
    p.add_argument("--cwd", default=None, help="kernel working directory (default: input's)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--allow-errors", action="store_true")
    p.add_argument("--kernel", default="deno")
    p.add_argument("--grace", type=float, default=DEFAULT_GRACE_S,
                   help="seconds to keep reading a cell's outputs after idle")
    p.add_argument("--heartbeat", type=float,
                   default=float(os.environ.get("GSAE_HEARTBEAT_S") or DEFAULT_HEARTBEAT_S),
                   help="seconds between progress lines while a cell runs (<= 0: none)")
    args = p.parse_args(argv)
    for item in args.env:
        if "=" not in item or item.startswith("="):
            p.error(f"--env wants KEY=VALUE, not {item!r}")
    return args


def main(argv: t.List[str]) -> int:
    """Runs the notebook named on the command line; returns the exit status."""
    args = parse_args(argv)
    guard_against_orphaning()
    name = os.path.basename(args.input)
    try:
        nb = nbformat.read(args.input, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable input is a usage error
        log(f"nb_runner: cannot read notebook {args.input}: {exc}")
        return 2
    # The kernel inherits this process's environment: that is how notebook
    # parameters (--env) reach `Deno.env.get` in the cells.
    for item in args.env:
        key, value = item.split("=", 1)
        os.environ[key] = value
    os.environ["NO_COLOR"] = "1"
    cwd = args.cwd or os.path.dirname(os.path.abspath(args.input))
    client = DrainingNotebookClient(
        nb,
        grace=args.grace,
        name=name,
        heartbeat=args.heartbeat,
        kernel_name=args.kernel,
        # nbclient takes whole seconds and reads 0 as "no limit": round up.
        timeout=math.ceil(args.timeout) if args.timeout > 0 else None,
        allow_errors=args.allow_errors,
        record_timing=False,
        resources={"metadata": {"path": cwd}},
    )
    failed_path = failed_path_for(args.output)
    started = time.monotonic()
    log(f"nb_runner: {name}: starting kernel {args.kernel!r} ({client.code_cell_total} code cells)")
    try:
        asyncio.run(client.async_execute())
    except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
        index = client.current_index
        if index is None:
            log(f"nb_runner: {name}: kernel failed before any cell ran: {error_text(exc, None)}")
            print(json.dumps({"ok": False, "cell_index": None, "error": error_text(exc, None)}))
            return 3
        cell = nb.cells[index]
        write_notebook_atomic(nb, failed_path)
        message = error_text(exc, cell)
        log(
            f"nb_runner: FAILED {args.input}: cell index {index} "
            f"(code cell {client.code_cell_number} of {client.code_cell_total}) "
            f"`{first_line(cell.source)}`: {message}\n"
            f"nb_runner: partial notebook written to {failed_path}"
        )
        print(json.dumps({
            "ok": False, "cell_index": index, "cell_count": len(nb.cells),
            "first_line": first_line(cell.source), "error": message, "failed_path": failed_path,
        }))
        return 1
    write_notebook_atomic(nb, args.output)
    # A failure left over from an earlier run would contradict this output.
    if os.path.exists(failed_path):
        os.unlink(failed_path)
    seconds = time.monotonic() - started
    outputs = count_outputs(nb)
    log(
        f"nb_runner: {name}: {client.code_cell_total} cells, {outputs} outputs "
        f"({client.late_outputs} after idle, at most {client.max_late_s * 1000:.0f} ms late; "
        f"{client.stray_outputs} during a later cell) "
        f"in {seconds:.1f}s -> {args.output}"
    )
    print(json.dumps({
        "ok": True, "seconds": round(seconds, 3), "cells": client.code_cell_total,
        "outputs": outputs, "late_outputs": client.late_outputs + client.stray_outputs,
        "output": args.output,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
