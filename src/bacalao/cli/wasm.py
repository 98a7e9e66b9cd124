"""``bacalao wasm run MODULE [-- ARGS…]``: a WebAssembly (WASI) module as a job.

MODULE is a CID of a module already in the cluster's store, or a local ``.wasm`` file. A local
file is added to the cluster first, through the API: its CID is computed here (Kubo's default
profile, as ``bacalao data add``), and the module is stored, as a CAR, on every wasm-capable node
this API serves (``POST /api/v1/bacalao/nodes/{node}/car``), so wherever the job lands its module
is there. When some wasm node cannot be reached that way (a remote cluster) or with ``--inline``,
the module travels inside the job instead, as an ``inline`` data URL (Bacalhau's own way).

The job is built with ``docker run``'s common flags (:func:`bacalao.cli.submit.submit_job`) and
the engine's own: ``--entrypoint``, ``-e K=V`` (the module's environment), ``-I [NAME=]MODULE``
(import modules), ``--fuel``, ``--memory PAGES|SIZE``, ``--nondeterministic``, ``--seed``.
It prints the job ID, waits with a live status line unless ``--no-wait``, and prints the result
CID, then the module's stdout.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from bacalao.cli import shard_options as so
from bacalao.cli import submit as s
from bacalao.cli._api import Api, connect
from bacalao.cli.wait import DEFAULT_WAIT_TIMEOUT_S
from bacalao.errors import InvalidInput

if TYPE_CHECKING:
    from bacalao.client import Client

app = typer.Typer(
    help="Run WebAssembly (WASI) modules as jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

BASE = "/api/v1/bacalao"
CAR_TYPE = "application/vnd.ipld.car"
WASM_MAGIC = b"\0asm"
PAGE = 65536


class LocalModule:
    """A ``.wasm`` file on this machine: its bytes and the CID the store will give them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as e:
            raise InvalidInput(f"cannot read {path}: {e.strerror}") from None
        if not self.data.startswith(WASM_MAGIC):
            raise InvalidInput(
                f"{path} is not a WebAssembly module (it does not start with \\0asm)",
                hint="build one for WASI, e.g. clang --target=wasm32-wasi --sysroot=/usr -O2 x.c",
            )
        self._car: bytes | None = None
        self.cid = self._import()

    def _import(self) -> str:
        from bacalao.blockstore import Repo
        from bacalao.ipld.profiles import resolve_profile

        self._repo = Repo.memory()
        return str(self._repo.add_bytes(self.data, resolve_profile(None, None)).cid)

    def car(self) -> bytes:
        """The module as a CARv1 rooted at :attr:`cid`."""
        if self._car is None:
            import io

            from bacalao.ipld.cid import CID

            out = io.BytesIO()
            self._repo.export_car(CID.decode(self.cid), out)
            self._car = out.getvalue()
        return self._car

    def inline(self) -> dict[str, Any]:
        """The module as an ``inline`` InputSource (a base64 data URL)."""
        url = "data:application/wasm;base64," + base64.b64encode(self.data).decode()
        return {"Source": {"Type": "inline", "Params": {"URL": url}}}


def resolve_module(text: str) -> LocalModule | str:
    """A local file (-> :class:`LocalModule`) or the CID MODULE names."""
    from bacalao.errors import DecodeError
    from bacalao.ipld.cid import CID

    path = Path(text).expanduser()
    if path.is_file():
        return LocalModule(path)
    cid = text.strip().removeprefix("ipfs://").removeprefix("/ipfs/")
    try:
        CID.decode(cid.partition("/")[0])
    except DecodeError:
        raise InvalidInput(
            f"{text} is neither a local .wasm file nor a CID",
            hint="give the path of a .wasm file, or the CID of a module added with data add",
        ) from None
    return cid


