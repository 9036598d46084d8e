"""The run's private writable layer: copy-on-write overlays of the host's file systems on a tmpfs.

Built by the keeper, which is root in a mount namespace of its own (nothing here is visible on the
host). Every real file system of the host is overlaid read-only-below, writable-above, with the
upper layers on one tmpfs that vanishes with the run: what a step installs or changes is seen by
the later steps of its run, never by the host or by the next run.

Software trees (/usr, /opt and the toolchains a user keeps in HOME: pyenv, nvm, cargo, …) are
overlaid on an *idmapped* view in which root's files belong to the sandbox user, so that
`pip install x` or `npm install -g x` work as they would for a user who owns their toolchain. The
rest of the host (/etc, /var, …) keeps its owners: the sandbox user cannot write there, as on a real
machine, and root-only files (/etc/shadow, host keys) stay unreadable.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

# File systems that are not the host's files: the sandbox gets its own /proc, /dev, /tmp and /run.
VIRTUAL = {"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "mqueue", "securityfs",
           "debugfs", "tracefs", "pstore", "bpf", "fusectl", "configfs", "hugetlbfs", "autofs",
           "binfmt_misc", "efivarfs", "nsfs", "rpc_pipefs", "ramfs", "selinuxfs", "fuse.gvfsd-fuse"}
SKIP_UNDER = ("/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp")

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442  # the same on every architecture
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC, _AT_EMPTY_PATH = 1, os.O_CLOEXEC, 0x1000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_IDMAP, _MOVE_MOUNT_F_EMPTY_PATH = 0x1, 0x00100000, 0x4
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384


def _check(r: int, what: str) -> int:
    if r < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return r


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {fstype or 'bind'} on {target}")


def umount(target: str) -> None:
    """Detach target and every mount below it (MNT_DETACH); no error if nothing is mounted."""
    _libc.umount2(target.encode(), 2)


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def real_mounts(mountinfo: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Mount points of the host's real file systems, parents first (a pure function of mountinfo)."""
    found: dict[str, bool] = {}
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields = head.split()
        if not sep or len(fields) < 5 or not tail.split():
            continue
        point, fstype = _unescape(fields[4]), tail.split()[0]
        found.pop(point, None)  # a later mount on the same point hides the earlier one
        found[point] = fstype not in VIRTUAL
    under = lambda p, roots: any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots)  # noqa: E731
    points = [p for p, real in found.items() if real and p != "/" and not under(p, SKIP_UNDER + skip)]
    return ["/"] + sorted(points, key=lambda p: p.count("/"))


def idmap_userns(uid: int) -> int:
    """A user namespace mapping root (0) to uid, held by an fd: the idmapping of software trees."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child: holds the namespace until its maps are written
        try:
            os.unshare(os.CLONE_NEWUSER)
            os.write(ready_w, b"x")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    try:
        os.read(ready_r, 1)
        for name, text in (("uid_map", f"0 {uid} 1\n"), ("setgroups", "deny"), ("gid_map", f"0 {uid} 1\n")):
            with open(f"/proc/{pid}/{name}", "w") as fo:
                fo.write(text)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.write(done_w, b"x")
        for fd in (ready_r, ready_w, done_r, done_w):
            os.close(fd)
        os.waitpid(pid, 0)


def idmapped_clone(src: str | int, dest: str, userns: int, readonly: bool = False) -> None:
    """Mount a view of src (a path, or an O_PATH descriptor) at dest in which root's files belong
    to the user that userns maps root to."""
    if isinstance(src, int):
        fd = _libc.syscall(_SYS_OPEN_TREE, src, b"", _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | _AT_EMPTY_PATH)
    else:
        fd = _libc.syscall(_SYS_OPEN_TREE, -100, src.encode(), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC)
    fd = _check(fd, f"open_tree {src}")
    try:
        flags = _MOUNT_ATTR_IDMAP | (_MOUNT_ATTR_RDONLY if readonly else 0)
        attr = ctypes.create_string_buffer(struct.pack("QQQQ", flags, 0, 0, userns))
        _check(_libc.syscall(_SYS_MOUNT_SETATTR, fd, b"", _AT_EMPTY_PATH, attr, 32), f"idmapping {src}")
        _check(_libc.syscall(_SYS_MOVE_MOUNT, fd, b"", -100, dest.encode(), _MOVE_MOUNT_F_EMPTY_PATH),
               f"move_mount {dest}")
    finally:
        os.close(fd)


def build(base: Path, uid: int, trees: list[str], skip: tuple[str, ...] = (), userns: int | None = None) -> dict:
    """Mount the layer in base (an empty directory on a tmpfs: the upper layers go there); return
    {"root": merged root, "trees": {tree: its overlay}, "notes": [what could not be made writable]}.
    Raises OSError if even the root overlay fails."""
    root = base / "root"
    root.mkdir(parents=True)
    notes: list[str] = []
    count = 0

    def overlay(lower: str, target: Path) -> None:
        nonlocal count
        count += 1
        upper, work = base / "u" / str(count), base / "w" / str(count)
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        if any(c in lower for c in ",:\\"):
            raise OSError(f"{lower}: path not expressible as an overlay layer")
        mount("egress-overlay", str(target), "overlay", 0,
              f"lowerdir={lower},upperdir={upper},workdir={work}")

    with open("/proc/self/mountinfo") as fo:
        points = real_mounts(fo.read(), skip)
    for point in points:
        target = root / point.lstrip("/")
        if point != "/" and not target.is_dir():
            continue  # a file mount (/etc/hosts in a container): the sandbox plants its own
        try:
            overlay(point, target)
        except OSError as e:
            if point == "/":
                raise
            mount(point, str(target), None, MS_BIND)  # at least read-only, never writable to the host
            mount("none", str(target), None, MS_BIND | MS_REMOUNT | MS_RDONLY)
            notes.append(f"{point} is read-only in the sandbox ({e.strerror or e})")
    out: dict[str, str] = {}
    own = userns is None
    try:
        for tree in trees:
            if not os.path.isdir(tree) or os.path.islink(tree):
                continue
            lower = base / "l" / str(len(out))
            lower.mkdir(parents=True)
            target = base / "t" / str(len(out))
            target.mkdir(parents=True)
            try:
                if userns is None:
                    userns = idmap_userns(uid)
                idmapped_clone(tree, str(lower), userns)
                overlay(str(lower), target)
            except OSError as e:
                notes.append(f"{tree}: not writable for the sandbox user ({e.strerror or e})")
                continue
            out[tree] = str(target)
    finally:
        if own and userns is not None:
            os.close(userns)
    return {"root": str(root), "trees": out, "notes": notes}
