"""Test Docker images, built locally with ``docker import`` (no registry, no network).

``ensure_busybox_image()`` assembles a root filesystem in memory from the host's static busybox
(``busybox-static``): ``/bin/busybox`` plus one symlink per applet (``sh``, ``cat``, ``head``,
``tail``, ``ip``, …), a minimal ``/etc`` and the usual empty directories, then imports it as
``bacalao-test/busybox:latest``. It is built once and reused while its version label matches.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

BUSYBOX_IMAGE = "bacalao-test/busybox:latest"
#: Bump when the image contents change, so stale images from older test runs are rebuilt.
IMAGE_VERSION = "1"
VERSION_LABEL = "bacalao.test-image-version"
_DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "inputs", "outputs", "var/tmp")
_ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n",
}
_lock = threading.Lock()


def find_busybox() -> Path | None:
    """A statically linked busybox on this host, or ``None``."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox")):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def busybox_rootfs_tar(busybox: Path) -> bytes:
    """The image's root filesystem as an uncompressed tar."""
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in _DIRS:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d.endswith("tmp") else 0o755
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in sorted(set(applets) - {"busybox"}):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for name, text in _ETC.items():
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(raw), 0o644
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def ensure_busybox_image(client: Any) -> str:
    """Build ``bacalao-test/busybox:latest`` unless a current one exists; return its tag.

    ``client`` is a ``docker.DockerClient``. Safe to call from several tests (and threads).
    """
    import docker.errors

    with _lock:
        try:
            image = client.images.get(BUSYBOX_IMAGE)
            if (image.labels or {}).get(VERSION_LABEL) == IMAGE_VERSION:
                return BUSYBOX_IMAGE
        except docker.errors.ImageNotFound:
            pass
        busybox = find_busybox()
        if busybox is None:
            raise RuntimeError("busybox not found: install busybox-static (scripts/test-env.sh)")
        repo, tag = BUSYBOX_IMAGE.rsplit(":", 1)
        client.api.import_image_from_data(
            busybox_rootfs_tar(busybox),
            repository=repo,
            tag=tag,
            changes=[
                'CMD ["/bin/sh"]',
                "ENV PATH=/bin",
                f"LABEL {VERSION_LABEL}={IMAGE_VERSION}",
            ],
        )
        return BUSYBOX_IMAGE


def docker_sdk_client() -> Any:
    """A Docker SDK client of the local engine, or an exception saying why there is none.

    With the engine down, the SDK's client fails inside its constructor (it asks for the API
    version) and leaves a socket to the garbage collector, whose ResourceWarning then fails
    whichever test happens to run. So a unix-socket engine is first reached with a plain socket,
    closed either way, and the SDK client is built only once something answers there.
    """
    import socket

    import docker

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(host.removeprefix("unix://"))
    client = docker.from_env()
    try:
        client.ping()
    except Exception:
        client.close()
        raise
    return client