def store_on_wasm_nodes(client: Client, module: LocalModule) -> tuple[list[str], list[str]]:
    """Store ``module`` on every wasm-capable node this API serves.

    Returns (the nodes that stored it, the wasm nodes this API could not store it on). With no
    wasm node known yet, it goes to the server's first compute node.
    """
    from bacalao.client._base import Call
    from bacalao.errors import BacalaoError, IntegrityError, NotFound

    targets = [n.id for n in client.list_nodes() if "wasm" in n.engines]
    paths = [f"{BASE}/nodes/{quote(n, safe='')}/car" for n in targets] or [f"{BASE}/data/car"]
    stored, missed = [], []
    for node, path in zip(targets or [""], paths, strict=True):
        with client._translate():
            response = client._http.post(
                path, content=module.car(), headers={"Content-Type": CAR_TYPE}
            )
        try:
            answer = client._read(Call("POST", path), response.status_code, response.content)
        except BacalaoError as e:  # not served here (404) or no compute node there (503)
            if isinstance(e, NotFound) or e.http_status == 503:
                missed.append(node)
                continue
            raise
        if answer.get("CID") != module.cid:
            raise IntegrityError(
                f"the server stored {answer.get('CID')} for {module.cid}",
                hint="this is a bug in bacalao: report it with the server's log",
            )
        stored.append(str(answer.get("Node") or node))
    return stored, missed


