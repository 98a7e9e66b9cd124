"""The wasm engine's params: Bacalhau's shapes, bacalao's limits, clear refusals."""

from __future__ import annotations

import base64

import pytest

from bacalao.errors import InvalidInput
from bacalao.executors.wasm import ModuleRef, WasmExecutor, WasmParams

CID0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
CID1 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def parse(**params: object) -> WasmParams:
    return WasmExecutor().validate({"EntryModule": CID0, **params})


def test_defaults() -> None:
    p = parse()
    assert p.entry_module == ModuleRef(cid=CID0)
    assert p.entrypoint == "_start" and p.parameters == () and p.import_modules == ()
    assert p.deterministic is True and p.seed == 0 and p.fuel is None
    assert p.memory_limit() is None


@pytest.mark.parametrize(
    "value", [CID0, f"ipfs://{CID0}", f"/ipfs/{CID0}", f" {CID0} ", CID1, f"{CID1}/lib/m.wasm"]
)
def test_entry_module_as_cid_text(value: str) -> None:
    ref = WasmExecutor().validate({"EntryModule": value}).entry_module
    assert ref.cid is not None and ref.cid.split("/")[0] in (CID0, CID1)
    assert ref.inline is None and ref.path is None


def test_entry_module_as_path_inside_an_input() -> None:
    assert parse(EntryModule="/inputs/lib/main.wasm").entry_module == ModuleRef(
        path="/inputs/lib/main.wasm"
    )


def test_entry_module_as_input_sources() -> None:
    ipfs = {"Source": {"Type": "ipfs", "Params": {"CID": CID1}}, "Alias": "main"}
    assert parse(EntryModule=ipfs).entry_module == ModuleRef(cid=CID1, alias="main")
    url = "data:application/wasm;base64," + base64.b64encode(b"\0asm").decode()
    inline = {"Source": {"Type": "inline", "Params": {"URL": url}}}
    assert parse(EntryModule=inline).entry_module == ModuleRef(inline=url)


def test_bacalhau_v1_wasm_spec_parses_unchanged() -> None:
    """testdata/jobs/wasm.yaml (v1.4.0): EntryPoint spelling, null fields, empty Target."""
    url = "data:application/wasm;base64,AGFzbQEAAAA="
    params = WasmExecutor().validate(
        {
            "EntryModule": {
                "Alias": "",
                "Source": {"Params": {"URL": url}, "Type": "inline"},
                "Target": "",
            },
            "EntryPoint": "_start",
            "EnvironmentVariables": None,
            "ImportModules": [],
            "Parameters": None,
        }
    )
    assert params.entry_module.inline == url and params.entrypoint == "_start"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("not-a-cid!", "neither a CID nor an absolute path"),
        ("/inputs/../etc/x.wasm", "normalised absolute path"),
        ({"Source": {"Type": "urlDownload", "Params": {"URL": "https://x/m.wasm"}}}, "ipfs"),
        ({"Source": {"Type": "nope"}}, "invalid InputSource"),
        (42, "must be a CID"),
    ],
)
def test_bad_entry_modules_are_refused_with_the_reason(value: object, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        WasmExecutor().validate({"EntryModule": value})
    assert "EntryModule" in err.value.message and words in err.value.message


def test_entry_module_is_required() -> None:
    with pytest.raises(InvalidInput, match="EntryModule: is required"):
        WasmExecutor().validate({})


def test_unknown_key_gets_a_hint() -> None:
    with pytest.raises(InvalidInput) as err:
        parse(Fule=10)
    assert "did you mean 'Fuel'" in (err.value.hint or "")


def test_environment_as_map_or_list_and_reserved_names() -> None:
    assert parse(EnvironmentVariables={"A": "1"}).environment_variables == ("A=1",)
    assert parse(EnvironmentVariables=["A=1", "B=x=y"]).environment_variables == ("A=1", "B=x=y")
    with pytest.raises(InvalidInput, match="reserved"):
        parse(EnvironmentVariables={"BACALAO_X": "1"})
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        parse(EnvironmentVariables=["nope"])


def test_memory_limits() -> None:
    assert parse(MemoryPages=16).memory_limit() == 16 * 65536
    assert parse(MaxMemory="64Mi").memory_limit() == 64 << 20
    assert parse(MaxMemory=1 << 20).memory_limit() == 1 << 20
    for bad in ({"MemoryPages": 0}, {"MemoryPages": 65537}, {"MaxMemory": "5Gi"}):
        with pytest.raises(InvalidInput):
            parse(**bad)


def test_fuel_must_be_positive() -> None:
    assert parse(Fuel=1000).fuel == 1000
    with pytest.raises(InvalidInput, match="Fuel"):
        parse(Fuel=0)


def test_content_refs_name_the_modules_given_by_cid() -> None:
    url = "data:application/wasm;base64,AGFzbQEAAAA="
    refs = WasmExecutor().content_refs(
        {
            "EntryModule": CID0,
            "ImportModules": [
                CID1,
                {"Source": {"Type": "inline", "Params": {"URL": url}}},
                {"Source": {"Type": "ipfs", "Params": {"CID": CID0}}, "Alias": "lib"},
            ],
        }
    )
    assert refs == {"entry": CID0, "import-0": CID1, "import-2": CID0}


def test_content_refs_of_a_path_module_are_empty() -> None:
    assert WasmExecutor().content_refs({"EntryModule": "/inputs/m.wasm"}) == {}


def test_importing_the_engine_does_not_import_wasmtime() -> None:
    import subprocess
    import sys

    code = "import sys, bacalao.executors.wasm; print('wasmtime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