def wasm_params(
    entry: str | dict[str, Any],
    args: Sequence[str],
    *,
    entrypoint: str = "_start",
    env: Sequence[str] = (),
    imports: Sequence[tuple[str, str | dict[str, Any]]] = (),
    fuel: int = 0,
    memory: str = "",
    deterministic: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """The wasm engine's ``Params`` the flags describe."""
    params: dict[str, Any] = {"EntryModule": entry, "Entrypoint": entrypoint}
    if args:
        params["Parameters"] = list(args)
    if env:
        params["EnvironmentVariables"] = dict(_env(env))
    if imports:
        params["ImportModules"] = [_import_source(name, ref) for name, ref in imports]
    if fuel:
        params["Fuel"] = fuel
    if memory:
        key, value = memory_param(memory)
        params[key] = value
    if not deterministic:
        params["Deterministic"] = False
    if seed:
        params["Seed"] = seed
    return params


def memory_param(text: str) -> tuple[str, int]:
    """``--memory 256`` (pages) -> MemoryPages; ``--memory 16Mi`` -> MaxMemory (bytes)."""
    from bacalao.models.resources import parse_size

    text = text.strip()
    if text.isdigit():
        return "MemoryPages", int(text)
    try:
        return "MaxMemory", parse_size(text)
    except ValueError:
        raise InvalidInput(
            f"--memory {text!r}: not a number of 64 KiB pages or a size",
            hint="e.g. --memory 256 (pages) or --memory 16Mi",
        ) from None


def _import_source(name: str, ref: str | dict[str, Any]) -> Any:
    if isinstance(ref, dict):
        return {**ref, "Alias": name} if name else ref
    if not name:
        return ref
    return {"Source": {"Type": "ipfs", "Params": {"CID": ref}}, "Alias": name}


def _env(items: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key.strip() or not sep:
            raise InvalidInput(f"-e {item!r}: expected KEY=VALUE", hint="e.g. -e DEBUG=1")
        out.append((key.strip(), value))
    return out


Repeat = list[str] | None


@app.command("run")
def run(
    module: Annotated[str, typer.Argument(help="The module: a local .wasm file or a CID.")],
    args: Annotated[
        Repeat, typer.Argument(help="Arguments for the module (after --; options may come first).")
    ] = None,
    inputs: Annotated[
        Repeat,
        typer.Option("--input", "-i", help="Mount a CID: CID, CID:/path, or src=URI,dst=/path."),
    ] = None,
    entrypoint: Annotated[
        str, typer.Option("--entrypoint", help="The exported function to call.")
    ] = "_start",
    env: Annotated[
        Repeat, typer.Option("--env", "-e", help="An environment variable of the module K=V.")
    ] = None,
    import_modules: Annotated[
        Repeat,
        typer.Option(
            "--import-module",
            "-I",
            help="A module providing imports: [NAME=]CID or [NAME=]FILE.wasm. Repeatable.",
        ),
    ] = None,
    fuel: Annotated[
        int, typer.Option("--fuel", min=0, help="Instruction budget (0: none; the timeout holds).")
    ] = 0,
    memory: Annotated[
        str, typer.Option("--memory", help="Memory cap: 64 KiB pages (256) or a size (16Mi).")
    ] = "",
    timeout: s.Timeout = 0,
    nondeterministic: Annotated[
        bool,
        typer.Option(
            "--nondeterministic", help="Real clocks and randomness (default: fixed, seeded)."
        ),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the module's random.")] = 0,
    inline: Annotated[
        bool, typer.Option("--inline", help="Send a local module inside the job, not by CID.")
    ] = False,
    cpu: s.Cpu = "",
    queue_timeout: s.QueueTimeout = 0,
    labels: s.Labels = None,
    selector: s.Selector = None,
    name: s.Name = "",
    namespace: s.Namespace = "",
    publisher: s.Publisher = "ipfs",
    wait: s.Wait = True,
    id_only: s.IdOnly = False,
    wait_timeout: s.WaitTimeout = DEFAULT_WAIT_TIMEOUT_S,
    dry_run: s.DryRun = False,
    api: Api = None,
    shard_glob: so.ShardGlob = "",
    shard_batch: so.ShardBatch = None,
    shards: so.ShardCount = None,
    merge: so.Merge = None,
    reduce: so.Reduce = None,
    reduce_engine: so.ReduceEngine = None,
    reduce_image: so.ReduceImage = None,
    reduce_cmd: so.ReduceCmd = None,
) -> None:
    """Run a WebAssembly module (WASI) as a job: its inputs read-only, /outputs writable.

    MODULE is a local .wasm file (added to the cluster first) or a module's CID. Prints the job ID,
    waits with a live status line (unless --no-wait), prints the result CID and the module's
    stdout. Exit 0 when the job completes, 1 when it fails (with the reason and a hint).
    """
    from bacalao.cli.output import note

    modules = [("", resolve_module(module))]
    for item in import_modules or []:
        alias, sep, ref = item.partition("=")
        if not sep or Path(item).expanduser().is_file():
            alias, ref = "", item
        modules.append((alias.strip(), resolve_module(ref)))
    refs: list[tuple[str, str | dict[str, Any]]] = []
    local = [m for _, m in modules if isinstance(m, LocalModule)]
    send_inline = inline
    if local and not inline and not dry_run:
        with connect(api) as client:
            for mod in local:
                stored, missed = store_on_wasm_nodes(client, mod)
                if missed:
                    note(f"{mod.path}: nodes {', '.join(missed)} are not served by this API")
                    send_inline = True
                elif stored:
                    note(f"added {mod.path} as {mod.cid} on {', '.join(stored)}")
        if send_inline:
            note("sending the module(s) inside the job instead")
    for alias, mod in modules:
        if isinstance(mod, LocalModule):
            refs.append((alias, mod.inline() if send_inline else mod.cid))
        else:
            refs.append((alias, mod))
    params = wasm_params(
        refs[0][1],
        s._after_dashes(args),
        entrypoint=entrypoint,
        env=env or [],
        imports=refs[1:],
        fuel=fuel,
        memory=memory,
        deterministic=not nondeterministic,
        seed=seed,
    )
    s.submit_job(
        {"Type": "wasm", "Params": params}, data=inputs or [], wait=wait, id_only=id_only,
        wait_timeout=wait_timeout, dry_run=dry_run, api=api, cpu=cpu,
        memory=_resource_memory(memory), timeout=timeout, queue_timeout=queue_timeout,
        labels=labels or [], constraints=selector or [], name=name, namespace=namespace,
        publisher=publisher.lower(),
        sharding=so.fields_from(locals()),
    )  # fmt: skip


def _resource_memory(memory: str) -> str:
    """The task's memory resource for ``--memory``: what the node reserves for the module."""
    if not memory:
        return ""
    key, value = memory_param(memory)
    return str(value * PAGE if key == "MemoryPages" else value)
